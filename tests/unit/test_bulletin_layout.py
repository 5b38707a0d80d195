"""The bulletin as a 公文, opened with python-docx: 版头 (期号, 文号, issuer), working days, 落款, widths."""

from __future__ import annotations

import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import docx
from docx.document import Document
from docx.oxml.ns import qn
from docx.shared import Mm

from services.bulletin import Bulletin, Task, Unit, build_bulletin, parse_period, render_docx
from services.common.calendar import WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2026, 12, 6, 10, 0, tzinfo=TZ)  # a Sunday


def bulletin(**changes: object) -> Bulletin:
    arguments: dict[str, object] = {
        "period": parse_period("2026-11"),
        "as_of": AS_OF,
        "units": [Unit("fgj", "发改局", "department"), Unit("czj", "财政局", "department")],
        "tasks": [
            # Due Friday 11-27: the working days after it up to Sunday 12-06 are 11-30 … 12-04.
            Task(
                "T1",
                "防汛物资清点",
                "fgj",
                (),
                datetime(2026, 11, 27, 23, 59, 59, tzinfo=TZ),
                None,
                "accepted",
            ),
            Task(
                "T2", "秋粮收购", "czj", (), datetime(2026, 11, 10, 23, 59, 59, tzinfo=TZ), None, "accepted"
            ),
        ],
        "errors": [],
        "accountability": [],
        "incentives": [],
        "tz": TZ,
        "issuer": "人民政府办公室",
        "jurisdiction": "宁强县",
        "issue": 7,
        "doc_prefix": "宁政办督",
    }
    arguments.update(changes)
    return build_bulletin(**arguments)  # type: ignore[arg-type]


def opened(built: Bulletin) -> Document:
    return docx.Document(io.BytesIO(render_docx(built)))


def texts(document: Document) -> list[str]:
    return [p.text for p in document.paragraphs]


def test_the_masthead_has_the_issue_the_doc_number_and_the_county_s_issuer_over_the_red_rule() -> None:
    document = opened(bulletin())
    lines = texts(document)
    assert lines[:3] == ["督查通报", "第7期", "宁政办督〔2026〕7号"]
    assert lines[3] == "宁强县人民政府办公室\t2026年12月6日"
    rule = document.paragraphs[3]._p.find(f"{qn('w:pPr')}/{qn('w:pBdr')}/{qn('w:bottom')}")
    assert rule is not None and rule.get(qn("w:color")) == "FF0000"
    assert document.core_properties.author == "宁强县人民政府办公室"
    # The colophon prints the same issuer.
    assert lines[-1] == "宁强县人民政府办公室\t2026年12月6日印发"


def test_without_a_prefix_there_is_no_doc_number_and_an_issuer_naming_the_county_is_kept_as_it_is() -> None:
    built = bulletin(doc_prefix="", issuer="宁强县考核办公室")
    assert built.doc_number == "" and built.signer == "宁强县考核办公室"
    assert texts(opened(built))[:3] == ["督查通报", "第7期", "宁强县考核办公室\t2026年12月6日"]
    plain = bulletin(doc_prefix="", issuer="考核办公室", jurisdiction="", issue=None)
    assert texts(opened(plain))[:2] == ["督查通报", "考核办公室\t2026年12月6日"]


def test_days_overdue_are_working_days_of_the_scheme_s_calendar() -> None:
    lines = {line.task: line.days_overdue for line in bulletin().overdue}
    # T2 due Tuesday 11-10: 11-11 … 12-04 hold 18 working days.
    assert lines == {"T1": 5, "T2": 18}
    # A holiday the scheme adds is not counted.
    calendar = WorkCalendar(extra_holidays=[date(2026, 12, 1), date(2026, 12, 2)])
    assert {line.task: line.days_overdue for line in bulletin(calendar=calendar).overdue} == {
        "T1": 3,
        "T2": 16,
    }
    text = "\n".join(texts(opened(bulletin())))
    assert "已超期天数按工作日计算" in text and "自然日" not in text


def test_the_signature_and_its_date_are_kept_on_the_page_of_the_closing_sentence() -> None:
    document = opened(bulletin())
    paragraphs = document.paragraphs
    signer = max(i for i, p in enumerate(paragraphs) if p.text == "宁强县人民政府办公室")
    closing, blank, name, day = paragraphs[signer - 2 : signer + 2]
    assert (
        closing.text.startswith("请各单位对照通报内容") and blank.text == "" and day.text == "2026年12月6日"
    )
    for paragraph in (closing, blank, name):
        assert paragraph.paragraph_format.keep_with_next is True
    for paragraph in (closing, name, day):
        assert paragraph.paragraph_format.keep_together is True


def test_every_table_is_the_full_156_mm_type_area_wide_and_fixed() -> None:
    document = opened(bulletin())
    assert document.tables
    section = document.sections[0]
    assert (
        section.page_width is not None
        and section.left_margin is not None
        and section.right_margin is not None
    )
    type_area = section.page_width - section.left_margin - section.right_margin
    assert abs(Mm(156) - type_area) < Mm(0.1)
    for table in document.tables:
        properties = table._tbl.tblPr
        width = properties.find(qn("w:tblW"))
        assert width.get(qn("w:type")) == "dxa"
        assert abs(int(width.get(qn("w:w"))) - round(Mm(156).twips)) <= 1
        assert properties.find(qn("w:tblInd")).get(qn("w:w")) == "0"
        assert properties.find(qn("w:tblLayout")).get(qn("w:type")) == "fixed"
        columns = sum(int(c.get(qn("w:w"))) for c in table._tbl.tblGrid.findall(qn("w:gridCol")))
        assert abs(columns - round(Mm(156).twips)) <= len(table.columns)


def test_a_period_not_yet_over_is_stated_as_interim_and_a_closed_one_is_not() -> None:
    running = opened(bulletin(period=parse_period("2026-12")))
    closed = opened(bulletin())
    assert any("2026年12月（期中，截至" in t for t in texts(running)), texts(running)
    assert bulletin(period=parse_period("2026-12")).interim and not bulletin().interim
    assert not any("期中" in t for t in texts(closed))
