"""One check of the reminders loop: plan, render, deliver, and say what to record."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from services.notify.config import NotifyConfig
from services.notify.delivery import Outcome, RetryPolicy, deliver
from services.notify.messages import history_note, render
from services.notify.planner import Delivery, Key, Later, TaskFact, Told, plan, repeat_after, settled_rows


@dataclass(frozen=True)
class Sent:
    """One delivery tried in a check: its outcome and, when delivered, the line for the task's history."""

    delivery: Delivery
    outcome: Outcome
    note: str


@dataclass(frozen=True)
class CycleResult:
    """What a check did: every delivery tried, and the announcements to record, by (task, event, unit)."""

    sent: tuple[Sent, ...]
    recorded: Mapping[Key, Sequence[Told]]

    @property
    def delivered(self) -> tuple[Sent, ...]:
        """The deliveries that got through: each one goes into its task's history."""
        return tuple(s for s in self.sent if s.outcome.delivered)


Deliverer = Callable[..., Outcome]


def run_cycle(
    *,
    facts: Iterable[TaskFact],
    config: NotifyConfig,
    categories: Mapping[str, str],
    unit_names: Mapping[str, str],
    announced: Mapping[Key, Sequence[Told]],
    now: datetime,
    tz: tzinfo | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    send: Deliverer = deliver,
    later: Later = repeat_after,
) -> CycleResult:
    """Sends every reminder due in this check; the caller records `delivered` and `recorded`."""
    deliveries = plan(
        facts=facts,
        categories=categories,
        channels=config.channels,
        announced=announced,
        now=now,
        later=later,
    )
    # A channel that stayed down through all its attempts is not tried again in this check,
    # so one dead webhook does not hold the loop for attempts × deliveries backoffs.
    down: set[int] = set()
    sent: list[Sent] = []
    for delivery in deliveries:
        if delivery.channel_index in down:
            outcome = Outcome(delivered=False, attempts=0, error="channel down in this check")
        else:
            body: dict[str, Any] = render(delivery, unit_names=unit_names, now=now, tz=tz)
            outcome = send(
                url=delivery.channel.url,
                body=body,
                fmt=delivery.channel.format,
                policy=policy,
                sleep=sleep,
                secret=delivery.channel.secret,
            )
            if not outcome.delivered and not outcome.permanent:
                down.add(delivery.channel_index)
        note = history_note(delivery, unit_name=unit_names.get(delivery.unit), outcome=outcome)
        sent.append(Sent(delivery=delivery, outcome=outcome, note=note if outcome.delivered else ""))
    recorded = settled_rows(((s.delivery, s.outcome.delivered, s.outcome.permanent) for s in sent), at=now)
    return CycleResult(sent=tuple(sent), recorded=recorded)
