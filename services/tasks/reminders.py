"""The reminders loop (催办) of the tasks service: open tasks checked every interval, each occurrence once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from services.common import calendar as cal
from services.common.timeutil import from_epoch
from services.notify.config import NotifyConfig, Repeat, check_units
from services.notify.cycle import CycleResult, Deliverer, run_cycle
from services.notify.delivery import RetryPolicy, deliver
from services.notify.planner import (
    LEGACY_CHANNEL,
    Key,
    TaskFact,
    Told,
    facts_for_task,
    latest_missed_deadline,
    repeat_after,
)
from services.tasks.progress import REPORTING_KINDS
from services.tasks.storage import repository as repo
from services.tasks.use_cases import MAX_PAGE, TasksApp

log = logging.getLogger("kaohe.tasks.reminders")

# Who a reminder's history entry names as its author.
REMINDER_AUTHOR = "kaohe-notify"
REMIND_KIND = "remind"


class ReminderMetrics:
    """Reminders sent and failed, on the tasks service's /metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            "kaohe_reminders_sent",
            "Reminders (催办) delivered to a webhook, by event and channel format.",
            ["event", "format"],
            registry=registry,
        )
        self.failures = Counter(
            "kaohe_reminder_failures",
            "Reminder deliveries that failed after their retries, by event and channel format.",
            ["event", "format"],
            registry=registry,
        )
        self.checks = Counter(
            "kaohe_reminder_checks", "Checks of the open tasks by the reminders loop.", registry=registry
        )


class ReminderLoop:
    """Checks the open tasks every `interval_seconds` in a thread until stopped."""

    def __init__(
        self,
        app: TasksApp,
        config: NotifyConfig,
        *,
        registry: CollectorRegistry,
        policy: RetryPolicy | None = None,
        send: Deliverer = deliver,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.metrics = ReminderMetrics(registry)
        self.policy = policy
        self.send = send
        self.clock = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_units(self) -> None:
        """Refuses a channel naming a unit or category the ledger does not have (an empty ledger passes)."""
        units = self._units()
        if units:
            check_units(self.config, units={u: category for u, (_, category) in units.items()})

    def start(self) -> None:
        """Starts the loop in a daemon thread; the first check runs at once."""
        self._thread = threading.Thread(target=self._run, name="reminders", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Wakes the loop and waits for it to end its current check."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _pause(self, seconds: float) -> None:
        # A backoff between retries ends early when the service stops.
        self._stop.wait(seconds)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check_once()
            except Exception:
                # A failed check (the database away, say) is tried again at the next interval.
                log.exception("reminder check failed")
            self._stop.wait(self.config.interval_seconds)

    def _units(self) -> dict[str, tuple[str, str]]:
        units: dict[str, tuple[str, str]] = {}
        token = ""
        while True:
            page, token = self.app.list_units(category="", page_size_=MAX_PAGE, page_token=token)
            units.update({unit: (name, category) for unit, name, category in page})
            if not token:
                return units

    def later(self, moment: datetime, repeat: Repeat) -> datetime:
        """When a repeat falls due, on the scheme's working-day calendar."""
        return repeat_after(
            moment, repeat, tz=self.app.tz, add_working_days=self.app.calendar.add_working_days
        )

    def check_once(self) -> CycleResult:
        """One check: send what is due, then record the reminders and the occurrences in one transaction."""
        now = self.clock().astimezone(self.app.tz).replace(microsecond=0)
        units = self._units()
        facts = open_task_facts(self.app, now=now)
        # The primary's, as everything the loop reads: what it recorded last cycle is seen this cycle.
        with self.app.db.read(primary=True) as conn:
            announced = told_of(conn, sorted({f.task for f in facts}), tz=self.app.tz)
        result = run_cycle(
            facts=facts,
            config=self.config,
            categories={u: category for u, (_, category) in units.items()},
            unit_names={u: name for u, (name, _) in units.items()},
            announced=announced,
            now=now,
            tz=self.app.tz,
            policy=self.policy,
            sleep=self._pause,
            send=self.send,
            later=self.later,
        )
        self._record(result)
        self.metrics.checks.inc()
        for sent in result.sent:
            labels = (sent.delivery.fact.event, sent.delivery.channel.format)
            if sent.outcome.delivered:
                self.metrics.sent.labels(*labels).inc()
            elif sent.outcome.attempts:
                self.metrics.failures.labels(*labels).inc()
        return result

    def _record(self, result: CycleResult) -> None:
        """The reminders sent, as events of their tasks, and every occurrence recorded, in one transaction."""
        stamp = int(time.time())
        # A check that sends and records nothing writes nothing: the change sequence (and with it the
        # gateway's cached standing) stays as it was.
        if result.delivered or result.recorded:
            with self.app.db.write() as conn:
                for sent in result.delivered:
                    repo.insert_event(
                        conn,
                        {
                            "task_id": sent.delivery.fact.task,
                            "kind": REMIND_KIND,
                            "at": stamp,
                            "by": REMINDER_AUTHOR,
                            "note": sent.note,
                            "rejected": False,
                            "recorded_at": stamp,
                        },
                    )
                repo.add_reminders(
                    conn,
                    (
                        repo.ReminderRow(
                            task_id=task,
                            event=event,
                            unit_id=unit,
                            channel=row.channel,
                            occurrence=row.occurrence,
                            sent_at=int(row.sent_at.timestamp()),
                            deadline_at=int(row.deadline_at.timestamp()) if row.deadline_at else None,
                        )
                        for (task, event, unit), rows in result.recorded.items()
                        for row in rows
                    ),
                )


def told_of(conn: Any, task_ids: list[str], *, tz: Any) -> dict[Key, list[Told]]:
    """What reminders already told of these tasks, by (task, event, unit)."""
    told: dict[Key, list[Told]] = {}
    for row in repo.reminders_of(conn, task_ids):
        told.setdefault((row.task_id, row.event, row.unit_id), []).append(
            Told(
                channel=row.channel or LEGACY_CHANNEL,
                occurrence=row.occurrence,
                sent_at=from_epoch(row.sent_at, tz),
                deadline_at=from_epoch(row.deadline_at, tz) if row.deadline_at is not None else None,
            )
        )
    return told


def open_task_facts(app: TasksApp, *, now: datetime) -> list[TaskFact]:
    """The yellow, red and missed-progress facts of every open task as of now."""
    with app.db.read(primary=True) as conn:
        rows = repo.open_tasks(conn)
        types = app.scheme.task_types
        owing = [r.id for r in rows if (t := types.get(r.task_type)) is not None and t.progress_every]
        events = repo.events_of(conn, owing) if owing else {}
        people = repo.persons_by_id(conn, {r.responsible for r in rows if r.responsible})
    at = int(now.timestamp())
    facts: list[TaskFact] = []
    for row in rows:
        assert row.assigned_at is not None and row.due_at is not None
        view = app.view(row, at=at)
        task_type = app.scheme.task_types.get(row.task_type)
        missed = None
        if task_type is not None and task_type.progress_every is not None:
            deadlines = cal.progress_deadlines(
                assigned_at=from_epoch(row.assigned_at, app.tz),
                due_at=from_epoch(row.due_at, app.tz),
                every=task_type.progress_every,
                calendar=app.calendar,
                tz=app.tz,
            )
            reports = [from_epoch(e.at, app.tz) for e in events.get(row.id, []) if e.kind in REPORTING_KINDS]
            missed = latest_missed_deadline(deadlines=deadlines, reports=reports, now=now)
        # The 责任人 is of the lead unit (FORMATS.md): a person of another unit is never @-mentioned.
        person = people.get(row.responsible)
        if person is not None and person.unit != row.lead_unit:
            person = None
        facts.extend(
            facts_for_task(
                task=row.id,
                title=row.title,
                lead_unit=row.lead_unit,
                co_units=row.co_units,
                assigned_at=datetime.fromisoformat(view.assigned_at),
                due_at=datetime.fromisoformat(view.due_at),
                colour=view.color,
                missed_progress_at=missed,
                responsible_name=person.name if person else "",
                responsible_mobile=person.mobile if person else "",
            )
        )
    return facts
