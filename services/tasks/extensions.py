"""延期申请: a lead unit asks in advance for a later due instant; the office approves or refuses (宁强 5).

An approval is the task's `extend` event (SCORING.md §2), written in the decision's own transaction; the
request keeps who filed and who decided it, when and why, which is the timeline both sides see.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from services.common import ranges
from services.common.auth import Identity
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, StaleEtag
from services.common.idempotency import idempotent
from services.common.text import NOTE_MAX, check_id, check_text
from services.common.timeutil import from_epoch, iso, to_epoch
from services.common.vocabulary import EXTENSION_DECISIONS, EXTENSION_STATES, code_of
from services.tasks.domain import Kind, State, check_actor, check_extend
from services.tasks.storage import extensions as store
from services.tasks.storage import repository as repo
from services.tasks.storage.tables import requests

if TYPE_CHECKING:
    from services.tasks.use_cases import TasksApp

MAX_PAGE = 1000
# Extension request ids are made here (YQ2026-001) or given by the caller: a plain, URL-safe alphabet.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DATE = re.compile(
    r"^\s*(\d{4})\s*(?:[-/.年])\s*(\d{1,2})\s*(?:[-/.月])\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|T|\s*)(\d{1,2})\s*[:：时点]\s*(?:(\d{1,2})\s*分?)?\s*(?:[:：]\s*(\d{1,2})\s*秒?)?)?\s*$"
)
_ALIASES = {"approve": "approved", "refuse": "refused", "同意": "approved", "不同意": "refused"}
EXAMPLE = "2026-12-20、2026-12-20 18:00、2026年12月20日18时 或 2026-12-20T18:00:00+08:00"


def parse_due(text: str, *, tz: tzinfo, field_name: str = "due_at") -> datetime:
    """A due instant as people write it: a day (its 23:59:59, as a computed due is), or a day and a time.

    Local times are in the scheme's zone; an ISO 8601 time with an offset is taken as it is.
    """
    text = (text or "").strip()
    if not text:
        raise InvalidArgument(field_name, f"请填写办结时限，如 {EXAMPLE}")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is not None and len(text) > 10:
        moment = parsed
    else:
        found = _DATE.match(text)
        if found is None:
            raise InvalidArgument(field_name, f"“{text}”不是可识别的时间；请写成 {EXAMPLE}")
        year, month, day, hour, minute, second = (int(g) if g else None for g in found.groups())
        assert year is not None and month is not None and day is not None
        try:
            if hour is None:
                moment = datetime(year, month, day, 23, 59, 59, tzinfo=tz)
            else:
                moment = datetime(year, month, day, hour, minute or 0, second or 0, tzinfo=tz)
        except ValueError:
            raise InvalidArgument(field_name, f"“{text}”不是有效的日期或时间") from None
    if not ranges.YEAR_MIN <= moment.year <= ranges.YEAR_MAX:
        raise InvalidArgument(field_name, f"“{text}”不在 {ranges.YEAR_MIN}–{ranges.YEAR_MAX} 年之间")
    return moment


def people_time(seconds: int | None, tz: tzinfo) -> str:
    """2026-12-20 18:00, as a person writes an instant; empty for none."""
    return "" if seconds is None else f"{from_epoch(seconds, tz):%Y-%m-%d %H:%M}"


@dataclass
class ExtensionView:
    """A request as both sides see it: what was asked, what became of it, and its timeline."""

    id: str
    task_id: str
    task_title: str
    unit: str
    reason: str
    asked_due: str
    due_before: str
    state: str
    state_label: str
    granted_due: str
    decision_reason: str
    filed_at: str
    decided_at: str
    etag: str
    timeline: list[dict[str, str]] = field(default_factory=list)


def _view(row: Any, tz: tzinfo) -> ExtensionView:
    timeline = [
        {
            "event": "filed",
            "at": iso(row.filed_at, tz),
            "actor": row.filed_by,
            "actor_role": row.filed_role,
            "actor_unit": row.filed_unit,
            "outcome": "",
            "reason": row.reason,
            "due_at": iso(row.asked_due, tz),
        }
    ]
    if row.decided_at is not None:
        timeline.append(
            {
                "event": "decided",
                "at": iso(row.decided_at, tz),
                "actor": row.decided_by,
                "actor_role": row.decided_role,
                "actor_unit": row.decided_unit,
                "outcome": row.state,
                "reason": row.decision_reason,
                "due_at": iso(row.granted_due, tz),
            }
        )
    return ExtensionView(
        id=row.id,
        task_id=row.task_id,
        task_title=row.task_title,
        unit=row.unit,
        reason=row.reason,
        asked_due=iso(row.asked_due, tz),
        due_before=iso(row.due_before, tz),
        state=row.state,
        state_label=EXTENSION_STATES.get(row.state, row.state),
        granted_due=iso(row.granted_due, tz),
        decision_reason=row.decision_reason,
        filed_at=iso(row.filed_at, tz),
        decided_at=iso(row.decided_at, tz),
        etag=f'"{row.version}"',
        timeline=timeline,
    )


class ExtensionDesk:
    """Filing, deciding and listing extension requests, over the tasks service's database."""

    def __init__(self, app: TasksApp, clock: Callable[[], int] | None = None) -> None:
        self.app = app
        self.clock = clock or (lambda: int(time.time()))

    @property
    def tz(self) -> tzinfo:
        return self.app.tz

    # ---- filing

    def file(
        self, *, actor: Identity, request_id: str, ext_id: str, task_id: str, due_at: str, reason: str
    ) -> ExtensionView:
        """A pending request of the task's lead unit, while the task is open and before its due instant."""
        if actor.role not in ("department", "office"):
            raise PermissionDenied(f"角色 {actor.role} 不能申请延期：由牵头单位申请，考核办可代为登记")
        if not task_id:
            raise InvalidArgument("task_id", "请指明申请延期的任务编号")
        check_id("task_id", task_id)
        if ext_id and not ID_PATTERN.match(ext_id):
            raise InvalidArgument("id", "申请编号只能由字母、数字和 . _ - 组成，至多 64 个字符")
        asked = parse_due(due_at, tz=self.tz)
        if not reason.strip():
            raise InvalidArgument("reason", "延期申请须写明不能按时完成的原因和进展情况")
        check_text("reason", reason, max_len=NOTE_MAX, allow_newlines=True)

        def work(conn: Connection) -> ExtensionView:
            repo.lock_task(conn, task_id)
            row = repo.get_task(conn, task_id)
            if row is None or (
                actor.is_department and actor.unit != row.lead_unit and actor.unit not in row.co_units
            ):
                # Another unit's task is, to a department, one that does not exist (as GetTask answers).
                raise NotFound(f"任务 {task_id!r} 不存在")
            if actor.is_department and actor.unit != row.lead_unit:
                raise PermissionDenied(f"任务 {task_id} 由 {row.lead_unit} 牵头：延期由牵头单位申请")
            now = self.clock()
            check_extend(
                state=State(row.state),
                due_in_force=from_epoch(row.due_at, self.tz) if row.due_at is not None else None,
                new_due=asked,
                at=from_epoch(now, self.tz),
            )
            waiting = store.pending_for(conn, task_id)
            if waiting:
                raise FailedPrecondition(f"任务 {task_id} 的延期申请 {waiting} 尚待审批，不能重复申请")
            new_id = ext_id or self._next_id(conn, now)
            if store.get_request(conn, new_id) is not None:
                raise InvalidArgument("id", f"延期申请 {new_id} 已存在")
            assert row.due_at is not None  # check_extend refuses a task without one
            store.insert_request(
                conn,
                request_id=new_id,
                task_id=task_id,
                unit=row.lead_unit,
                reason=reason.strip(),
                asked_due=to_epoch(asked),
                due_before=row.due_at,
                actor=actor,
                at=now,
            )
            return self._get(conn, new_id)

        request = {"id": ext_id, "task_id": task_id, "due_at": due_at, "reason": reason}
        return self._once(actor, request_id, "FileExtension", request, work)

    def _next_id(self, conn: Connection, now: int) -> str:
        prefix = f"YQ{from_epoch(now, self.tz).year}-"
        n = store.count_filed(conn, prefix=prefix) + 1
        while store.get_request(conn, f"{prefix}{n:03d}") is not None:
            n += 1
        return f"{prefix}{n:03d}"

    # ---- deciding

    def decide(
        self, *, actor: Identity, request_id: str, ext_id: str, decision: str, due_at: str, reason: str
    ) -> ExtensionView:
        """The office's decision; an approval records the `extend` event with the granted due instant."""
        if not ext_id:
            raise InvalidArgument("id", "请指明延期申请编号")
        if not ID_PATTERN.match(ext_id):
            raise InvalidArgument("id", "申请编号只能由字母、数字和 . _ - 组成，至多 64 个字符")
        said = decision.strip()
        code = (
            _ALIASES.get(said) or code_of(EXTENSION_DECISIONS, said) or code_of(EXTENSION_STATES, said) or ""
        )
        if code not in EXTENSION_DECISIONS:
            raise InvalidArgument("decision", "须为 approved（批准）或 refused（不予批准）")
        granted = parse_due(due_at, tz=self.tz) if due_at.strip() else None
        if code == "refused" and granted is not None:
            raise InvalidArgument("due_at", "不予批准时不填新的办结时限")
        if code == "refused" and not reason.strip():
            raise InvalidArgument("reason", "不予批准须写明理由")
        check_text("reason", reason, max_len=NOTE_MAX, allow_newlines=True)

        def work(conn: Connection) -> ExtensionView:
            # Read behind the lock: a decision made meanwhile is seen as made, not decided over again.
            store.lock_request(conn, ext_id)
            row = store.get_request(conn, ext_id)
            if row is None:
                raise NotFound(f"延期申请 {ext_id} 不存在")
            if row.state != "pending":
                if row.state == code:
                    return _view(row, self.tz)
                raise FailedPrecondition(f"延期申请 {ext_id} 已审批：{EXTENSION_STATES[row.state]}")
            now = self.clock()
            new_due = None
            if code == "approved":
                new_due = to_epoch(granted) if granted is not None else row.asked_due
                self._extend(conn, actor=actor, row=row, new_due=new_due, now=now, note=reason.strip())
            if not store.decide_request(
                conn,
                request_id=ext_id,
                version=row.version,
                state=code,
                granted_due=new_due,
                reason=reason.strip(),
                actor=actor,
                at=now,
            ):
                raise StaleEtag(f"延期申请 {ext_id} 刚被他人审批，请刷新后查看")
            return self._get(conn, ext_id)

        request = {"id": ext_id, "decision": code, "due_at": due_at, "reason": reason}
        return self._once(actor, request_id, "DecideExtension", request, work)

    def _extend(
        self, conn: Connection, *, actor: Identity, row: Any, new_due: int, now: int, note: str
    ) -> None:
        """The task's `extend` event and its new due instant, as the closed loop records one (office only).

        The same step the tasks service's "record an event" takes for kind extend; kept here so that it
        runs in the decision's transaction.
        """
        repo.lock_task(conn, row.task_id)
        task = repo.get_task(conn, row.task_id)
        if task is None:
            raise NotFound(f"任务 {row.task_id!r} 不存在")
        check_actor(
            Kind.EXTEND, role=actor.role, unit=actor.unit or None, lead_unit=task.lead_unit, co_units=()
        )
        stored = repo.events_of(conn, [task.id]).get(task.id, [])
        # An event recorded in the same second as the last one still comes after it.
        at = max(now, max((e.at for e in stored), default=now))
        check_extend(
            state=State(task.state),
            due_in_force=from_epoch(task.due_at, self.tz) if task.due_at is not None else None,
            new_due=from_epoch(new_due, self.tz),
            at=from_epoch(at, self.tz),
        )
        text = f"延期至 {people_time(new_due, self.tz)}（延期申请 {row.id}）" + (f"：{note}" if note else "")
        store.insert_extend_event(
            conn, task_id=task.id, at=at, by=actor.subject, note=text, due_at=new_due, recorded_at=now
        )
        # From now on the due instant is the extension's, no longer a computed one (SCORING.md §2).
        values = {"due_at": new_due, "due_given": True, "updated_at": now}
        if not repo.update_task(conn, task.id, expected_version=task.version, values=values):
            raise StaleEtag(f"任务 {task.id} 刚被他人改动，请刷新后再审批")

    # ---- reading

    def list_requests(
        self,
        *,
        actor: Identity,
        unit: str,
        state: str,
        task_id: str,
        year: int,
        page_size: int,
        page_token: str,
    ) -> tuple[list[ExtensionView], str]:
        """Requests in the order filed; a department's own unit's only."""
        if actor.is_department:
            if unit and unit != actor.unit:
                raise PermissionDenied(f"单位 {actor.unit} 不能查看单位 {unit} 的延期申请")
            unit = actor.unit
        elif unit:
            check_id("unit", unit)
        if state:
            state = code_of(EXTENSION_STATES, state.strip()) or state
            if state not in EXTENSION_STATES:
                raise InvalidArgument(
                    "state", "须为 pending（待审批）、approved（已批准）或 refused（不予批准）"
                )
        if task_id:
            check_id("task_id", task_id)
        ranges.check_year(year)
        filed_from = filed_before = None
        if year:
            filed_from = to_epoch(datetime(year, 1, 1, tzinfo=self.tz))
            filed_before = to_epoch(datetime(year + 1, 1, 1, tzinfo=self.tz))
        size = ranges.page_size(page_size, default=200, maximum=MAX_PAGE)
        after = ranges.seq_token(page_token)
        with self.app.db.read() as conn:
            rows = store.list_requests(
                conn,
                unit=unit,
                state=state,
                task_id=task_id,
                filed_from=filed_from,
                filed_before=filed_before,
                after=after,
                limit=size + 1,
            )
        more = len(rows) > size
        rows = rows[:size]
        return [_view(r, self.tz) for r in rows], str(rows[-1].seq) if more and rows else ""

    # ---- plumbing

    def _get(self, conn: Connection, ext_id: str) -> ExtensionView:
        row = store.get_request(conn, ext_id)
        assert row is not None
        return _view(row, self.tz)

    def _once(
        self,
        actor: Identity,
        request_id: str,
        method: str,
        request: dict[str, Any],
        work: Callable[[Connection], ExtensionView],
    ) -> ExtensionView:
        """work once per caller, method and request id, audited in its transaction."""
        audited = self.app.audit.audited(
            work, actor=actor, method=method, target=lambda v: f"extension={v.id}"
        )
        for attempt in range(3):
            try:
                result: ExtensionView = idempotent(
                    self.app.db,
                    requests,
                    caller=actor,
                    method=method,
                    request_id=request_id,
                    request=request,
                    work=audited,
                    encode=lambda v: json.dumps(asdict(v), ensure_ascii=False).encode(),
                    decode=lambda b: ExtensionView(**json.loads(b)),
                )
                return result
            except IntegrityError:
                # Two requests given the same next id at once: the later one takes the one after.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
