"""Runs made and read: a draft computed and stored under the year's next id, one run, a page of runs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from services.common import ranges
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.ranges import check_year
from services.common.scheme import Scheme, check_applies_to, load_scheme
from services.common.text import ID_MAX, check_id
from services.common.timeutil import to_epoch
from services.scoring.commands import CreateRun, GetRun, ListRuns
from services.scoring.domain import score
from services.scoring.handlers.computing import cutoff, gather_inputs, in_force
from services.scoring.handlers.context import MAX_PAGE, Context, own_unit
from services.scoring.inputs import calendar_used
from services.scoring.storage import counters
from services.scoring.storage import repository as repo
from services.scoring.task_lines import Part
from services.scoring.views import RunView, audit_target, run_view

# A run met a concurrent writer (the same new scheme stored twice at once): made again, it finds it stored.
ATTEMPTS = 3


@dataclass(frozen=True)
class _Scored:
    """A run computed, before it is stored: its scheme, cutoff, document, input digest and duration."""

    scheme: Scheme
    cutoff: datetime
    document: dict[str, Any]
    parts: list[Part]
    digest: str
    seconds: float


def _score(ctx: Context, command: CreateRun) -> _Scored:
    """The run asked for, computed; an empty year and an applies_to naming nothing known are refused."""
    year = command.year
    check_year(year, optional=False)
    scheme = load_scheme(command.scheme_toml, source="scheme_toml") if command.scheme_toml else ctx.scheme
    if command.supersedes:
        check_id("supersedes", command.supersedes, max_len=ID_MAX)
    at = cutoff(ctx, year=year, as_of=command.as_of, scheme=scheme)
    scheme = in_force(ctx, scheme)
    started = time.perf_counter()
    inputs, digest = gather_inputs(ctx, year=year, as_of=at, scheme=scheme, strict=False, fresh=True)
    assessment = score(inputs, scheme, year=year, as_of=at)
    if not assessment.tasks_counted and not assessment.readings_of_year:
        raise InvalidArgument(
            "year",
            f"{year} 年度没有可考核的内容：截至 {at.isoformat()} 没有计入的任务，也没有该年度的指标值",
        )
    # Only then the scheme's applies_to against the units: an empty year is named as such first.
    check_applies_to(scheme, unit_ids=set(inputs.units.ids), categories=set(inputs.units.categories))
    document = assessment.stored_document()
    # Packed before the transaction: only the inserts wait in it.
    parts = list(assessment.stored_parts())
    return _Scored(scheme, at, document, parts, digest, time.perf_counter() - started)


def _check_supersedes(conn: Connection, *, supersedes: str, year: int) -> None:
    """The run a correction supersedes exists, scores the same year and is not superseded yet."""
    old = repo.get_run(conn, supersedes)
    if old is None:
        raise NotFound(f"考核运行 {supersedes!r} 不存在")
    if old.year != year:
        raise InvalidArgument("supersedes", f"run {supersedes} scores {old.year}, not {year}")
    if old.superseded_by:
        raise FailedPrecondition(f"考核运行 {supersedes} 已由 {old.superseded_by} 更正")


def _store(ctx: Context, conn: Connection, command: CreateRun, run: _Scored) -> str:
    """The draft stored under the year's next id (its scheme kept once); that id."""
    year, scheme, supersedes = command.year, run.scheme, command.supersedes
    stamp = ctx.clock()
    repo.store_scheme(
        conn,
        sha256=scheme.sha256,
        scheme_id=scheme.id,
        name=scheme.name,
        year=scheme.year,
        text=scheme.text,
        now=stamp,
    )
    run_id = counters.next_free(
        conn,
        f"run:{year}",
        name=lambda n: f"{year}-{n:03d}",
        taken=lambda i: repo.get_run(conn, i) is not None,
    )
    calendar = calendar_used(scheme, year=year, as_of=run.cutoff)
    document = {
        "run": run_id,
        "state": "draft",
        **run.document,
        "scheme_sha256": scheme.sha256,
        "calendar": calendar,
    }
    repo.insert_run(
        conn,
        id=run_id,
        state="draft",
        year=year,
        scheme_sha256=scheme.sha256,
        scheme_id=scheme.id,
        as_of=to_epoch(run.cutoff),
        input_digest=run.digest,
        supersedes=supersedes,
        superseded_by="",
        created_at=stamp,
        published_at=None,
        finalized_at=None,
        appeal_deadline=None,
        duration_seconds=run.seconds,
        document=json.dumps(document, ensure_ascii=False),
        version=1,
    )
    repo.insert_run_lines(conn, run_id=run_id, parts=run.parts)
    return run_id


def create_run(ctx: Context, command: CreateRun) -> RunView:
    """A draft run: computed first, then stored in one transaction (a correction marks what it supersedes)."""
    run = _score(ctx, command)

    def work(conn: Connection) -> RunView:
        if command.supersedes:
            _check_supersedes(conn, supersedes=command.supersedes, year=command.year)
        run_id = _store(ctx, conn, command, run)
        if command.supersedes:
            repo.mark_superseded(conn, run_id=command.supersedes, by=run_id)
        ctx.on_run("draft", run.seconds)
        # What a repeated request gets back is kept without the breakdown: at a prefecture's scale
        # that is hundreds of megabytes, read again from the run when it is asked for.
        return stored_run(ctx, conn, run_id, unit="", breakdown=False)

    request = {
        "year": command.year,
        "as_of": command.as_of,
        "scheme": run.scheme.sha256,
        "supersedes": command.supersedes,
    }
    view = ctx.once(command, "CreateRun", request, work, view=RunView, target=audit_target, attempts=ATTEMPTS)
    if not command.breakdown:
        return view
    with ctx.db.read(primary=True) as conn:  # just written
        return stored_run(ctx, conn, view.id, unit="", breakdown=True)


def stored_run(ctx: Context, conn: Connection, run_id: str, *, unit: str, breakdown: bool) -> RunView:
    """A stored run with its document; NotFound when there is none."""
    row = repo.get_run(conn, run_id)
    if row is None:
        raise NotFound(f"考核运行 {run_id!r} 不存在")
    return run_view(
        row,
        ctx.tz,
        unit=unit,
        breakdown=breakdown,
        with_document=True,
        parts=repo.run_line_parts(conn, run_id),
    )


def get_run(ctx: Context, query: GetRun) -> RunView:
    """A run by id, or the year's latest (a department's: the latest publicised); a draft hidden from it."""
    actor, run_id, year = query.actor, query.run_id, query.year
    unit = own_unit(actor, query.unit, "查看别的单位的考核结果")
    check_year(year)
    with ctx.db.read() as conn:
        if not run_id:
            if not year:
                raise InvalidArgument("id", "请给出考核运行编号或年度")
            run_id = repo.latest_run_id(conn, year=year, published_only=actor.is_department)
            if not run_id:
                raise NotFound(f"{year} 年还没有" + ("公示的" if actor.is_department else "") + "考核运行")
        elif year:
            run_year = repo.run_year(conn, run_id)
            if run_year is not None and run_year != year:
                raise InvalidArgument("year", f"考核运行 {run_id} 属于 {run_year} 年，不是 {year} 年")
        view = stored_run(ctx, conn, run_id, unit=unit, breakdown=query.breakdown)
    if actor.is_department and view.state == "draft":
        # A department is told what it would be told of a run that does not exist: that a
        # draft is being prepared is the office's to announce.
        raise NotFound(f"考核运行 {run_id!r} 不存在")
    return view


def list_runs(ctx: Context, query: ListRuns) -> tuple[list[RunView], str]:
    """A page of runs by id (a department's: the publicised and final ones), without their documents."""
    check_year(query.year)
    size = ranges.page_size(query.page_size, default=100, maximum=MAX_PAGE)
    if query.page_token:
        check_id("page_token", query.page_token, max_len=ID_MAX)
    with ctx.db.read() as conn:
        rows = repo.list_runs(
            conn,
            year=query.year,
            published_only=query.actor.is_department,
            after=query.page_token,
            limit=size + 1,
        )
    more = len(rows) > size
    rows = rows[:size]
    views = [run_view(r, ctx.tz, unit="", breakdown=False, with_document=False) for r in rows]
    return views, rows[-1].id if more and rows else ""
