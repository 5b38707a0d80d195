"""The holiday notices the office imports, the calendar in force, and the computed due instants it moves."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.common import calendar as cal
from services.common.auth import Identity
from services.common.errors import InvalidArgument
from services.common.holiday_notice import HolidayNotice, parse_notice
from services.common.ranges import check_year
from services.common.scheme import Scheme
from services.common.timeutil import from_epoch, iso, to_epoch
from services.tasks.domain import OPEN_STATES
from services.tasks.storage import notices as store

if TYPE_CHECKING:
    from services.tasks.use_cases import TasksApp

log = logging.getLogger("kaohe.tasks.calendar")

# The history entry of a computed due instant that moved (a note, no step of the closed loop).
DUE_MOVE_KIND = "due_move"
# Who a move's history entry names as its author.
CALENDAR_AUTHOR = "kaohe-calendar"
# A notice is a page or two; anything far larger is not one.
NOTICE_MAX_CHARS = 20_000


@dataclass(frozen=True)
class NoticeImported:
    year: int
    holidays: list[str]
    workdays: list[str]
    replaced: bool
    unchanged: bool
    moved: int
    sha256: str


@dataclass(frozen=True)
class CalendarYear:
    year: int
    source: str
    holidays: list[str]
    workdays: list[str]
    notice_sha256: str


def notices_from(rows: list[store.NoticeRow]) -> dict[int, HolidayNotice]:
    """The stored notices by year."""
    return {row.year: HolidayNotice.from_canonical(row.canonical) for row in rows}


def covered(calendar: cal.WorkCalendar, year: int) -> bool:
    """Whether a notice or the statutory calendar decides the year (not the scheme's dates, nor Mon–Fri)."""
    return calendar.source(year) in ("notice", "statutory")


class HolidayDesk:
    """Imports notices, answers the calendar in force, and keeps computed due instants under it."""

    def __init__(self, app: TasksApp) -> None:
        self.app = app
        self._applying = threading.Lock()

    def start(self) -> int:
        """At start-up: the stored notices applied, and the computed dues of open tasks moved to the
        calendar and limits of the scheme now served; how many moved."""
        scheme = self._apply_stored()
        # Looked at first without a write: most starts move nothing, and a write would bump the change
        # sequence that the gateway's caches are kept under.
        with self.app.db.read(primary=True) as conn:
            if not self._moves(conn, scheme, lock=False):
                return 0
        with self.app.db.write() as conn:
            moved = self._redue(conn, scheme, why=f"考核方案变更（{scheme.id}）")
        if moved:
            log.info("computed due instants moved to the scheme in force", extra={"moved": moved})
        return moved

    def import_notice(self, *, actor: Identity, text: str, year: int) -> NoticeImported:
        """The notice in text stored for its year (the year's one replaced) and applied: one transaction."""
        if len(text) > NOTICE_MAX_CHARS:
            raise InvalidArgument("text", f"超过 {NOTICE_MAX_CHARS} 字，不像一份节假日通知")
        if "\x00" in text:
            raise InvalidArgument("text", "含有空字符（NUL），不是文本")
        check_year(year)
        notice = parse_notice(text, year=year)
        holidays = sorted(notice.holidays)
        workdays = sorted(notice.workdays)

        def work(conn: Any) -> NoticeImported:
            # One import at a time: each moves dues under every notice stored, the other's included.
            store.lock_notices(conn)
            rows = store.notices(conn)
            previous = next((r for r in rows if r.year == notice.year), None)
            stored = notices_from(rows)
            scheme = self.app.scheme.with_notices({**stored, notice.year: notice})
            unchanged = previous is not None and previous.sha256 == notice.sha256
            moved = 0
            if not unchanged:
                store.replace_notice(
                    conn,
                    year=notice.year,
                    text=text,
                    canonical=notice.canonical(),
                    sha256=notice.sha256,
                    at=int(time.time()),
                    by=actor.subject,
                )
                moved = self._redue(conn, scheme, why=f"国务院节假日通知（{notice.year}年）导入")
            return NoticeImported(
                year=notice.year,
                holidays=[d.isoformat() for d in holidays],
                workdays=[d.isoformat() for d in workdays],
                replaced=previous is not None and not unchanged,
                unchanged=unchanged,
                moved=moved,
                sha256=notice.sha256,
            )

        audited = self.app.audit.audited(
            work, actor=actor, method="ImportHolidayNotice", target=lambda r: f"year={r.year}"
        )
        with self.app.db.write() as conn:
            result = audited(conn)
        # Only once committed (a refused or failed import leaves the calendar as it was), and read back:
        # of two imports committed one after the other, the calendar served holds both.
        self._apply_stored()
        return result

    def _apply_stored(self) -> Scheme:
        """The scheme served, under the notices stored now."""
        with self._applying:
            with self.app.db.read(primary=True) as conn:
                stored = notices_from(store.notices(conn))
            scheme = self.app.scheme.with_notices(stored)
            self.app.use_scheme(scheme)
            return scheme

    def calendar_year(self, year: int) -> CalendarYear:
        """The year's calendar in force and where it comes from."""
        check_year(year, optional=False)
        calendar = self.app.calendar
        holidays, workdays = calendar.year_days(year)
        notice = calendar.notices.get(year)
        return CalendarYear(
            year=year,
            source=calendar.source(year),
            holidays=[d.isoformat() for d in holidays],
            workdays=[d.isoformat() for d in workdays],
            notice_sha256=notice.sha256 if notice else "",
        )

    def notices(self) -> list[store.NoticeRow]:
        # The primary's: runs are computed under the notices committed so far.
        with self.app.db.read(primary=True) as conn:
            return store.notices(conn)

    def _moves(self, conn: Any, scheme: Scheme, *, lock: bool) -> list[tuple[store.ComputedDue, int]]:
        """Each open task whose computed due instant scheme puts elsewhere, with the instant it puts it at."""
        calendar = scheme.calendar()
        tz = scheme.tz
        moves = []
        by_day: dict[tuple[str, object], int] = {}
        open_states = sorted(s.value for s in OPEN_STATES)
        for row in store.open_computed_dues(conn, open_states=open_states, lock=lock):
            spec = scheme.task_types.get(row.task_type)
            if spec is None:
                # A task type the scheme dropped: its due stays as computed, as scoring reports it.
                continue
            start = from_epoch(row.assigned_at, tz)
            key = (row.task_type, start if spec.limit.unit in ("minutes", "hours") else start.date())
            if key not in by_day:
                computed = cal.due_at(assigned_at=start, limit=spec.limit, calendar=calendar, tz=tz)
                by_day[key] = to_epoch(computed)
            if by_day[key] != row.due_at:
                moves.append((row, by_day[key]))
        return moves

    def _redue(self, conn: Any, scheme: Scheme, *, why: str) -> int:
        """Moves every open task's computed due instant to the one scheme computes; how many moved."""
        now = int(time.time())
        moves = self._moves(conn, scheme, lock=True)
        for row, due in moves:
            note = f"办理期限由 {_shown(row.due_at, scheme.tz)} 调整为 {_shown(due, scheme.tz)}：{why}"
            store.move_due(conn, row, to=due, at=now, by=CALENDAR_AUTHOR, kind=DUE_MOVE_KIND, note=note)
        return len(moves)


def _shown(epoch: int, tz: Any) -> str:
    return iso(epoch, tz).replace("T", " ")[:19]
