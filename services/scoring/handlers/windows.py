"""Appeal windows and what holds 定档 back: the workflow rules the handlers share."""

from __future__ import annotations

from sqlalchemy import Connection

from services.common.auth import Identity
from services.common.errors import FailedPrecondition, PermissionDenied
from services.scoring.handlers.context import Context
from services.scoring.storage import repository as repo
from services.scoring.storage import workflow as flow
from services.scoring.views import local_time


def window_refusal(ctx: Context, conn: Connection, *, year: int, appeal: bool) -> str:
    """Why the year takes no appeal (appeal) or application now, in Chinese; empty when it does.

    Applications are open until the year is final (定档) and, once a run is publicised, until its
    appeal window closes; appeals only inside the 公示 appeal window.
    """
    what = "申诉" if appeal else "容错申请"
    now, tz = ctx.clock(), ctx.tz
    for run in flow.current_runs(conn, year=year):
        if run.state == "final":
            return f"{year} 年度考核已定档（{run.id}），{what}已关闭"
        if run.appeal_deadline is not None and now > run.appeal_deadline:
            closed = local_time(run.appeal_deadline, tz)
            return f"{year} 年度考核结果（{run.id}）的公示申诉期已于 {closed} 截止，{what}已关闭"
        if run.appeal_deadline is None and appeal:
            # appeal_window_working_days = 0: the scheme gives no 公示 appeal window at all.
            return f"{year} 年度考核结果（{run.id}）的公示不设申诉期（方案 appeal_window_working_days = 0）"
        return ""
    if appeal:
        return f"{year} 年度考核结果尚未公示：申诉只在公示申诉期内受理"
    return ""


def check_appeal(ctx: Context, conn: Connection, *, actor: Identity, unit: str, year: int) -> None:
    """A department appeals only its own unit's records, only inside the 公示 appeal window."""
    if not actor.is_department:
        return
    if unit != actor.unit:
        # Refused without naming the unit the record concerns.
        raise PermissionDenied(f"单位 {actor.unit} 只能对本单位的记录申诉")
    refusal = window_refusal(ctx, conn, year=year, appeal=True)
    if refusal:
        raise FailedPrecondition(refusal)


def holds(conn: Connection, *, year: int) -> str:
    """What holds the year's 定档 back: undecided appeals and pending applications; empty for nothing."""
    parts = []
    undecided = repo.undecided_appeals(conn, year=year)
    if undecided:
        parts.append("申诉待裁决：" + "、".join(undecided))
    pending = flow.pending_applications(conn, year=year)
    if pending:
        parts.append("容错申请待裁决：" + "、".join(pending))
    return "；".join(parts)
