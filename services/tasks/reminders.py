"""The reminders loop (催办) of the tasks service: open tasks checked every interval, each key sent once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter

from services.notify.config import NotifyConfig, check_units
from services.notify.cycle import CycleResult, Deliverer, run_cycle
from services.notify.delivery import RetryPolicy, deliver
from services.notify.planner import TaskFact, facts_for_task
from services.tasks.progress import REPORTING_KINDS, progress_due
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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.app = app
        self.config = config
        self.metrics = ReminderMetrics(registry)
        self.policy = policy
        self.send = send
        self.clock = clock
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

    def check_once(self) -> CycleResult:
        """One check: send what is due, then record the reminders and the settled keys in one transaction."""
        now = self.clock().astimezone(self.app.tz).replace(microsecond=0)
        units = self._units()
        with self.app.db.read() as conn:
            announced = repo.reminder_keys(conn)
        result = run_cycle(
            facts=open_task_facts(self.app, now=now),
            config=self.config,
            categories={u: category for u, (_, category) in units.items()},
            unit_names={u: name for u, (name, _) in units.items()},
            announced=announced,
            now=now,
            tz=self.app.tz,
            policy=self.policy,
            sleep=self._pause,
            send=self.send,
        )
        stamp = int(time.time())
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
            repo.add_reminder_keys(conn, result.settled, at=stamp)
        self.metrics.checks.inc()
        for sent in result.sent:
            labels = (sent.delivery.fact.event, sent.delivery.channel.format)
            if sent.outcome.delivered:
                self.metrics.sent.labels(*labels).inc()
            elif sent.outcome.attempts:
                self.metrics.failures.labels(*labels).inc()
        return result


def open_task_facts(app: TasksApp, *, now: datetime) -> list[TaskFact]:
    """The yellow, red and missed-progress facts of every open task as of now."""
    with app.db.read() as conn:
        rows = repo.open_tasks(conn)
        types = app.scheme.task_types
        owing = [r.id for r in rows if (t := types.get(r.task_type)) is not None and t.progress_every]
        events = repo.events_of(conn, owing) if owing else {}
    at = int(now.timestamp())
    facts: list[TaskFact] = []
    for row in rows:
        assert row.assigned_at is not None and row.due_at is not None
        view = app.view(row, at=at)
        task_type = app.scheme.task_types.get(row.task_type)
        missed = None
        if task_type is not None and task_type.progress_every is not None:
            missed = progress_due(
                assigned_at=row.assigned_at,
                due_at=row.due_at,
                every=task_type.progress_every,
                reported=(e.at for e in events.get(row.id, []) if e.kind in REPORTING_KINDS),
                now=now,
                calendar=app.calendar,
                tz=app.tz,
            ).overdue_since
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
            )
        )
    return facts
