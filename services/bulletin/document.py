"""A bulletin as a Word document in 公文 layout (GB/T 9704-2012): A4, 仿宋 三号 body, 小标宋 二号 title."""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.section import Section
from docx.shared import Length, Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from services.bulletin.model import Bulletin, Tally

__all__ = [
    "BODY_FONT",
    "BODY_SIZE",
    "HEADING_FONT",
    "LINE_PITCH",
    "PAGE_FONT",
    "SUBHEADING_FONT",
    "TITLE_FONT",
    "TITLE_SIZE",
    "render_docx",
    "title_text",
]

TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING_FONT = "黑体"
SUBHEADING_FONT = "楷体_GB2312"
PAGE_FONT = "宋体"
TITLE_SIZE = Pt(22)  # 二号
BODY_SIZE = Pt(16)  # 三号
PAGE_SIZE = Pt(14)  # 四号
TABLE_SIZE = Pt(12)  # 小四: six columns of 三号 would not fit the 156 mm type area
MASTHEAD_SIZE = Pt(36)
# 22 lines to a 225 mm type area (GB/T 9704 5.2.2): 225 mm / 22 ≈ 28.95 pt.
LINE_PITCH = Pt(28.95)
TYPE_WIDTH = Mm(156)
RED = RGBColor(0xFF, 0x00, 0x00)
_NUMERALS = "一二三四五六七八九十"
# What follows w:pBdr in w:pPr, and the order of a border's sides (ECMA-376 17.3.1.26, 17.3.1.24).
_AFTER_BORDERS = (
    "w:shd",
    "w:tabs",
    "w:suppressAutoHyphens",
    "w:kinsoku",
    "w:wordWrap",
    "w:overflowPunct",
    "w:topLinePunct",
    "w:autoSpaceDE",
    "w:autoSpaceDN",
    "w:bidi",
    "w:adjustRightInd",
    "w:snapToGrid",
    "w:spacing",
    "w:ind",
    "w:contextualSpacing",
    "w:mirrorIndents",
    "w:suppressOverlap",
    "w:jc",
    "w:textDirection",
    "w:textAlignment",
    "w:textboxTightWrap",
    "w:outlineLvl",
    "w:divId",
    "w:cnfStyle",
    "w:rPr",
    "w:sectPr",
    "w:pPrChange",
)
_BORDER_SIDES = ("top", "left", "bottom", "right", "between", "bar")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_RULE = "已超期天数按工作日计算（考核方案的工作日历，节假日不计），不足一个工作日按一日计。"


@dataclass(frozen=True)
class Column:
    """A table column: its header, its width and whether its cells are centred."""

    header: str
    width_mm: int
    centred: bool = True


def title_text(bulletin: Bulletin) -> str:
    """The bulletin's title line."""
    return f"关于{bulletin.period.label}督查督办事项办理情况的通报"


# --- text ------------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Text without the control characters XML cannot hold (a ledger's titles come from anywhere)."""
    return _CONTROL.sub("", text)


def _day(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _moment(moment: datetime) -> str:
    """A local instant as a 公文 writes it; an end-of-day due instant is its date alone."""
    if (moment.hour, moment.minute) == (23, 59):
        return _day(moment.date())
    minutes = f"{moment.minute}分" if moment.minute else ""
    return f"{_day(moment.date())}{moment.hour}时{minutes}"


def _rate(tally: Tally) -> str:
    return "—" if tally.rate is None else f"{tally.rate * 100:.1f}%"


# --- formatting ------------------------------------------------------------------------------------


def _font(run: Run, name: str, size: Length, *, bold: bool = False, color: RGBColor | None = None) -> None:
    """A run's font for Latin and East-Asian text alike: Word shows 仿宋, not only the ASCII font."""
    run.font.name = name
    run.font.size = size
    run.font.bold = bold
    if color is not None:
        run.font.color.rgb = color
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), name)
    fonts.set(qn("w:cs"), name)


def _format(
    paragraph: Paragraph,
    *,
    align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.JUSTIFY,
    indent_chars: int = 0,
    exact: bool = True,
) -> None:
    """Paragraph layout: alignment, a first-line indent in characters, the fixed 公文 line pitch."""
    fmt = paragraph.paragraph_format
    fmt.alignment = align
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)
    if exact:
        fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        fmt.line_spacing = LINE_PITCH
    else:
        fmt.line_spacing_rule = WD_LINE_SPACING.SINGLE
    if indent_chars:
        fmt.first_line_indent = Pt(BODY_SIZE.pt * indent_chars)
        # Word and WPS keep the indent in characters when the font size changes.
        ind = paragraph._p.get_or_add_pPr().find(qn("w:ind"))
        if ind is not None:
            ind.set(qn("w:firstLineChars"), str(indent_chars * 100))


def _paragraph(
    doc: DocumentObject,
    text: str,
    *,
    font: str = BODY_FONT,
    size: Length = BODY_SIZE,
    align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.JUSTIFY,
    indent_chars: int = 2,
    bold: bool = False,
    color: RGBColor | None = None,
) -> Paragraph:
    paragraph = doc.add_paragraph()
    _format(paragraph, align=align, indent_chars=indent_chars)
    if text:
        _font(paragraph.add_run(_clean(text)), font, size, bold=bold, color=color)
    return paragraph


def _body(doc: DocumentObject, text: str) -> Paragraph:
    return _paragraph(doc, text)


def _heading(doc: DocumentObject, number: int, text: str) -> Paragraph:
    """A level-1 heading: 黑体 三号, 一、; kept on the page of what follows it."""
    paragraph = _paragraph(doc, f"{_NUMERALS[number - 1]}、{text}", font=HEADING_FONT)
    paragraph.paragraph_format.keep_with_next = True
    return paragraph


def _subheading(doc: DocumentObject, number: int, text: str) -> Paragraph:
    """A level-2 heading: 楷体 三号, （一）; kept on the page of what follows it."""
    paragraph = _paragraph(doc, f"（{_NUMERALS[number - 1]}）{text}", font=SUBHEADING_FONT)
    paragraph.paragraph_format.keep_with_next = True
    return paragraph


def _insert(parent: Any, child: Any, successors: Sequence[str]) -> Any:
    """Put child into parent before the first of the elements that must follow it."""
    tags = {qn(name) for name in successors}
    following = next((el for el in parent if el.tag in tags), None)
    if following is None:
        parent.append(child)
    else:
        following.addprevious(child)
    return child


def _border(paragraph: Paragraph, side: str, *, eighths: int, color: str = "000000") -> None:
    """A rule above or below a paragraph (the masthead's red line, the 版记's lines); width in 1/8 pt."""
    ppr = paragraph._p.get_or_add_pPr()
    borders = ppr.find(qn("w:pBdr"))
    if borders is None:
        # Word refuses a file whose paragraph properties are out of the schema's order.
        borders = _insert(ppr, OxmlElement("w:pBdr"), _AFTER_BORDERS)
    line = OxmlElement(f"w:{side}")
    line.set(qn("w:val"), "single")
    line.set(qn("w:sz"), str(eighths))
    line.set(qn("w:space"), "1")
    line.set(qn("w:color"), color)
    later = _BORDER_SIDES[_BORDER_SIDES.index(side) + 1 :]
    _insert(borders, line, tuple(f"w:{name}" for name in later))


def _two_ends(doc: DocumentObject, left: str, right: str, *, size: Length, indent: Length) -> Paragraph:
    """One line with text at the left and at the right end of the type area."""
    paragraph = doc.add_paragraph()
    _format(paragraph, align=WD_ALIGN_PARAGRAPH.LEFT)
    fmt = paragraph.paragraph_format
    fmt.left_indent = indent
    fmt.right_indent = indent
    # Tab stops count from the margin, not the indent: the right end stops one indent short of it.
    fmt.tab_stops.add_tab_stop(Length(TYPE_WIDTH - indent), WD_TAB_ALIGNMENT.RIGHT)
    _font(paragraph.add_run(f"{left}\t{right}"), BODY_FONT, size)
    return paragraph


def _table(doc: DocumentObject, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> None:
    """A ruled table the width of the type area; the header row repeats on every page."""
    table = doc.add_table(rows=2, cols=len(columns))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    table.rows[0]._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
    for r, row in enumerate(table.rows):
        for column, cell in zip(columns, row.cells, strict=True):
            cell.width = Mm(column.width_mm)
            cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
            paragraph = cell.paragraphs[0]
            centred = r == 0 or column.centred
            _format(
                paragraph,
                align=WD_ALIGN_PARAGRAPH.CENTER if centred else WD_ALIGN_PARAGRAPH.LEFT,
                exact=False,
            )
            text = column.header if r == 0 else "-"
            _font(paragraph.add_run(text), HEADING_FONT if r == 0 else BODY_FONT, TABLE_SIZE)
    for column, width in zip(table.columns, columns, strict=True):
        column.width = Mm(width.width_mm)
    _full_width(table._tbl, sum(column.width_mm for column in columns))
    # Formatting each cell through python-docx takes a millisecond; a county's year can list
    # thousands of overdue tasks, so each row is a copy of one formatted row with its texts set.
    template = table.rows[1]._tr
    preserve = qn("xml:space")
    for values in rows:
        tr = copy.deepcopy(template)
        for t, value in zip(tr.iter(qn("w:t")), values, strict=True):
            t.text = _clean(value)
            t.set(preserve, "preserve")
        template.addprevious(tr)
    table._tbl.remove(template)


def _full_width(tbl: Any, width_mm: int) -> None:
    """The table's own width, fixed, from the left margin: Word and WPS otherwise shrink it to fit."""
    tbl_pr = tbl.tblPr
    twips = str(round(Mm(width_mm).twips))
    width = tbl_pr.find(qn("w:tblW"))
    if width is None:
        width = OxmlElement("w:tblW")
        tbl_pr.append(width)
    width.set(qn("w:w"), twips)
    width.set(qn("w:type"), "dxa")
    indent = tbl_pr.find(qn("w:tblInd"))
    if indent is None:
        indent = OxmlElement("w:tblInd")
        # tblInd follows tblW and precedes the rest (ECMA-376 17.4.60): put it right after the width.
        width.addnext(indent)
    indent.set(qn("w:w"), "0")
    indent.set(qn("w:type"), "dxa")


def _page_number(paragraph: Paragraph) -> None:
    """— PAGE — in 宋体 四号: a PAGE field between two 一字线."""
    _font(paragraph.add_run("— "), PAGE_FONT, PAGE_SIZE)
    for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "1"), ("end", None)):
        run = paragraph.add_run()
        _font(run, PAGE_FONT, PAGE_SIZE)
        if kind is not None:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            run._r.append(char)
        elif text == " PAGE ":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = text
            run._r.append(instr)
        else:
            run.text = text or ""
    _font(paragraph.add_run(" —"), PAGE_FONT, PAGE_SIZE)


# --- the page --------------------------------------------------------------------------------------


def _page(doc: DocumentObject) -> Section:
    """A4 with the 公文 margins, the 22-line grid, page numbers outside (odd right, even left)."""
    section = doc.sections[0]
    section.page_width = Mm(210)
    section.page_height = Mm(297)
    section.top_margin = Mm(37)
    section.bottom_margin = Mm(35)
    section.left_margin = Mm(28)
    section.right_margin = Mm(26)
    # The page number's rule sits 7 mm below the type area (GB/T 9704 7.5).
    section.footer_distance = Mm(22)
    section.header_distance = Mm(15)
    grid = section._sectPr.find(qn("w:docGrid"))
    if grid is None:
        grid = OxmlElement("w:docGrid")
        section._sectPr.append(grid)
    grid.set(qn("w:type"), "lines")
    grid.set(qn("w:linePitch"), str(round(LINE_PITCH.pt * 20)))
    doc.settings.odd_and_even_pages_header_footer = True
    odd = section.footer.paragraphs[0]
    _format(odd, align=WD_ALIGN_PARAGRAPH.RIGHT, exact=False)
    odd.paragraph_format.right_indent = PAGE_SIZE  # 单页码居右空一字
    _page_number(odd)
    even = section.even_page_footer.paragraphs[0]
    _format(even, align=WD_ALIGN_PARAGRAPH.LEFT, exact=False)
    even.paragraph_format.left_indent = PAGE_SIZE  # 双页码居左空一字
    _page_number(even)
    return section


def _defaults(doc: DocumentObject) -> None:
    """仿宋 三号 as the document's default, with the template's theme fonts taken out of the way."""
    rpr = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    fonts = rpr.find(qn("w:rFonts"))
    for name in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(name), None)
    for name in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(name), BODY_FONT)
    lang = rpr.find(qn("w:lang"))
    if lang is not None:
        lang.set(qn("w:val"), "zh-CN")
        lang.set(qn("w:eastAsia"), "zh-CN")
    normal = doc.styles["Normal"]
    normal.font.name = BODY_FONT
    normal.font.size = BODY_SIZE
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)
    normal.paragraph_format.space_after = Pt(0)


# --- the parts -------------------------------------------------------------------------------------


def _masthead(doc: DocumentObject, bulletin: Bulletin) -> None:
    """版头: 督查通报 in red, 第N期, the 文号 if any, then the issuer and the date over a red rule."""
    title = _paragraph(
        doc,
        "督查通报",
        font=TITLE_FONT,
        size=MASTHEAD_SIZE,
        align=WD_ALIGN_PARAGRAPH.CENTER,
        indent_chars=0,
        color=RED,
    )
    title.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
    lines = [title]
    if bulletin.issue is not None:
        lines.append(
            _paragraph(doc, f"第{bulletin.issue}期", align=WD_ALIGN_PARAGRAPH.CENTER, indent_chars=0)
        )
    if bulletin.doc_number:
        lines.append(_paragraph(doc, bulletin.doc_number, align=WD_ALIGN_PARAGRAPH.CENTER, indent_chars=0))
    issue = _two_ends(
        doc, bulletin.signer, _day(bulletin.as_of.date()), size=BODY_SIZE, indent=Pt(BODY_SIZE.pt)
    )
    _border(issue, "bottom", eighths=12, color="FF0000")
    for paragraph in (*lines, issue):
        # The 版头 is one block: it never breaks across pages.
        paragraph.paragraph_format.keep_with_next = True
        paragraph.paragraph_format.keep_together = True
    _paragraph(doc, "", indent_chars=0)


# Each table's widths add up to the 156 mm type area.
_UNIT_COLUMNS = (
    Column("单位", 46, centred=False),
    Column("到期任务数", 22),
    Column("按时办结", 20),
    Column("逾期办结", 20),
    Column("仍逾期未办结", 26),
    Column("按时率", 22),
)
_OVERDUE_COLUMNS = (
    Column("任务编号", 28, centred=False),
    Column("标题", 52, centred=False),
    Column("牵头单位", 30, centred=False),
    Column("到期时间", 26),
    Column("已超期天数", 20),
)
_ERROR_COLUMNS = (
    Column("单位", 30, centred=False),
    Column("日期", 28),
    Column("类别", 16),
    Column("等次", 16),
    Column("情况", 66, centred=False),
)
_ACCOUNTABILITY_COLUMNS = (
    Column("单位", 32, centred=False),
    Column("日期", 28),
    Column("方式", 28),
    Column("事由", 68, centred=False),
)
_INCENTIVE_COLUMNS = (
    Column("单位", 32, centred=False),
    Column("日期", 28),
    Column("级别", 20),
    Column("事由", 76, centred=False),
)


def _summary(doc: DocumentObject, bulletin: Bulletin) -> None:
    total, label = bulletin.total, bulletin.period.label
    if bulletin.interim:
        # A period not yet over (期中): its standing as of the day issued, not its final tally.
        label = f"{label}（期中，截至{_moment(bulletin.as_of)}）"
    if not total.due:
        _body(doc, f"{label}，无到期的督查督办任务。")
        return
    pending = f"，尚未到期{total.pending}项" if total.pending else ""
    _body(
        doc,
        f"{label}，到期的督查督办任务共{total.due}项，涉及牵头单位{len(bulletin.units)}个。"
        f"其中按时办结{total.on_time}项，逾期办结{total.late}项，"
        f"截至{_moment(bulletin.as_of)}仍逾期未办结{total.overdue}项{pending}；按时办结率{_rate(total)}。",
    )


def _units(doc: DocumentObject, bulletin: Bulletin) -> None:
    red = bulletin.red_units
    if red:
        named = "、".join(f"{line.name}（{line.tally.overdue}项）" for line in red)
        _body(doc, f"仍有逾期未办结任务的单位：{named}，列于表首。")
    elif bulletin.units:
        _body(doc, "各单位均无逾期未办结任务。")
    if bulletin.units:
        rows = [
            [
                line.name,
                str(line.tally.due),
                str(line.tally.on_time),
                str(line.tally.late),
                str(line.tally.overdue),
                _rate(line.tally),
            ]
            for line in bulletin.units
        ]
        total = bulletin.total
        rows.append(
            ["合计", str(total.due), str(total.on_time), str(total.late), str(total.overdue), _rate(total)]
        )
        _table(doc, _UNIT_COLUMNS, rows)
    _body(
        doc,
        "说明：任务按牵头单位统计，协办单位不计入；按时率＝按时办结数÷（按时办结数＋逾期办结数＋仍逾期未办结数），"
        f"尚未到期的任务不计入；本期无到期任务的单位未列出；{_RULE}"
        f"统计截至{_moment(bulletin.as_of)}。",
    )


def _overdue(doc: DocumentObject, bulletin: Bulletin) -> None:
    if not bulletin.overdue:
        _body(doc, "本期无逾期未办结任务。")
        return
    _body(
        doc,
        f"截至{_moment(bulletin.as_of)}，以下{len(bulletin.overdue)}项任务已超过办理时限仍未办结，"
        "请牵头单位抓紧办理，办结后及时反馈：",
    )
    _table(
        doc,
        _OVERDUE_COLUMNS,
        [
            [line.task, line.title, line.lead_name, _moment(line.due_at), str(line.days_overdue)]
            for line in bulletin.overdue
        ],
    )


_EXTENSION_COLUMNS = (
    Column("任务编号", 24, centred=False),
    Column("标题", 40, centred=False),
    Column("牵头单位", 24, centred=False),
    Column("原办结时限", 22),
    Column("申请延至", 22),
    Column("审批结果", 24),
)


def _extensions(doc: DocumentObject, bulletin: Bulletin) -> None:
    """延期申请 filed in the period: what was asked and what the office decided."""
    if not bulletin.extensions:
        _body(doc, "本期无延期申请。")
        return
    _body(doc, f"{bulletin.period.label}共有{len(bulletin.extensions)}项任务申请延期：")
    rows = []
    for e in bulletin.extensions:
        decided = e.state_label + (f"，延至{_moment(e.granted_due)}" if e.granted_due is not None else "")
        rows.append([e.task, e.title, e.unit_name, _moment(e.due_before), _moment(e.asked_due), decided])
    _table(doc, _EXTENSION_COLUMNS, rows)


def _errors(doc: DocumentObject, bulletin: Bulletin) -> None:
    if not bulletin.errors:
        _body(doc, "本期无差错通报。")
        return
    _body(doc, f"{bulletin.period.label}共通报差错{len(bulletin.errors)}起：")
    _table(
        doc,
        _ERROR_COLUMNS,
        [
            [e.unit_name, _day(e.date), e.category_label, e.severity_label, e.description]
            for e in bulletin.errors
        ],
    )


def _accountability(doc: DocumentObject, bulletin: Bulletin) -> None:
    if not bulletin.accountability:
        _body(doc, "本期无问责情况。")
        return
    _body(doc, f"{bulletin.period.label}共问责{len(bulletin.accountability)}起：")
    _table(
        doc,
        _ACCOUNTABILITY_COLUMNS,
        [[a.unit_name, _day(a.date), a.kind_label, a.reason] for a in bulletin.accountability],
    )


def _commendations(doc: DocumentObject, bulletin: Bulletin) -> None:
    _subheading(doc, 1, "获得激励情况")
    if bulletin.incentives:
        _body(doc, f"{bulletin.period.label}共有{len(bulletin.incentives)}项工作获得激励：")
        _table(
            doc,
            _INCENTIVE_COLUMNS,
            [[i.unit_name, _day(i.date), i.level_label, i.reason] for i in bulletin.incentives],
        )
    else:
        _body(doc, "本期无激励记录。")
    _subheading(doc, 2, "按时办结全部到期任务的单位")
    if bulletin.exemplary:
        named = "、".join(line.name for line in bulletin.exemplary)
        _body(doc, f"{named}（共{len(bulletin.exemplary)}个单位）按时办结了本期全部到期任务，予以表扬。")
    else:
        _body(doc, "本期无按时办结全部到期任务的单位。")


def _signature(doc: DocumentObject, bulletin: Bulletin, closing: Paragraph) -> None:
    """落款: the issuer and the date, right-aligned four characters in (no seal), on the closing's page.

    GB/T 9704 7.3.5: the signature never stands alone on a page, so the closing sentence, the blank
    line and the issuer are each kept with the next, and no paragraph of them breaks.
    """
    closing.paragraph_format.keep_with_next = True
    closing.paragraph_format.keep_together = True
    blank = _paragraph(doc, "", indent_chars=0)
    blank.paragraph_format.keep_with_next = True
    texts = (bulletin.signer, _day(bulletin.as_of.date()))
    for index, text in enumerate(texts):
        paragraph = _paragraph(doc, text, align=WD_ALIGN_PARAGRAPH.RIGHT, indent_chars=0)
        paragraph.paragraph_format.right_indent = Pt(BODY_SIZE.pt * 4)
        paragraph.paragraph_format.keep_together = True
        paragraph.paragraph_format.keep_with_next = index < len(texts) - 1


def _colophon(doc: DocumentObject, bulletin: Bulletin) -> None:
    """版记: 抄送 (when any) and 印发, between rules: thick outside, thin between (GB/T 9704 7.4)."""
    _paragraph(doc, "", indent_chars=0)
    if bulletin.copy_to:
        copy = _paragraph(
            doc,
            f"抄送：{'，'.join(bulletin.copy_to)}。",
            size=PAGE_SIZE,
            align=WD_ALIGN_PARAGRAPH.LEFT,
            indent_chars=0,
        )
        copy.paragraph_format.left_indent = PAGE_SIZE
        copy.paragraph_format.right_indent = PAGE_SIZE
        _border(copy, "top", eighths=8)
        _border(copy, "bottom", eighths=6)
    printed = _two_ends(
        doc, bulletin.signer, f"{_day(bulletin.as_of.date())}印发", size=PAGE_SIZE, indent=PAGE_SIZE
    )
    if not bulletin.copy_to:
        _border(printed, "top", eighths=8)
    _border(printed, "bottom", eighths=8)


def render_docx(bulletin: Bulletin) -> bytes:
    """The bulletin as the bytes of a .docx file."""
    doc = Document()
    _defaults(doc)
    _page(doc)
    title = title_text(bulletin)
    doc.core_properties.title = title
    doc.core_properties.author = bulletin.signer
    doc.core_properties.language = "zh-CN"
    _masthead(doc, bulletin)
    _paragraph(doc, title, font=TITLE_FONT, size=TITLE_SIZE, align=WD_ALIGN_PARAGRAPH.CENTER, indent_chars=0)
    _paragraph(doc, "", indent_chars=0)
    _paragraph(doc, "各有关单位：", indent_chars=0)
    _body(
        doc,
        f"现将{bulletin.period.label}（{_day(bulletin.period.start)}至{_day(bulletin.period.end)}）"
        "督查督办事项办理、差错、问责及激励情况通报如下：",
    )
    parts = (
        ("总体情况", _summary),
        ("各单位办理情况", _units),
        ("逾期未办结任务", _overdue),
        ("延期申请", _extensions),
        ("差错通报", _errors),
        ("问责情况", _accountability),
        ("表扬", _commendations),
    )
    for number, (heading, part) in enumerate(parts, start=1):
        _heading(doc, number, heading)
        part(doc, bulletin)
    closing = _body(doc, "请各单位对照通报内容，认真查摆问题，抓紧整改落实，确保各项任务按时保质办结。")
    _signature(doc, bulletin, closing)
    _colophon(doc, bulletin)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
