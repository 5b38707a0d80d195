"""The result table as the assessment office sends it: an Excel workbook built from a result document."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.xml.functions import tostring

from services.common.vocabulary import GRADES, RUN_STATES, UNIT_CATEGORIES, label_of
from services.common.xlsx import HEADER_ROW, display_width, finish, head
from services.results.breakdown import Line, breakdown_of

__all__ = ["result_to_xlsx"]

SCORE_FORMAT = "0.00"
RANK_FORMAT = "0"
RATIO_FORMAT = "0.00%"

UNIT_HEADERS = (
    "排名",
    "单位代码",
    "单位",
    "等次",
    "总分",
    "时效得分",
    "时效满分",
    "指标得分",
    "指标满分",
    "基础分(百分制)",
    "激励加分",
    "差错扣分",
    "问责扣分",
    "一票否决",
    "备注",
)
LINE_HEADERS = ("单位代码", "单位", "类别", "编号", "日期", "事项", "分值", "备注")
TASK_HEADERS = (
    "单位代码",
    "单位",
    "任务编号",
    "角色",
    "优先级",
    "权重",
    "应办结时间",
    "反馈时间",
    "逾期工作日",
    "时效系数",
    "得分",
    "失分",
    "备注",
)
METRIC_HEADERS = ("单位代码", "单位", "指标代码", "指标", "值", "目标", "状态", "得分", "满分")

_FALLBACK_TIME = datetime(2000, 1, 1)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_BAD_SHEET_CHARS = str.maketrans({c: "_" for c in "[]:*?/\\"})


@dataclass(frozen=True)
class _Cell:
    """A value with its number format (None: General)."""

    value: Any
    number_format: str | None = None


def result_to_xlsx(document: Mapping[str, Any]) -> bytes:
    """A result document's workbook: 说明, a sheet per unit category, 加减分明细, 时效明细, 指标明细."""
    units: list[Mapping[str, Any]] = list(document.get("units") or [])
    categories = _categories(units)
    wb = Workbook()
    info = wb.active
    info.title = "说明"
    heading = f"{document.get('year', '')} 年度考核结果".strip()
    _fill(info, ("项目", "内容"), _info_rows(document, categories, units), f"{heading}：说明")

    taken = {"说明", "加减分明细", "时效明细", "指标明细"}
    ordered: list[Mapping[str, Any]] = []
    for category in categories:
        members = sorted((u for u in units if u.get("category") == category), key=_rank_key)
        ordered.extend(members)
        ws = wb.create_sheet(_sheet_title(label_of(UNIT_CATEGORIES, category), taken))
        _fill(ws, UNIT_HEADERS, (_unit_row(u) for u in members), f"{heading}：{ws.title}")

    for title, headers, rows in (
        ("加减分明细", LINE_HEADERS, (row for u in ordered for row in _lines(u))),
        ("时效明细", TASK_HEADERS, (row for u in ordered for row in _task_rows(u))),
        ("指标明细", METRIC_HEADERS, (row for u in ordered for row in _metric_rows(u))),
    ):
        _fill(wb.create_sheet(title), headers, rows, f"{heading}：{title}")

    fixed = _fixed_time(document.get("as_of"))
    props = wb.properties
    props.creator = "Kaohe 考核"
    props.lastModifiedBy = "Kaohe 考核"
    interim = "（期中）" if document.get("interim") else ""
    props.title = f"{document.get('scheme', '')} {document.get('year', '')} 年度考核结果{interim}".strip()
    props.created = fixed
    props.modified = fixed
    buf = io.BytesIO()
    wb.save(buf)
    # openpyxl stamps "modified" with the clock on save and the zip entries with the local time;
    # both are reset so that the same document always gives the same bytes.
    props.modified = fixed
    return _normalised_zip(buf.getvalue(), {"docProps/core.xml": tostring(props.to_tree())})


# --- sheets -----------------------------------------------------------------------------------


def _categories(units: Iterable[Mapping[str, Any]]) -> list[str]:
    present = {str(u.get("category", "")) for u in units}
    known = [c for c in UNIT_CATEGORIES if c in present]
    return known + sorted(present - set(known))


def _rank_key(unit: Mapping[str, Any]) -> tuple[int, int, str]:
    rank = unit.get("rank")
    return (
        (0, int(rank), str(unit.get("unit", "")))
        if isinstance(rank, int | float)
        else (1, 0, str(unit.get("unit")))
    )


def _sheet_title(name: str, taken: set[str]) -> str:
    base = (name.translate(_BAD_SHEET_CHARS).strip("'") or "其他")[:31]
    title, n = base, 2
    while title in taken:
        suffix = f"_{n}"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(title)
    return title


def _info_rows(
    document: Mapping[str, Any], categories: Sequence[str], units: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    state = str(document.get("state", ""))
    warnings = [w if isinstance(w, str) else str(w) for w in document.get("calendar_warnings") or []]
    counts = "，".join(
        f"{label_of(UNIT_CATEGORIES, c)} {sum(1 for u in units if u.get('category') == c)} 个"
        for c in categories
    )
    return [
        ("考核方案", document.get("scheme", "")),
        ("方案SHA-256", document.get("scheme_sha256", "")),
        ("考核年度", _Cell(document.get("year"), RANK_FORMAT)),
        ("截止时间", document.get("as_of", "")),
        (
            "期中",
            "是：截止时间在年度结束之前，只计已到期的任务；期中结果可以公示，不能定档"
            if document.get("interim")
            else "否",
        ),
        ("运行编号", document.get("run", "")),
        ("状态", label_of(RUN_STATES, state)),
        ("日历提示", "；".join(warnings) if warnings else "无"),
        ("参评单位", counts or "无"),
        ("总分计算", "总分 = 基础分(百分制) + 激励加分 − 差错扣分 − 问责扣分，最低为0"),
        (
            "基础分计算",
            "基础分 = 100 × (时效得分 + 指标得分) ÷ (时效满分 + 指标满分)；无考核事项的单位计100分",
        ),
        ("等次", "优秀、良好、一般、较差；被一票否决的单位定为较差，排在未被否决的单位之后"),
    ]


def _score(value: Any) -> _Cell:
    return _Cell(
        value if isinstance(value, int | float) and not isinstance(value, bool) else None, SCORE_FORMAT
    )


def _unit_row(u: Mapping[str, Any]) -> tuple[Any, ...]:
    grade = str(u.get("grade", ""))
    notes = []
    if u.get("nothing_assessed"):
        notes.append("未承担考核事项，基础分按100分计")
    if u.get("veto"):
        notes.append("一票否决")
    rank = u.get("rank")
    return (
        _Cell(rank if isinstance(rank, int | float) else None, RANK_FORMAT),
        u.get("unit", ""),
        u.get("name", ""),
        label_of(GRADES, grade),
        _score(u.get("total")),
        _score(u.get("timeliness_earned")),
        _score(u.get("timeliness_max")),
        _score(u.get("metrics_earned")),
        _score(u.get("metrics_max")),
        _score(u.get("base")),
        _score(u.get("bonus")),
        _score(u.get("error_deduction")),
        _score(u.get("accountability_deduction")),
        "是" if u.get("veto") else "否",
        "；".join(notes),
    )


def _signed(points: Any, sign: int) -> _Cell:
    if not isinstance(points, int | float) or isinstance(points, bool):
        return _Cell(None, SCORE_FORMAT)
    value = sign * float(points)
    return _Cell(value if value else 0.0, SCORE_FORMAT)  # no "-0.00" in the sheet


def _lines(u: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Every bonus and deduction of a unit: bonuses positive, deductions negative, 容错 as notes."""
    rows = breakdown_of(u)
    head = (rows.unit, rows.name)
    return [
        (*head, line.label, line.id, line.date, line.what, _line_points(line), line.note)
        for line in rows.lines
    ]


def _line_points(line: Line) -> _Cell:
    return _Cell(None, SCORE_FORMAT) if line.points is None else _signed(line.points, line.sign)


def _task_rows(u: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Every counted task of a unit: its earned and lost points, adding up to 时效得分 and 时效满分."""
    return [
        (
            u.get("unit", ""),
            u.get("name", ""),
            t.task,
            t.role_label,
            t.priority_label,
            _Cell(t.weight, "0.00"),
            t.due_at or "",
            t.reported_at or "",
            _Cell(t.late_working_days, RANK_FORMAT),
            _Cell(float(t.credit or 0.0), "0.00"),
            _score(float(t.points or 0.0)),
            _score(t.lost),
            t.note,
        )
        for t in breakdown_of(u).tasks
    ]


def _metric_rows(u: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for m in breakdown_of(u).metrics:
        number_format = RATIO_FORMAT if m.kind == "ratio" else None
        rows.append(
            (
                u.get("unit", ""),
                u.get("name", ""),
                m.metric,
                m.name,
                _Cell(m.value if isinstance(m.value, int | float) else None, number_format),
                _Cell(m.target if isinstance(m.target, int | float) else None, number_format),
                m.status_label,
                _score(m.earned),
                _score(m.max),
            )
        )
    return rows


# --- writing ----------------------------------------------------------------------------------


def _display_width(value: Any, number_format: str | None) -> int:
    if value is None:
        return 0
    if isinstance(value, float) or number_format in (SCORE_FORMAT, RATIO_FORMAT):
        return len(f"{float(value):.2f}" + ("%" if number_format == RATIO_FORMAT else ""))
    return display_width(value)


def _fill(ws: Any, headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str) -> None:
    """Title row, header row (bold, frozen, printed on every page), then rows; numbers stay numbers."""
    widths = [_display_width(h, None) for h in headers]
    head(ws, title, headers)
    for r, row in enumerate(rows, start=HEADER_ROW + 1):
        for c, item in enumerate(row, start=1):
            cell_value = item.value if isinstance(item, _Cell) else item
            number_format = item.number_format if isinstance(item, _Cell) else None
            cell = ws.cell(row=r, column=c, value=cell_value)
            if number_format and cell_value is not None:
                cell.number_format = number_format
            widths[c - 1] = max(widths[c - 1], _display_width(cell_value, number_format))
    finish(ws, widths, autofilter=ws.max_row > HEADER_ROW)


def _fixed_time(as_of: Any) -> datetime:
    """The workbook's time stamps: the run's cutoff in UTC, so that the bytes depend on the document alone."""
    if isinstance(as_of, str):
        try:
            moment = datetime.fromisoformat(as_of)
        except ValueError:
            return _FALLBACK_TIME
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return moment.replace(microsecond=0)
    return _FALLBACK_TIME


def _normalised_zip(data: bytes, replace: Mapping[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, replace.get(info.filename, src.read(info.filename)))
    return out.getvalue()
