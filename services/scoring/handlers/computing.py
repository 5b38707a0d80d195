"""Computing an assessment: the cutoff, the scheme in force, the inputs gathered, a preview stored nowhere."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.common.errors import InvalidArgument
from services.common.policy import reach
from services.common.ranges import check_year
from services.common.scheme import Scheme
from services.common.timeutil import from_epoch
from services.scoring import domain, views
from services.scoring.commands import Preview
from services.scoring.handlers.context import Context
from services.scoring.inputs import default_as_of, gather, parse_cutoff
from services.scoring.storage import repository as repo


def cutoff(ctx: Context, *, year: int, as_of: str, scheme: Scheme) -> datetime:
    """The run's as_of: as given, else the earlier of the year's end and now; a year not begun and an
    as_of later than now are refused — nobody is scored on what has not happened (SCORING.md)."""
    now = from_epoch(ctx.clock(), scheme.tz)
    if now < datetime(year, 1, 1, tzinfo=scheme.tz):
        raise InvalidArgument(
            "year", f"{year} 年度尚未开始（现在是 {now.isoformat()}）：不能考核尚未发生的事"
        )
    if not as_of:
        return min(now, default_as_of(year, scheme))
    found = parse_cutoff(as_of, scheme)
    if found > now:
        raise InvalidArgument(
            "as_of",
            f"考核时点 {found.isoformat()} 晚于现在（{now.isoformat()}）：不能考核尚未发生的事",
        )
    return found


def in_force(ctx: Context, scheme: Scheme) -> Scheme:
    """scheme under the holiday notices imported into the ledger (SCORING.md §1)."""
    return scheme.with_notices(ctx.tasks.notices())


def gather_inputs(
    ctx: Context, *, year: int, as_of: datetime, scheme: Scheme, strict: bool, fresh: bool = False
) -> tuple[domain.Inputs, str]:
    """Every input of an assessment of year as of as_of under scheme, and their digest.

    fresh: the records as the primary holds them (a run to be stored); else where reads go (a preview).
    The tasks' facts are fresh either way: this service asks for them as itself (read_routing.py).
    """

    def stored() -> list[Any]:
        with ctx.db.read(primary=fresh) as conn:
            return repo.scoring_records(conn)

    return gather(ctx.tasks, stored, scheme=scheme, served=ctx.scheme, year=year, as_of=as_of, strict=strict)


def compute(
    ctx: Context, *, year: int, as_of: datetime, scheme: Scheme, strict: bool = True
) -> tuple[domain.Assessment, str]:
    """The assessment and its input digest (strict: an applies_to naming nothing known is refused)."""
    scheme = in_force(ctx, scheme)
    inputs, digest = gather_inputs(ctx, year=year, as_of=as_of, scheme=scheme, strict=strict)
    return domain.score(inputs, scheme, year=year, as_of=as_of), digest


def preview(ctx: Context, query: Preview) -> dict[str, Any]:
    """A draft computation as of now (or as_of), stored nowhere."""
    actor = query.actor
    # A 乡镇's account previews its 村's lines too, as it reads their tasks (the tasks service's units).
    units = reach(actor, query.unit, ctx.tasks.below(actor.unit) if actor.is_department else (), "预估考核")
    check_year(query.year)
    now = from_epoch(ctx.clock(), ctx.tz)
    year = query.year or now.year
    at = cutoff(ctx, year=year, as_of=query.as_of, scheme=ctx.scheme)
    assessment, _ = compute(ctx, year=year, as_of=at, scheme=ctx.scheme, strict=False)
    document = assessment.document(include_breakdown=True)
    return views.lines_of(document, units) if units else document
