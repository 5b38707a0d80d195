"""The supervision bulletin (督查通报): its figures from a hand-made ledger, the Word document's layout."""

from __future__ import annotations

import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import docx
import pytest
from docx.document import Document
from docx.enum.text import WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.shared import Pt
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from services.bulletin import (
    Accountability,
    Bulletin,
    ErrorReport,
    Incentive,
    Task,
    Unit,
    build_bulletin,
    parse_period,
    render_docx,
)
from services.bulletin.document import title_text
from services.bulletin.model import Tally
from services.common.errors import InvalidArgument

TZ = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2026, 11, 29, 10, 0, tzinfo=TZ)
UNITS = [
    Unit("czj", "财政局", "department"),
    Unit("fgj", "发改局", "department"),
    Unit("gaj", "公安局", "department"),
    Unit("xz1", "城关镇", "township"),
    Unit("xz2", "城南镇", "township"),
    Unit("xz3", "城北镇", "township"),
]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _task(
    tid: str,
    lead: str,
    due: str,
    reported: str | None = None,
    *,
    co: tuple[str, ...] = (),
    cancelled: bool = False,
) -> Task:
    return Task(
        id=tid,
        title=f"任务{tid}",
        lead_unit=lead,
        co_units=co,
        due_at=_at(due),
        reported_at=_at(reported) if reported else None,
        state="cancelled" if cancelled else ("reported" if reported else "accepted"),
        cancelled=cancelled,
    )


TASKS = [
    _task("T01", "fgj", "2026-11-10T23:59:59+08:00"),  # overdue 11-11 … 11-29: 13 working days
    _task("T02", "fgj", "2026-11-20T17:00:00+08:00"),  # overdue
    _task("T03", "fgj", "2026-11-05T23:59:59+08:00", "2026-11-04T09:00:00+08:00"),  # on time
    _task("T04", "gaj", "2026-11-15T23:59:59+08:00"),  # overdue
    _task("T05", "czj", "2026-11-03T23:59:59+08:00", "2026-11-03T12:00:00+08:00"),  # on time
    _task("T06", "czj", "2026-11-12T23:59:59+08:00", "2026-11-13T09:00:00+08:00"),  # late
    _task("T07", "xz1", "2026-11-25T23:59:59+08:00", "2026-11-25T10:00:00+08:00", co=("fgj", "czj")),
    _task("T08", "xz1", "2026-11-30T23:59:59+08:00"),  # not yet due at as_of: pending
    _task("T09", "gaj", "2026-11-18T23:59:59+08:00", cancelled=True),  # cancelled: not counted
    _task("T10", "gaj", "2026-10-31T23:59:59+08:00"),  # due in October
    # 2026-11-01 00:30 in Shanghai although 31 October in UTC: the local date decides.
    _task("T11", "xz1", "2026-10-31T16:30:00+00:00", "2026-10-31T16:00:00+00:00"),
    # 2026-12-01 01:00 in Shanghai: December, although 30 November in UTC.
    _task("T12", "czj", "2026-11-30T17:00:00+00:00"),
    # reported after as_of: as the ledger stood at as_of, still overdue.
    _task("T13", "czj", "2026-11-20T23:59:59+08:00", "2026-11-29T12:00:00+08:00"),
    _task("T14", "xz2", "2026-11-02T23:59:59+08:00", "2026-11-01T15:00:00+08:00"),
]
ERRORS = [
    ErrorReport("E1", "xz1", date(2026, 11, 3), "drafting", "general", "上报材料数据错误"),
    ErrorReport("E2", "fgj", date(2026, 10, 28), "meeting", "serious", "十月的差错"),
    ErrorReport("E3", "gaj", date(2026, 11, 30), "implementation", "grave", "整改不到位"),
    ErrorReport("E4", "czj", date(2026, 11, 10), "information", "general", "申诉成立", voided=True),
]
ACCOUNTABILITY = [
    Accountability("A1", "fgj", date(2026, 11, 20), "interview", "重点项目推进不力"),
    Accountability("A2", "fgj", date(2026, 12, 1), "admonishment", "十二月的问责"),
    Accountability("A3", "gaj", date(2026, 11, 5), "written_inquiry", "逾期未反馈"),
]
INCENTIVES = [
    Incentive("I1", "czj", date(2026, 11, 8), "provincial", "获全省财政工作先进集体"),
    Incentive("I2", "czj", date(2026, 9, 1), "national", "九月的激励"),
]


def _bulletin(**changes: object) -> Bulletin:
    arguments: dict[str, object] = {
        "period": parse_period("2026-11"),
        "as_of": AS_OF,
        "units": UNITS,
        "tasks": TASKS,
        "errors": ERRORS,
        "accountability": ACCOUNTABILITY,
        "incentives": INCENTIVES,
        "tz": TZ,
        "issuer": "县考核办",
        "copy_to": ("县委办公室", "县政府办公室"),
    }
    arguments.update(changes)
    return build_bulletin(**arguments)  # type: ignore[arg-type]


# --- the figures -----------------------------------------------------------------------------------


def test_units_with_red_tasks_come_first_most_overdue_first_then_by_id() -> None:
    bulletin = _bulletin()
    assert [line.unit for line in bulletin.units] == ["fgj", "czj", "gaj", "xz1", "xz2"]
    assert [line.unit for line in bulletin.red_units] == ["fgj", "czj", "gaj"]
    assert [line.name for line in bulletin.units][:3] == ["发改局", "财政局", "公安局"]


def test_each_unit_counts_the_tasks_it_leads_that_fall_due_in_the_period() -> None:
    tallies = {line.unit: line.tally for line in _bulletin().units}
    assert tallies == {
        "fgj": Tally(due=3, on_time=1, late=0, overdue=2, pending=0),
        "czj": Tally(due=3, on_time=1, late=1, overdue=1, pending=0),
        "gaj": Tally(due=1, on_time=0, late=0, overdue=1, pending=0),
        "xz1": Tally(due=3, on_time=2, late=0, overdue=0, pending=1),
        "xz2": Tally(due=1, on_time=1, late=0, overdue=0, pending=0),
    }
    assert "xz3" not in tallies  # nothing due: not listed


def test_the_summary_adds_the_units_up_and_the_rate_leaves_pending_tasks_out() -> None:
    total = _bulletin().total
    assert total == Tally(due=11, on_time=5, late=1, overdue=4, pending=1)
    assert total.rate == pytest.approx(5 / 10)
    assert Tally(due=2, pending=2).rate is None


def test_every_overdue_task_is_listed_longest_overdue_first_with_its_days() -> None:
    overdue = _bulletin().overdue
    assert [(line.task, line.lead_name, line.days_overdue) for line in overdue] == [
        ("T01", "发改局", 13),
        ("T04", "公安局", 10),
        ("T02", "发改局", 5),
        ("T13", "财政局", 5),
    ]
    assert overdue[0].due_at == datetime(2026, 11, 10, 23, 59, 59, tzinfo=TZ)


def test_a_task_an_hour_past_due_is_one_day_overdue() -> None:
    late = _task("T99", "fgj", "2026-11-29T09:00:00+08:00")
    (line,) = _bulletin(tasks=[late]).overdue
    assert line.days_overdue == 1


def test_units_that_finished_every_task_due_on_time_are_commended() -> None:
    assert [line.unit for line in _bulletin().exemplary] == ["xz2"]


def test_error_reports_are_those_of_the_period_and_standing_with_their_labels() -> None:
    errors = _bulletin().errors
    assert [(e.id, e.unit_name, e.category_label, e.severity_label) for e in errors] == [
        ("E1", "城关镇", "文稿起草", "一般"),
        ("E3", "公安局", "推动落实", "严重"),
    ]


def test_accountability_and_incentives_are_those_of_the_period() -> None:
    bulletin = _bulletin()
    assert [(a.id, a.kind_label) for a in bulletin.accountability] == [
        ("A3", "written_inquiry"),  # a kind the presets do not name shows under its key
        ("A1", "约谈"),
    ]
    assert [(i.id, i.level_label) for i in bulletin.incentives] == [("I1", "省级")]
    named = _bulletin(kind_labels={"written_inquiry": "书面函询"}).accountability
    assert named[0].kind_label == "书面函询"


def test_a_quarter_and_a_year_take_in_more_of_the_ledger() -> None:
    quarter = _bulletin(period=parse_period("2026-Q4"))
    assert quarter.total.due == 13  # October's T10 and December's T12 join; the cancelled T09 does not
    assert [e.id for e in quarter.errors] == ["E2", "E1", "E3"]
    year = _bulletin(period=parse_period("2026"))
    assert [i.id for i in year.incentives] == ["I2", "I1"]


def test_an_as_of_without_an_offset_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="as_of"):
        _bulletin(as_of=datetime(2026, 11, 29, 10, 0))


# --- the document ----------------------------------------------------------------------------------


def _open(bulletin: Bulletin) -> Document:
    return docx.Document(io.BytesIO(render_docx(bulletin)))


def _text(document: Document) -> str:
    """Every paragraph and every table cell, one per line."""
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.extend(cell.text for cell in row.cells)
    return "\n".join(lines)


def _paragraph(document: Document, starts: str) -> Paragraph:
    return next(p for p in document.paragraphs if p.text.startswith(starts))


def _east_asian(run: Run) -> str | None:
    fonts = run._element.find(f"{qn('w:rPr')}/{qn('w:rFonts')}")
    return None if fonts is None else fonts.get(qn("w:eastAsia"))


def test_the_document_names_the_period_every_red_unit_and_every_overdue_task() -> None:
    bulletin = _bulletin()
    text = _text(_open(bulletin))
    assert "2026年11月" in text
    assert "关于2026年11月督查督办事项办理情况的通报" in text
    for unit in bulletin.red_units:
        assert unit.name in text
    for task in bulletin.overdue:
        assert task.task in text
    for label in ("文稿", "严重", "约谈", "省级", "城南镇", "协办单位不计入"):
        assert label in text
    assert "十月的差错" not in text and "十二月的问责" not in text and "九月的激励" not in text


def test_the_unit_table_heads_with_the_red_units_and_ends_with_the_total() -> None:
    document = _open(_bulletin())
    table = document.tables[0]
    rows = [[cell.text for cell in row.cells] for row in table.rows]
    assert rows[0] == ["单位", "到期任务数", "按时办结", "逾期办结", "仍逾期未办结", "按时率"]
    assert rows[1] == ["发改局", "3", "1", "0", "2", "33.3%"]
    assert [row[0] for row in rows[1:4]] == ["发改局", "财政局", "公安局"]
    assert rows[-1] == ["合计", "11", "5", "1", "4", "50.0%"]


def test_the_page_is_a4_with_the_gbt_9704_margins() -> None:
    section = _open(_bulletin()).sections[0]
    assert section.page_width is not None and section.page_height is not None
    measured = {
        "width": section.page_width.mm,
        "height": section.page_height.mm,
        "top": section.top_margin.mm if section.top_margin is not None else 0,
        "bottom": section.bottom_margin.mm if section.bottom_margin is not None else 0,
        "left": section.left_margin.mm if section.left_margin is not None else 0,
        "right": section.right_margin.mm if section.right_margin is not None else 0,
    }
    wanted = {"width": 210, "height": 297, "top": 37, "bottom": 35, "left": 28, "right": 26}
    for name, mm in wanted.items():
        assert measured[name] == pytest.approx(mm, abs=0.05), name


def test_the_title_is_xiaobiaosong_erhao_and_the_body_fangsong_sanhao() -> None:
    bulletin = _bulletin()
    document = _open(bulletin)
    title = _paragraph(document, title_text(bulletin))
    assert [run.font.size for run in title.runs] == [Pt(22)]
    assert _east_asian(title.runs[0]) == "方正小标宋简体"
    # Issued on the 29th, November is not over yet: the summary says so (期中).
    body = _paragraph(document, "2026年11月（期中，截至")
    assert {run.font.size for run in body.runs} == {Pt(16)}
    assert _east_asian(body.runs[0]) == "仿宋_GB2312"
    fmt = body.paragraph_format
    assert fmt.line_spacing_rule == WD_LINE_SPACING.EXACTLY
    assert fmt.line_spacing is not None and fmt.line_spacing.pt == pytest.approx(28.95)
    assert fmt.first_line_indent == Pt(32)
    heading = _paragraph(document, "一、总体情况")
    assert _east_asian(heading.runs[0]) == "黑体" and heading.runs[0].font.size == Pt(16)
    subheading = _paragraph(document, "（一）获得激励情况")
    assert _east_asian(subheading.runs[0]) == "楷体_GB2312"


def test_odd_and_even_footers_carry_a_page_field_between_dashes() -> None:
    section = _open(_bulletin()).sections[0]
    for footer in (section.footer, section.even_page_footer):
        (paragraph,) = footer.paragraphs
        instructions = [el.text for el in paragraph._p.iter(qn("w:instrText"))]
        assert [i.strip() for i in instructions] == ["PAGE"]
        assert paragraph.text.startswith("— ") and paragraph.text.endswith(" —")
        assert {run.font.size for run in paragraph.runs} == {Pt(14)}
        assert _east_asian(paragraph.runs[0]) == "宋体"


def test_the_colophon_has_its_copy_line_only_when_there_are_recipients() -> None:
    with_copy = _text(_open(_bulletin()))
    assert "抄送：县委办公室，县政府办公室。" in with_copy
    assert "县考核办\t2026年11月29日印发" in with_copy
    without = _text(_open(_bulletin(copy_to=())))
    assert "抄送" not in without and "2026年11月29日印发" in without


def test_an_empty_period_still_makes_a_whole_document() -> None:
    empty = _bulletin(period=parse_period("2025-Q1"))
    assert empty.units == () and empty.total == Tally()
    text = _text(_open(empty))
    assert "2025年第一季度，无到期的督查督办任务。" in text
    assert "本期无逾期未办结任务。" in text
    assert "本期无差错通报。" in text and "本期无问责情况。" in text and "本期无激励记录。" in text


def test_table_cells_keep_their_font_and_lose_characters_xml_cannot_hold() -> None:
    odd = Task(
        id="督办〔2026〕7号",
        title="标题\x07带控制符",
        lead_unit="fgj",
        co_units=(),
        due_at=_at("2026-11-02T23:59:59+08:00"),
        reported_at=None,
        state="accepted",
    )
    document = _open(_bulletin(tasks=[*TASKS, odd]))
    overdue = document.tables[1]
    cells = {cell.text: cell for row in overdue.rows for cell in row.cells}
    assert "督办〔2026〕7号" in cells and "标题带控制符" in cells
    run = cells["标题带控制符"].paragraphs[0].runs[0]
    assert run.font.size == Pt(12) and _east_asian(run) == "仿宋_GB2312"
    assert len(overdue.rows) == 1 + 5
