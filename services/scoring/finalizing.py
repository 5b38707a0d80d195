"""What holds a run back from 定档 in the ledger (SCORING.md §9): interim, unverified or rejected reports."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np

from services.common.packed import Strings
from services.common.scheme import Scheme
from services.common.timeutil import NO_TIME, to_epoch
from services.scoring.inputs import TasksPort, longest_limit_seconds
from services.scoring.task_ids import TaskIds
from services.scoring.task_lines import KEY, PartReader, counted_reports

# Tasks named in a refusal; the rest are counted.
NAMED = 20


def interim_refusal(*, run_id: str, year: int, as_of: int, scheme: Scheme) -> str:
    """Why an interim run (as_of before the year's last second) is not finalised; empty when it is not one."""
    year_end = to_epoch(datetime(year, 12, 31, 23, 59, 59, tzinfo=scheme.tz))
    if as_of >= year_end:
        return ""
    cutoff = datetime.fromtimestamp(as_of, scheme.tz).isoformat()
    return (
        f"考核运行 {run_id} 是期中考核（截至 {cutoff}）：期中结果可以公示，不能定档；"
        f"定档请在年度结束后计算全年的考核"
    )


def ledger_refusal(
    tasks: TasksPort, *, run_id: str, year: int, as_of: int, scheme: Scheme, document: str, parts: PartReader
) -> str:
    """Why the ledger as it stands now holds the run back, in Chinese; empty when nothing does.

    Each counted task's report that counted must still be the one that counts at the run's as_of (else a
    report it counted was rejected since: make a new run), and must have a verify (核查) after it.
    """
    block = json.loads(document).get(KEY)
    if not block:
        return ""
    counted = {task: at for task, at in counted_reports(block, parts) if at != NO_TIME}
    if not counted:
        return ""
    start = to_epoch(datetime(year, 1, 1, tzinfo=scheme.tz))
    end = to_epoch(datetime(year + 1, 1, 1, tzinfo=scheme.tz))
    # Every task the run may have counted, whatever scheme computed its due instant.
    columns = tasks.facts(
        due_from=start,
        due_before=end,
        as_of=as_of,
        assigned_from=start - longest_limit_seconds(scheme),
        assigned_before=end,
    )
    now = _by_task(columns)
    changed = sorted(t for t, at in counted.items() if now.get(t, (NO_TIME, False))[0] != at)
    if changed:
        return (
            f"考核运行 {run_id} 计算之后台账已变化：{_named(changed)} 计入的反馈已被退回"
            f"（或已不是计入的反馈）；请重新计算（kaohe assess run）后再定档"
        )
    unverified = sorted(t for t in counted if not now[t][1])
    if unverified:
        return (
            f"考核运行 {run_id} 不能定档：{_named(unverified)} 计入的反馈尚未核查（verify）；"
            f"督查室核查后再定档"
        )
    return ""


def _by_task(columns: dict[str, Any]) -> dict[str, tuple[int, bool]]:
    """task → (the report that counts, whether it is verified), from fact columns (one per task)."""
    task = columns["task_id"]
    ids = task.decode() if isinstance(task, Strings | TaskIds) else np.asarray(task, dtype=object)
    reported = np.asarray(columns["reported_at"]).tolist()
    verified = np.asarray(columns["verified"], dtype=bool).tolist()
    return {str(t): (r, v) for t, r, v in zip(ids.tolist(), reported, verified, strict=True)}


def _named(tasks: list[str]) -> str:
    shown = "、".join(tasks[:NAMED])
    return f"任务 {shown}" + (f" 等 {len(tasks)} 项" if len(tasks) > NAMED else f"（{len(tasks)} 项）")
