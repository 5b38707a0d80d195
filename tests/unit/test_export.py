"""The Excel export of a result document: sheets, headers, numbers as numbers, lines that add up."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from services.gateway.export import LINE_HEADERS, METRIC_HEADERS, UNIT_HEADERS, result_to_xlsx

SCORE_COLUMNS = (
    "总分",
    "时效得分",
    "时效满分",
    "指标得分",
    "指标满分",
    "基础分(百分制)",
    "激励加分",
    "差错扣分",
    "问责扣分",
)


def _metric(
    metric: str, status: str, value: float | None, earned: float, mx: float, kind: str = "ratio"
) -> dict[str, Any]:
    return {
        "metric": metric,
        "name": {"court_appearance_rate": "行政机关负责人出庭应诉率"}.get(metric, metric),
        "kind": kind,
        "rule": "threshold",
        "direction": "min",
        "value": value,
        "target": 1.0 if kind == "ratio" else 60,
        "status": status,
        "earned": earned,
        "max": mx,
    }


def _unit(
    unit: str,
    name: str,
    category: str,
    *,
    rank: int,
    grade: str,
    timeliness: tuple[float, float] = (30.0, 40.0),
    metrics: list[dict[str, Any]] | None = None,
    errors: list[dict[str, Any]] | None = None,
    incentives: list[dict[str, Any]] | None = None,
    accountability: list[dict[str, Any]] | None = None,
    tasks: list[dict[str, Any]] | None = None,
    caps: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A unit whose numbers follow SCORING.md §6–§8 from its breakdown, as the scoring service gives it."""
    metrics = metrics or []
    errors, incentives, accountability = errors or [], incentives or [], accountability or []
    caps = caps or {}
    m_earned = sum(m["earned"] for m in metrics if m["status"] != "not_applicable")
    m_max = sum(m["max"] for m in metrics if m["status"] != "not_applicable")
    top = timeliness[1] + m_max
    base = 100.0 * (timeliness[0] + m_earned) / top if top else 100.0

    def capped(lines: list[dict[str, Any]], key: str) -> float:
        total = sum(x["points"] for x in lines)
        return float(min(total, caps[key]["cap"]) if key in caps else total)

    bonus, err, acc = (
        capped(incentives, "incentives"),
        capped(errors, "errors"),
        capped(accountability, "accountability"),
    )
    total = float(Decimal(max(0.0, base + bonus - err - acc)).quantize(Decimal("0.01"), ROUND_HALF_UP))
    return {
        "unit": unit,
        "name": name,
        "category": category,
        "timeliness_earned": timeliness[0],
        "timeliness_max": timeliness[1],
        "metrics_earned": m_earned,
        "metrics_max": m_max,
        "base": base,
        "bonus": bonus,
        "error_deduction": err,
        "accountability_deduction": acc,
        "veto": any(a["veto"] for a in accountability),
        "total": total,
        "rank": rank,
        "grade": grade,
        "nothing_assessed": top == 0,
        "breakdown": {
            "tasks": tasks or [],
            "metrics": metrics,
            "errors": errors,
            "incentives": incentives,
            "accountability": accountability,
            "caps": caps,
        },
    }


def _document(state: str = "publicised") -> dict[str, Any]:
    czj = _unit(
        "czj",
        "财政局",
        "department",
        rank=1,
        grade="excellent",
        timeliness=(38.0, 40.0),
        metrics=[
            _metric("court_appearance_rate", "met", 1.0, 20.0, 20.0),
            _metric("field_research_days", "met", 62, 10.0, 10.0, kind="value"),
        ],
        errors=[
            {
                "id": "E2",
                "date": "2026-05-01",
                "category": "meeting",
                "severity": "serious",
                "voided": True,
                "deduction": 1.0,
                "tolerance": None,
                "points": 0.0,
            },
            {
                "id": "E1",
                "date": "2026-04-01",
                "category": "drafting",
                "severity": "general",
                "voided": False,
                "deduction": 0.5,
                "tolerance": {"id": "R1", "decision": "mitigate"},
                "points": 0.25,
            },
        ],
        incentives=[
            {"id": "I1", "date": "2026-09-01", "level": "national", "points": 3.0},
            {"id": "I2", "date": "2026-10-01", "level": "provincial", "points": 2.0},
            {"id": "I3", "date": "2026-11-01", "level": "provincial", "points": 2.0},
        ],
        caps={
            "errors": {"sum": 0.25, "cap": 10.0, "applied": False},
            "incentives": {"sum": 7.0, "cap": 5.0, "applied": True},
            "accountability": {"sum": 0.0, "cap": 15.0, "applied": False},
        },
    )
    fgj = _unit(
        "fgj",
        "发改局",
        "department",
        rank=2,
        grade="good",
        timeliness=(33.6, 40.0),
        metrics=[
            _metric("court_appearance_rate", "below", 0.8, 0.0, 20.0),
            _metric("livelihood_spending_share", "not_applicable", None, 0.0, 20.0),
            _metric("field_research_days", "missing", None, 0.0, 10.0, kind="value"),
        ],
        errors=[
            {
                "id": "E3",
                "date": "2026-06-01",
                "category": "implementation",
                "severity": "grave",
                "voided": False,
                "deduction": 2.0,
                "tolerance": {"id": "R2", "decision": "exempt"},
                "points": 0.0,
            }
        ],
        incentives=[{"id": "I4", "date": "2026-03-01", "level": "county", "points": 0.5}],
        accountability=[
            {"id": "A1", "date": "2026-07-01", "kind": "interview", "veto": False, "points": 1.0}
        ],
        tasks=[
            {
                "task": "T1",
                "role": "lead",
                "priority": "normal",
                "weight": 1.0,
                "due_at": "2026-05-12T23:59:59+08:00",
                "reported_at": "2026-05-14T10:00:00+08:00",
                "late_working_days": 2,
                "credit": 1.0,
                "tolerance": {"id": "R3", "decision": "exempt"},
                "points": 8.0,
            },
            {
                "task": "T2",
                "role": "co",
                "priority": "important",
                "weight": 1.0,
                "due_at": "2026-06-12T23:59:59+08:00",
                "reported_at": None,
                "late_working_days": None,
                "credit": 0.0,
                "tolerance": None,
                "points": 0.0,
            },
        ],
    )
    jyj = _unit(
        "jyj",
        "教育局",
        "department",
        rank=3,
        grade="poor",
        timeliness=(0.0, 0.0),
        metrics=[_metric("court_appearance_rate", "met", 1.0, 20.0, 20.0)],
        accountability=[
            {"id": "A2", "date": "2026-09-10", "kind": "disciplinary", "veto": True, "points": 5.0}
        ],
    )
    cgz = _unit("cgz", "城关镇", "township", rank=1, grade="excellent", timeliness=(40.0, 40.0))
    mxz = _unit("mxz", "芒辛镇", "township", rank=2, grade="excellent", timeliness=(0.0, 0.0))
    jdb = _unit("jdb", "解放街道", "street", rank=1, grade="fair", timeliness=(26.0, 40.0))
    return {
        "run": "run-2026-0007",
        "state": state,
        "year": 2026,
        "scheme": "default-2026",
        "scheme_sha256": "ab" * 32,
        "as_of": "2026-12-31T23:59:59+08:00",
        "calendar_warnings": ["2027: no statutory holiday data, Monday to Friday assumed"],
        # Out of rank order on purpose: the sheets sort.
        "units": [fgj, cgz, jyj, jdb, czj, mxz],
    }


@pytest.fixture(scope="module")
def workbook() -> Any:
    return load_workbook(io.BytesIO(result_to_xlsx(_document())))


def _rows(ws: Any) -> list[dict[str, Any]]:
    headers = [c.value for c in ws[2]]
    return [dict(zip(headers, (c.value for c in row), strict=True)) for row in ws.iter_rows(min_row=3)]


def test_sheets_in_order(workbook: Any) -> None:
    assert workbook.sheetnames == ["说明", "部门", "乡镇", "street", "加减分明细", "时效明细", "指标明细"]


@pytest.mark.parametrize(
    ("sheet", "headers"),
    [
        ("部门", UNIT_HEADERS),
        ("乡镇", UNIT_HEADERS),
        ("street", UNIT_HEADERS),
        ("加减分明细", LINE_HEADERS),
        ("指标明细", METRIC_HEADERS),
        ("说明", ("项目", "内容")),
    ],
)
def test_bold_frozen_chinese_headers(workbook: Any, sheet: str, headers: tuple[str, ...]) -> None:
    ws = workbook[sheet]
    assert tuple(c.value for c in ws[2]) == headers
    assert all(c.font.bold for c in ws[2])
    assert ws.freeze_panes == "A3"
    for c in range(1, len(headers) + 1):
        assert ws.column_dimensions[ws.cell(row=2, column=c).column_letter].width >= 8


def test_every_sheet_has_a_title_row_and_prints_on_a4_landscape_one_page_wide(workbook: Any) -> None:
    for ws in workbook.worksheets:
        assert "2026 年度考核结果" in ws["A1"].value and ws["A1"].font.bold, ws.title
        assert ws.print_title_rows == "$1:$2", ws.title
        assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9  # A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)


def test_priorities_are_written_in_chinese(workbook: Any) -> None:
    priorities = {row["优先级"] for row in _rows(workbook["时效明细"])}
    assert priorities and priorities <= {"一般", "重要", "紧急"}


def test_unit_headers_are_the_office_columns() -> None:
    assert UNIT_HEADERS[:14] == (
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
    )


def test_category_sheets_sorted_by_rank_with_the_documents_numbers(workbook: Any) -> None:
    document = {u["unit"]: u for u in _document()["units"]}
    departments = _rows(workbook["部门"])
    assert [r["单位代码"] for r in departments] == ["czj", "fgj", "jyj"]
    assert [r["排名"] for r in departments] == [1, 2, 3]
    assert [r["等次"] for r in departments] == ["优秀", "良好", "较差"]
    assert [r["一票否决"] for r in departments] == ["否", "否", "是"]
    assert [r["单位代码"] for r in _rows(workbook["乡镇"])] == ["cgz", "mxz"]
    for sheet in ("部门", "乡镇", "street"):
        for row in _rows(workbook[sheet]):
            u = document[row["单位代码"]]
            assert row["单位"] == u["name"]
            assert row["总分"] == u["total"]
            assert row["基础分(百分制)"] == pytest.approx(u["base"])
            assert row["激励加分"] == u["bonus"]
            assert row["差错扣分"] == u["error_deduction"]
            assert row["问责扣分"] == u["accountability_deduction"]
            assert row["时效得分"] == u["timeliness_earned"] and row["指标满分"] == u["metrics_max"]
    assert "100" in _rows(workbook["乡镇"])[1]["备注"]  # 芒辛镇: nothing assessed


def test_numbers_are_numbers_with_two_decimals(workbook: Any) -> None:
    ws = workbook["部门"]
    headers = [c.value for c in ws[2]]
    for row in ws.iter_rows(min_row=3):
        for header, cell in zip(headers, row, strict=True):
            if header in SCORE_COLUMNS:
                assert isinstance(cell.value, int | float) and not isinstance(cell.value, bool), (
                    header,
                    cell.value,
                )
                assert cell.number_format == "0.00"
            if header == "排名":
                assert isinstance(cell.value, int)


def test_every_bonus_and_deduction_line_adds_up_to_the_totals(workbook: Any) -> None:
    lines = _rows(workbook["加减分明细"])
    for u in _document()["units"]:
        mine = [r for r in lines if r["单位代码"] == u["unit"]]
        net = sum(r["分值"] for r in mine if r["分值"] is not None)
        assert net == pytest.approx(u["bonus"] - u["error_deduction"] - u["accountability_deduction"]), u[
            "unit"
        ]
        assert all(r["单位"] == u["name"] for r in mine)
    assert {r["类别"] for r in lines} == {"差错通报", "激励", "问责", "容错"}
    by_id = {r["编号"]: r for r in lines if r["编号"]}
    assert by_id["E2"]["分值"] == 0 and by_id["E2"]["备注"] == "申诉成立已撤销"
    assert by_id["E1"]["分值"] == -0.25 and "容错减轻" in by_id["E1"]["备注"] and "0.5" in by_id["E1"]["备注"]
    assert by_id["E3"]["分值"] == 0 and "容错免责" in by_id["E3"]["备注"]
    assert by_id["I1"]["分值"] == 3.0 and by_id["I1"]["事项"] == "激励（国家级）"
    assert by_id["A1"]["分值"] == -1.0 and by_id["A1"]["事项"] == "问责（约谈）"
    assert by_id["A2"]["备注"] == "一票否决"
    assert by_id["R3"]["类别"] == "容错" and by_id["R3"]["分值"] is None and "T1" in by_id["R3"]["事项"]
    assert by_id["R2"]["类别"] == "容错" and "E3" in by_id["R2"]["事项"]
    capped = [r for r in lines if r["单位代码"] == "czj" and r["类别"] == "激励" and not r["编号"]]
    assert len(capped) == 1 and capped[0]["分值"] == -2.0 and "上限5" in capped[0]["备注"]
    czj = [r["编号"] for r in lines if r["单位代码"] == "czj" and r["类别"] == "差错通报"]
    assert czj == ["E1", "E2"]  # by date


def test_metric_detail(workbook: Any) -> None:
    rows = _rows(workbook["指标明细"])
    assert len(rows) == sum(len(u["breakdown"]["metrics"]) for u in _document()["units"])
    assert {r["状态"] for r in rows} == {"达标", "未达标", "缺报", "不适用"}
    fgj = {r["指标代码"]: r for r in rows if r["单位代码"] == "fgj"}
    assert fgj["court_appearance_rate"]["指标"] == "行政机关负责人出庭应诉率"
    assert fgj["court_appearance_rate"]["值"] == 0.8 and fgj["court_appearance_rate"]["满分"] == 20.0
    assert fgj["field_research_days"]["值"] is None and fgj["field_research_days"]["得分"] == 0.0
    ws = workbook["指标明细"]
    value_column = METRIC_HEADERS.index("值") + 1
    formats = {ws.cell(row=r, column=value_column).number_format for r in range(2, ws.max_row + 1)}
    assert "0.00%" in formats


def test_info_sheet(workbook: Any) -> None:
    info = {r["项目"]: r["内容"] for r in _rows(workbook["说明"])}
    assert info["考核方案"] == "default-2026"
    assert info["考核年度"] == 2026
    assert info["运行编号"] == "run-2026-0007"
    assert info["状态"] == "公示中"
    assert info["截止时间"] == "2026-12-31T23:59:59+08:00"
    assert "2027" in info["日历提示"]
    assert "部门 3 个" in info["参评单位"] and "乡镇 2 个" in info["参评单位"]


@pytest.mark.parametrize(
    ("state", "label"), [("draft", "草稿"), ("publicised", "公示中"), ("final", "已定档")]
)
def test_state_in_chinese(state: str, label: str) -> None:
    wb = load_workbook(io.BytesIO(result_to_xlsx(_document(state))))
    assert {r["项目"]: r["内容"] for r in _rows(wb["说明"])}["状态"] == label


def test_same_document_same_bytes() -> None:
    first = result_to_xlsx(_document())
    assert result_to_xlsx(_document()) == first
    props = load_workbook(io.BytesIO(first)).properties
    assert props.created == props.modified == datetime(2026, 12, 31, 15, 59, 59)
    assert result_to_xlsx(_document("final")) != first


def test_no_units_still_gives_a_workbook() -> None:
    document = _document()
    document["units"] = []
    document["calendar_warnings"] = []
    wb = load_workbook(io.BytesIO(result_to_xlsx(document)))
    assert wb.sheetnames == ["说明", "加减分明细", "时效明细", "指标明细"]
    assert {r["项目"]: r["内容"] for r in _rows(wb["说明"])}["日历提示"] == "无"
