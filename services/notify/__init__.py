"""Reminders (催办): yellow, red and missed-progress tasks POSTed to webhooks, per (task, event, unit, n).

How the pieces are wired: `kaohe serve --notify FILE.toml` reads the file once with
`config.load_notify_config` (failing fast, then `config.check_units` against the ledger's units)
and runs one loop in a process that may read the tasks database. Every `interval_seconds` the loop
takes the open tasks as of now, turns each into facts with `planner.facts_for_task` (its colour
from `calendar.colour`, its latest missed progress deadline from `planner.latest_missed_deadline`
over `calendar.progress_deadlines` and the progress/report instants), loads what was told so far
(per (task, event, unit): which channel, which occurrence, when, for which deadline), and calls
`cycle.run_cycle`, which plans (`planner.plan`: occurrence 1, then a red task again every channel's
`repeat`, the escalate channels once the unit was told `escalate_after` times), renders
(`messages.render`) and POSTs with retries (`delivery.deliver`, signing DingTalk requests that have a
`secret`). In one transaction the loop then appends each `CycleResult.delivered` entry's `note` to its
task's history and records `CycleResult.recorded`, so an occurrence goes out once per channel across
restarts; a delivery that failed for a passing reason is not recorded and is tried at the next check.
"""
