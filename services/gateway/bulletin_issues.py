"""The bulletin's issue numbers (期号), kept in the gateway's database: the year's next, or the office's own.

One number per (year of issue, period): generating the bulletin of a period again in the same year gives
it the number it had (a corrected reprint is the same issue, not a new one); a new period takes the year's
highest number + 1. An explicit number re-numbers the period, unless another period of that year has it.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from sqlalchemy import BigInteger, Column, Connection, Integer, String, Table, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError

from services.bulletin.period import MAX_ISSUE
from services.common.db import Database
from services.common.errors import FailedPrecondition, FieldViolation, InvalidArgument
from services.gateway.accounts.storage import metadata

bulletin_issues = Table(
    "bulletin_issues",
    metadata,
    Column("year", Integer, primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("issue", Integer, nullable=False),
    Column("issued_at", BigInteger, nullable=False),
    UniqueConstraint("year", "issue", name="uq_bulletin_issues_year_issue"),
)


class IssueNumbers(Protocol):
    """Gives a bulletin its 期号."""

    def number(self, *, year: int, period: str, requested: int = 0) -> int:
        """The issue number of the period's bulletin issued in year (requested: the office's own, 0: none)."""


def check_requested(requested: int) -> None:
    """Refuses an issue number that is not 1–9999, naming the field."""
    if requested < 0 or requested > MAX_ISSUE:
        raise InvalidArgument(
            FieldViolation("issue", f"期号应为 1 至 {MAX_ISSUE} 的整数（0 或不填：按年度顺延）")
        )


def _taken(year: int, issue: int, period: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"{year}年第{issue}期已用于 {period} 的督查通报：请另选期号，或不填期号按年度顺延"
    )


class StoredIssueNumbers:
    """Issue numbers in the gateway's database, shared by every gateway process."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def number(self, *, year: int, period: str, requested: int = 0) -> int:
        check_requested(requested)
        # Two processes may number two periods at once: the loser of the (year, issue) race tries again.
        for _ in range(5):
            try:
                with self.db.write() as conn:
                    return self._number(conn, year=year, period=period, requested=requested)
            except IntegrityError:
                continue
        raise FailedPrecondition(f"{year}年的期号正被同时分配，请稍后再试")

    def _number(self, conn: Connection, *, year: int, period: str, requested: int) -> int:
        c = bulletin_issues.c
        mine = conn.execute(select(c.issue).where(c.year == year, c.period == period)).scalar()
        if requested:
            holder = conn.execute(
                select(c.period).where(c.year == year, c.issue == requested, c.period != period)
            ).scalar()
            if holder is not None:
                raise _taken(year, requested, holder)
            issue = requested
        elif mine is not None:
            return int(mine)
        else:
            highest = conn.execute(select(func.max(c.issue)).where(c.year == year)).scalar()
            issue = int(highest or 0) + 1
        if mine is None:
            conn.execute(
                bulletin_issues.insert().values(
                    year=year, period=period, issue=issue, issued_at=int(time.time())
                )
            )
        elif mine != issue:
            conn.execute(
                bulletin_issues.update()
                .where(c.year == year, c.period == period)
                .values(issue=issue, issued_at=int(time.time()))
            )
        return issue


class MemoryIssueNumbers:
    """The same rules in memory, for a gateway started without its database (tests of other parts)."""

    def __init__(self) -> None:
        self._issues: dict[tuple[int, str], int] = {}
        self._lock = threading.Lock()

    def number(self, *, year: int, period: str, requested: int = 0) -> int:
        check_requested(requested)
        with self._lock:
            mine = self._issues.get((year, period))
            if requested:
                for (y, p), n in self._issues.items():
                    if y == year and n == requested and p != period:
                        raise _taken(year, requested, p)
                issue = requested
            elif mine is not None:
                return mine
            else:
                issue = max((n for (y, _), n in self._issues.items() if y == year), default=0) + 1
            self._issues[year, period] = issue
            return issue
