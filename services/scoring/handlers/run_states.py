"""A run's states after its draft: publicised (公示) with its appeal window, then final (定档)."""

from __future__ import annotations

from datetime import datetime
from datetime import time as dtime
from typing import Any

from sqlalchemy import Connection

from services.common.errors import FailedPrecondition, NotFound, StaleEtag
from services.common.timeutil import from_epoch, iso, to_epoch
from services.common.vocabulary import RUN_STATES, label_of
from services.scoring import finalizing
from services.scoring.commands import FinalizeRun, PublishRun
from services.scoring.handlers.context import Context
from services.scoring.handlers.runs import stored_run
from services.scoring.handlers.windows import holds
from services.scoring.storage import repository as repo
from services.scoring.views import RunView, audit_target


def _locked(conn: Connection, run_id: str, etag: str) -> Any:
    """The run at etag (any version without one); NotFound, or StaleEtag when it changed since."""
    row = repo.get_run(conn, run_id)
    if row is None:
        raise NotFound(f"考核运行 {run_id!r} 不存在")
    if etag and etag != f'"{row.version}"':
        raise StaleEtag(f"考核运行 {run_id} 自 etag {etag} 以来已被改动")
    return row


def _transition(conn: Connection, row: Any, **values: Any) -> None:
    if not repo.transition(conn, run_id=row.id, version=row.version, values=values):
        raise StaleEtag(f"考核运行 {row.id} 同时被他人改动")


def publish_run(ctx: Context, command: PublishRun) -> RunView:
    """A draft publicised (公示): its appeal window opens; what was published for the year is superseded."""
    run_id, etag = command.run_id, command.etag
    # The appeal window counts working days under the holiday notices too; asked before the transaction.
    notices = ctx.tasks.notices()

    def work(conn: Connection) -> RunView:
        row = _locked(conn, run_id, etag)
        if row.state != "draft":
            raise FailedPrecondition(
                f"考核运行 {run_id} 现为{label_of(RUN_STATES, row.state)}：只有草稿可以公示"
            )
        if row.superseded_by:
            raise FailedPrecondition(f"考核运行 {run_id} 已由 {row.superseded_by} 更正")
        now = ctx.clock()
        scheme = ctx.scheme_by_sha(row.scheme_sha256).with_notices(notices)
        today = from_epoch(now, scheme.tz).date()
        if scheme.appeal_window_working_days:
            last_day = scheme.calendar().add_working_days(today, scheme.appeal_window_working_days)
            deadline = to_epoch(datetime.combine(last_day, dtime(23, 59, 59), tzinfo=scheme.tz))
        else:
            # 0: no window (FORMATS.md [runs]): closed the second before publication, so appeals are
            # refused at once and finalize is not held, even within the same second.
            deadline = now - 1
        # Publishing a correction replaces what was published for the year before it: the earlier
        # publicised or final run is marked superseded (its numbers stay as they were).
        earlier = repo.published_of_year(conn, year=row.year, other_than=row.id)
        if earlier:
            repo.supersede_all(conn, run_ids=earlier, by=row.id)
        values: dict[str, Any] = {"supersedes": row.supersedes or earlier[-1]} if earlier else {}
        _transition(conn, row, state="publicised", published_at=now, appeal_deadline=deadline, **values)
        ctx.on_run("publicised", 0.0)
        return stored_run(ctx, conn, run_id, unit="", breakdown=False)

    request = {"id": run_id, "etag": etag}
    return ctx.once(command, "PublishRun", request, work, view=RunView, target=audit_target)


def _finalize_refusal(ctx: Context, conn: Connection, row: Any, now: int) -> str:
    """Why the run cannot be final (定档) yet, empty when it can; the tasks service asked last."""
    run_id = row.id
    if row.state != "publicised":
        return f"考核运行 {run_id} 现为{label_of(RUN_STATES, row.state)}：只有公示中的考核运行可以定档"
    if row.superseded_by:
        return f"考核运行 {run_id} 已由 {row.superseded_by} 更正：请对后者定档"
    scheme = ctx.scheme_by_sha(row.scheme_sha256)
    interim = finalizing.interim_refusal(run_id=run_id, year=row.year, as_of=row.as_of, scheme=scheme)
    if interim:
        return interim
    # Appeals on this year's records and applications nobody has decided hold the run back ...
    held = holds(conn, year=row.year)
    if held:
        return f"考核运行 {run_id} 还不能定档：{held}"
    # ... and so does the appeal window itself, while departments may still appeal.
    if row.appeal_deadline is not None and now <= row.appeal_deadline:
        return f"考核运行 {run_id} 在公示申诉期结束（{iso(row.appeal_deadline, ctx.tz)}）之前不能定档"
    # Last, as it asks the tasks service: every report that counted verified, none rejected since.
    return finalizing.ledger_refusal(
        ctx.tasks,
        run_id=run_id,
        year=row.year,
        as_of=row.as_of,
        scheme=scheme,
        document=row.document,
        parts=repo.run_line_parts(conn, run_id),
    )


def finalize_run(ctx: Context, command: FinalizeRun) -> RunView:
    """A publicised run made final (定档) once nothing holds it back."""
    run_id, etag = command.run_id, command.etag

    def work(conn: Connection) -> RunView:
        row = _locked(conn, run_id, etag)
        now = ctx.clock()
        refusal = _finalize_refusal(ctx, conn, row, now)
        if refusal:
            raise FailedPrecondition(refusal)
        _transition(conn, row, state="final", finalized_at=now)
        ctx.on_run("final", 0.0)
        return stored_run(ctx, conn, run_id, unit="", breakdown=False)

    request = {"id": run_id, "etag": etag}
    return ctx.once(command, "FinalizeRun", request, work, view=RunView, target=audit_target)
