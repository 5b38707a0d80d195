"""Reminders (催办): yellow, red and missed-progress tasks POSTed to webhooks, once per (task, event, unit).

How the pieces are wired: `kaohe serve --notify FILE.toml` reads the file once with
`config.load_notify_config` (failing fast, then `config.check_units` against the ledger's units)
and runs one loop in a process that may read the tasks database. Every `interval_seconds` the loop
takes the open tasks as of now, turns each into facts with `planner.facts_for_task` (its colour
from `calendar.colour`, its missed progress deadline from `planner.missed_progress_deadline` over
`calendar.progress_deadlines` and the last progress/report instant), loads the persisted set of
announced (task, event, unit) keys, and calls `cycle.run_cycle`, which plans (`planner.plan`),
renders (`messages.render`) and POSTs with retries (`delivery.deliver`). In one transaction the
loop then appends each `CycleResult.delivered` entry's `note` to its task's history and adds
`CycleResult.settled` to the announced set, so a reminder goes out once per key across restarts;
keys whose every delivery failed for a passing reason stay open and are tried at the next check.
"""
