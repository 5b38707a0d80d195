"""The Excel 台账: every sheet read into the records JSON lines give, labels and codes, dates, errors."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, datetime
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from services.common.errors import FieldViolation, InvalidArgument
from services.common.scheme import Scheme
from services.gateway.workbook_import import is_workbook_upload, name_cells
from services.ledger_book.columns import SHEETS, choices_of
from services.ledger_book.read import Origin, WorkbookInvalid, read_workbook
from services.ledger_book.supervision import task_list_workbook
from services.ledger_book.write import ledger_workbook
from tests.conftest import example_path

# One record of each field FORMATS.md lists, beyond the worked example: persons, a unit's parent,
# a task's responsible, leader and parent, an extension, a target.
EXTRA: list[dict[str, Any]] = [
    {"type": "unit", "id": "v1", "name": "城关村", "category": "village", "parent": "cgz"},
    {
        "type": "person",
        "id": "P1",
        "name": "张三",
        "unit": "fgj",
        "post": "局长",
        "leader": False,
        "mobile": "13800000000",
    },
    {"type": "person", "id": "L1", "name": "李四", "unit": "fgj", "post": "副县长", "leader": True},
    {
        "type": "task",
        "id": "T1-1",
        "title": "用地报批材料",
        "task_type": "leader_directive",
        "lead_unit": "fgj",
        "co_units": ["czj"],
        "priority": "important",
        "assigned_at": "2025-04-28T10:00:00+08:00",
        "due_at": "2025-05-10T23:59:59+08:00",
        "source": "县长批示",
        "responsible": "P1",
        "leader": "L1",
        "parent": "T1",
    },
    {
        "type": "task_event",
        "task": "T1-1",
        "kind": "extend",
        "at": "2025-05-08T09:00:00+08:00",
        "by": "督查室",
        "note": "延期",
        "due_at": "2025-05-20T23:59:59+08:00",
    },
    {"type": "target", "unit": "fgj", "metric": "livelihood_spending_share", "year": 2025, "target": 0.9},
]


def _example() -> list[dict[str, Any]]:
    lines = example_path("ledger.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _norm(record: dict[str, Any]) -> str:
    """A record as the services compare it: instants as instants, numbers as numbers, older field names."""
    out = dict(record)
    for name in ("assigned_at", "due_at", "at"):
        if name in out:
            out[name] = datetime.fromisoformat(out[name]).timestamp()
    for name in ("value", "numerator", "denominator", "target", "floor"):
        if isinstance(out.get(name), int | float):
            out[name] = float(out[name])
    if out["type"] == "appeal" and "error_report" in out:
        out["target"] = out.pop("error_report")
    return json.dumps(out, sort_keys=True, ensure_ascii=False)


def _read(data: bytes, scheme: Scheme, units: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return [
        r for r, _ in read_workbook(io.BytesIO(data), choices=choices_of(scheme), tz=scheme.tz, units=units)
    ]


def _book(example_scheme: Scheme, records: list[dict[str, Any]]) -> bytes:
    return ledger_workbook(
        records, choices=choices_of(example_scheme), tz=example_scheme.tz, title="示例台账"
    )


def test_every_sheet_reads_back_the_records_it_was_written_from(example_scheme: Scheme) -> None:
    records = _example() + EXTRA
    back = _read(_book(example_scheme, records), example_scheme)
    assert sorted(map(_norm, back)) == sorted(map(_norm, records))
    assert {r["type"] for r in back} == {s.record_type for s in SHEETS}


def test_records_come_in_dependency_order_and_parents_first(example_scheme: Scheme) -> None:
    # The village before its township and the part before its task, as a clerk may write them.
    records = [EXTRA[0], *_example(), *EXTRA[1:]]
    records.insert(0, records.pop(next(i for i, r in enumerate(records) if r.get("id") == "T1-1")))
    back = _read(_book(example_scheme, records), example_scheme)
    order = [s.record_type for s in SHEETS]
    kinds = [order.index(r["type"]) for r in back]
    assert kinds == sorted(kinds)
    ids = [r.get("id") for r in back]
    assert ids.index("cgz") < ids.index("v1") and ids.index("T1") < ids.index("T1-1")


def _sheet(ws: Any, title: str, headers: list[str], rows: list[list[Any]]) -> None:
    ws.title = title
    ws.append([f"{title}（手工填写）"])
    ws.append(headers)
    for row in rows:
        ws.append(row)


def _workbook(*sheets: tuple[str, list[str], list[list[Any]]]) -> bytes:
    book = Workbook()
    for i, (title, headers, rows) in enumerate(sheets):
        _sheet(book.active if i == 0 else book.create_sheet(), title, headers, rows)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


UNITS = (
    "单位",
    ["单位代码", "单位名称", "类别", "上级单位"],
    [
        ["fgj", "发改局", "部门", None],
        ["cgz", "城关镇", "township", None],
        ["v1", "城关村", "village", "城关镇"],
    ],
)


def test_labels_and_codes_names_and_the_forms_clerks_type(example_scheme: Scheme) -> None:
    tasks = (
        "督办事项",
        ["任务编号", "事项", "任务类型", "牵头单位", "协办单位", "紧急程度", "交办时间", "截止时间"],
        [
            [
                "T1",
                "甲",
                "领导批示交办事项",
                "发改局",
                "城关镇、v1",
                "重要",
                datetime(2025, 4, 28, 10, 0),
                date(2025, 5, 12),
            ],
            ["T2", "乙", "leader_directive", "fgj", None, "important", "2025-04-28 10:00", "2025/5/12"],
            [
                "T3",
                "丙",
                "leader_directive",
                "fgj",
                "cgz，v1",
                None,
                "2025年4月28日 10:00",
                "2025-05-12T18:00:00+08:00",
            ],
        ],
    )
    readings = (
        "指标值",
        ["序号", "单位", "指标", "期间", "数值", "分子", "分母"],  # 序号: a clerk's numbering, read past
        [
            [1, "fgj", "livelihood_spending_share", "2025-03", None, 9, 10],
            [2, "cgz", "livelihood_spending_share", 2025, None, "36", "50"],
        ],
    )
    appeals = (
        "申诉",
        ["编号", "对象编号", "日期", "申诉成立", "理由"],
        [["AP1", "E1", date(2025, 7, 1), "是", "口径"], ["AP2", "E2", "2025-07-02", False, "口径"]],
    )
    errors = (
        "差错通报",
        ["编号", "单位", "日期", "类别", "严重程度", "情况"],
        [
            ["E1", "发改局", "2025-06-01", "文稿起草", "较重", "错字"],
            ["E2", "fgj", datetime(2025, 6, 2), "meeting", "general", "迟到"],
        ],
    )
    back = _read(_workbook(UNITS, tasks, readings, appeals, errors), example_scheme)
    by_id = {r.get("id"): r for r in back}
    assert by_id["fgj"]["category"] == "department" and by_id["v1"]["parent"] == "cgz"
    t1, t2, t3 = by_id["T1"], by_id["T2"], by_id["T3"]
    assert t1["task_type"] == t2["task_type"] == "leader_directive"
    assert t1["lead_unit"] == "fgj" and t1["co_units"] == ["cgz", "v1"] == t3["co_units"]
    assert t1["priority"] == t2["priority"] == "important" and "priority" not in t3
    assert t1["assigned_at"] == t2["assigned_at"] == t3["assigned_at"] == "2025-04-28T10:00:00+08:00"
    # A deadline written as a date is the end of that day, in the scheme's zone.
    assert t1["due_at"] == t2["due_at"] == "2025-05-12T23:59:59+08:00"
    assert t3["due_at"] == "2025-05-12T18:00:00+08:00"
    periods = [(r["period"], r["numerator"], r["denominator"]) for r in back if r["type"] == "metric_reading"]
    assert periods == [("2025-03", 9, 10), ("2025", 36, 50)]
    assert (by_id["AP1"]["upheld"], by_id["AP2"]["upheld"]) == (True, False)
    assert by_id["AP1"]["date"] == "2025-07-01" and by_id["E2"]["date"] == "2025-06-02"
    assert (by_id["E1"]["category"], by_id["E1"]["severity"], by_id["E1"]["unit"]) == (
        "drafting",
        "serious",
        "fgj",
    )
    assert [r["type"] for r in back][:3] == ["unit"] * 3


def _refusal(data: bytes, scheme: Scheme) -> str:
    with pytest.raises(WorkbookInvalid) as caught:
        _read(data, scheme)
    return str(caught.value)


TASK_HEADERS = ["任务编号", "事项", "任务类型", "牵头单位", "交办时间", "截止时间"]
GOOD = ["T1", "甲", "leader_directive", "fgj", "2025-04-28 10:00", None]


@pytest.mark.parametrize(
    ("sheets", "message"),
    [
        (
            [
                (
                    "督办事项",
                    TASK_HEADERS,
                    [GOOD, GOOD, ["T3", "丙", "leader_directive", "fgj", "2025-04-28 10:00", "下周"]],
                )
            ],
            "工作表「督办事项」第 5 行「截止时间」：“下周”不是时间",
        ),
        (
            [("督办事项", TASK_HEADERS, [GOOD, ["T2", None, "leader_directive", "fgj", "2025-04-28", None]])],
            "工作表「督办事项」第 4 行「事项」：必填，不能为空",
        ),
        (
            [("督办事项", TASK_HEADERS, [["T1", "甲", "批示", "fgj", "2025-04-28", None]])],
            "工作表「督办事项」第 3 行「任务类型」：“批示”不是可选的任务类型",
        ),
        (
            [
                (
                    "差错通报",
                    ["编号", "单位", "日期", "类别", "严重程度", "情况"],
                    [["E1", "fgj", "六月一日", "meeting", "一般", "x"]],
                )
            ],
            "工作表「差错通报」第 3 行「日期」：“六月一日”不是日期",
        ),
        (
            [
                (
                    "申诉",
                    ["编号", "对象编号", "日期", "申诉成立", "理由"],
                    [["A1", "E1", "2025-07-01", "也许", "x"]],
                )
            ],
            "工作表「申诉」第 3 行「申诉成立」：“也许”须填“是”或“否”",
        ),
        (
            [
                (
                    "指标值",
                    ["单位", "指标", "期间", "数值"],
                    [["fgj", "livelihood_spending_share", "2025-13", 1]],
                )
            ],
            "工作表「指标值」第 3 行「期间」：“2025-13”的月份不存在",
        ),
        (
            [("督办事项", TASK_HEADERS[:-2], [GOOD[:-2]])],
            "工作表「督办事项」第 2 行「交办时间」：缺少这一必填列",
        ),
        (
            [("督办事项", [*TASK_HEADERS, "备注栏"], [GOOD])],
            "工作表「督办事项」第 2 行「备注栏」：不是本工作表的列",
        ),
        ([("台账汇总", ["x"], [])], "工作表「台账汇总」：不是台账的工作表"),
        (
            [
                ("单位", ["单位代码", "单位名称", "类别"], [["a", "同名", "部门"], ["b", "同名", "部门"]]),
                (
                    "差错通报",
                    ["编号", "单位", "日期", "类别", "严重程度", "情况"],
                    [["E1", "同名", "2025-06-01", "meeting", "一般", "x"]],
                ),
            ],
            "工作表「差错通报」第 3 行「单位」：“同名”是多个单位的名称",
        ),
    ],
)
def test_a_bad_cell_is_named_by_sheet_row_and_column(
    example_scheme: Scheme, sheets: list[Any], message: str
) -> None:
    assert message in _refusal(_workbook(*sheets), example_scheme)


def test_what_is_no_workbook_is_refused_in_chinese(example_scheme: Scheme) -> None:
    assert "不是有效的 Excel 工作簿" in _refusal(b"PK\x03\x04 but no archive", example_scheme)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (1 << 20))
        info = archive.infolist()[0]
    # An archive that claims more than a workbook may unpack to is not opened at all.
    data = bomb.getvalue().replace(info.file_size.to_bytes(4, "little"), (0xFFFFFFF0).to_bytes(4, "little"))
    assert "解压后超过" in _refusal(data, example_scheme)


def test_an_upload_is_told_apart_by_its_first_bytes() -> None:
    assert is_workbook_upload(io.BytesIO(b"PK\x03\x04rest")) and not is_workbook_upload(
        io.BytesIO(b'{"type"')
    )
    with pytest.raises(WorkbookInvalid, match=r"旧版 Excel 工作簿（\.xls）"):
        is_workbook_upload(io.BytesIO(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"))


def test_a_refused_line_is_named_by_its_sheet_row_and_column() -> None:
    origins = [
        Origin("单位", 3, {"id": "单位代码"}),
        Origin("督办事项", 5, {"due_at": "截止时间", "co_units": "协办单位"}),
    ]
    refused = InvalidArgument(
        [
            FieldViolation("line 2: due_at", "must not be before assigned_at"),
            FieldViolation("line 2: co_units[1]", "unknown unit"),
            FieldViolation("line 1", "x"),
            FieldViolation("file", "y"),
        ]
    )
    named = name_cells(refused, origins)
    assert [v.field for v in named.violations] == [
        "工作表「督办事项」第 5 行「截止时间」",
        "工作表「督办事项」第 5 行「协办单位」",
        "工作表「单位」第 3 行",
        "file",
    ]
    assert str(named).startswith("工作表「督办事项」第 5 行「截止时间」：must not be before assigned_at")


def test_the_template_has_instructions_drop_downs_from_the_scheme_and_header_comments(
    example_scheme: Scheme,
) -> None:
    book = load_workbook(io.BytesIO(_book(example_scheme, [])))
    assert book.sheetnames[0] == "说明" and [s.name for s in SHEETS] == book.sheetnames[2:]
    assert book["选项"].sheet_state == "hidden"
    lists = {
        book["选项"].cell(row=1, column=c).value: [
            book["选项"].cell(row=r, column=c).value for r in range(2, book["选项"].max_row + 1)
        ]
        for c in range(1, book["选项"].max_column + 1)
    }
    assert set(filter(None, lists["task_type"])) == {t.name for t in example_scheme.task_types.values()}
    assert set(filter(None, lists["metric"])) == {m.name for m in example_scheme.metrics}
    assert {"一般", "较重", "严重"} <= set(lists["severity"])
    for sheet in SHEETS:
        ws = book[sheet.name]
        assert [c.value for c in ws[2]] == [c.header for c in sheet.columns]
        assert all(c.comment is not None and c.column_letter for c in ws[2])
        validated = {
            str(cells).split(":")[0].rstrip("0123456789")
            for dv in ws.data_validations.dataValidation
            for cells in dv.sqref.ranges
        }
        for i, column in enumerate(sheet.columns, start=1):
            letter = ws.cell(row=2, column=i).column_letter
            assert (letter in validated) == (column.kind in ("choice", "bool")), (sheet.name, column.header)
    task_type = next(dv for dv in book["督办事项"].data_validations.dataValidation if "C3" in str(dv.sqref))
    assert task_type.type == "list" and "选项" in task_type.formula1
    info = [r for r in book["说明"].iter_rows(min_row=3, values_only=True)]
    assert info[[r[:2] for r in info].index(("督办事项", "截止时间"))][:3] == ("督办事项", "截止时间", "否")
    assert any("全部成功或全部不写入" in (r[3] or "") for r in info)


def test_every_sheet_is_laid_out_for_print(example_scheme: Scheme) -> None:
    book = load_workbook(io.BytesIO(_book(example_scheme, _example())))
    for ws in book.worksheets:
        if ws.sheet_state == "hidden":
            continue
        assert ws["A1"].value.startswith("示例台账") and ws["A1"].font.bold, ws.title
        assert ws.freeze_panes == "A3" and ws.print_title_rows == "$1:$2", ws.title
        assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
        assert all((ws.column_dimensions[c.column_letter].width or 0) >= 8 for c in ws[2])
    tasks = book["督办事项"]
    assert {c.value for c in tasks["F"][2:]} <= {"一般", "重要", None}
    assert tasks["G3"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert "重要" in {c.value for c in tasks["F"]}


def test_the_supervision_ledger_has_names_colours_and_filters() -> None:
    rows = [
        {
            "id": "T1",
            "title": "甲",
            "task_type": "leader_directive",
            "lead_unit": "fgj",
            "co_units": ["czj"],
            "priority": "urgent",
            "state": "accepted",
            "assigned_at": "2026-11-02T09:00:00+08:00",
            "due_at": "2026-11-20T23:59:59+08:00",
            "reported_at": None,
            "color": "red",
            "outcome": None,
            "source": "",
        },
        {
            "id": "T2",
            "title": "乙",
            "task_type": "x",
            "lead_unit": "czj",
            "co_units": [],
            "priority": "normal",
            "state": "closed",
            "assigned_at": "2026-11-02T09:00:00+08:00",
            "due_at": None,
            "reported_at": "2026-11-03T09:00:00+08:00",
            "color": None,
            "outcome": "on_time",
            "source": "会议",
        },
    ]
    data = task_list_workbook(
        rows,
        units={"fgj": "发改局", "czj": "财政局"},
        task_types={"leader_directive": "领导批示"},
        title="督办台账",
        as_of="2026-12-06T19:05:00+08:00",
    )
    ws = load_workbook(io.BytesIO(data))["督办台账"]
    assert ws["A1"].value == "督办台账（截至 2026年12月6日 19:05）"
    assert [c.value for c in ws[3]][:8] == [
        "T1",
        "甲",
        "领导批示",
        "发改局",
        "财政局",
        "紧急",
        "承办中",
        "红",
    ]
    assert ws["H3"].fill.fgColor.rgb.endswith("F4B084")
    assert ws["I3"].value == datetime(2026, 11, 2, 9, 0)
    assert [c.value for c in ws[4]][5:8] == ["一般", "已销号", None] and ws["L4"].value == "按时"
    assert ws.auto_filter.ref == "A2:M4" and ws.freeze_panes == "A3"


def test_the_manual_names_every_sheet_and_column() -> None:
    text = (example_path("ledger.jsonl").parents[2] / "docs" / "manual" / "excel.md").read_text(
        encoding="utf-8"
    )
    for sheet in SHEETS:
        assert f"### 「{sheet.name}」（`{sheet.record_type}`）" in text
        for column in sheet.columns:
            assert f"| {column.header} | `{column.field}` |" in text, (sheet.name, column.header)
