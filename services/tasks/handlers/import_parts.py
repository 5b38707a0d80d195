"""The ledger import's check of 任务分解 (parts) once its rows are in the real tables: a task reported or
closed only with every part done by then, no unfinished part added under a task already reported or closed."""

from __future__ import annotations

from sqlalchemy import and_, or_, select

from services.tasks.handlers.import_run import ImportRun, line_error
from services.tasks.staging import import_events, import_tasks
from services.tasks.storage.tables import tasks


def check_parts(run: ImportRun) -> None:
    """A report or close in the file on a task with parts: every part reported / closed by then."""
    e, part = import_events.c, tasks.alias("part")
    not_done = or_(
        and_(e.kind == "report", or_(part.c.reported_at.is_(None), part.c.reported_at > e.at)),
        and_(e.kind == "close", or_(part.c.closed_at.is_(None), part.c.closed_at > e.at)),
    )
    query = (
        select(e.line, e.task_id, e.kind, part.c.id)
        .select_from(import_events.join(part, part.c.parent == e.task_id))
        .where(e.kind.in_(("report", "close")), part.c.cancelled_at.is_(None), not_done)
        .order_by(e.line, part.c.id)
        .limit(1)
    )
    row = run.conn.execute(query).first()
    if row is not None:
        done = "反馈" if row.kind == "report" else "销号"
        raise line_error(
            row.line,
            "kind",
            f"任务 {row.task_id!r} 有分解的子任务，子任务 {row.id!r} 此时尚未{done}："
            f"全部子任务{done}后才能{done}",
        )
    # A part added to a task already reported or closed would leave it so without the part done.
    parent = tasks.alias("parent")
    late = or_(
        and_(
            parent.c.reported_at.is_not(None),
            or_(part.c.reported_at.is_(None), part.c.reported_at > parent.c.reported_at),
        ),
        and_(
            parent.c.closed_at.is_not(None),
            or_(part.c.closed_at.is_(None), part.c.closed_at > parent.c.closed_at),
        ),
    )
    query = (
        select(import_tasks.c.line, part.c.id, parent.c.id.label("parent_id"))
        .select_from(
            import_tasks.join(part, part.c.id == import_tasks.c.id).join(parent, parent.c.id == part.c.parent)
        )
        .where(part.c.cancelled_at.is_(None), late)
        .order_by(import_tasks.c.line)
        .limit(1)
    )
    late_part = run.conn.execute(query).first()
    if late_part is not None:
        raise line_error(
            late_part.line,
            "parent",
            f"上级任务 {late_part.parent_id!r} 已反馈或销号，不能再分解出未完成的子任务 {late_part.id!r}",
        )
