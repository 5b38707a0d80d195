"""The 公文 page (GB/T 9704-2012) in python-docx: fonts, paragraphs, headings, rules, tables, page set-up."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from docx.document import Document as DocumentObject
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.section import Section
from docx.shared import Length, Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph
from docx.text.run import Run

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


@dataclass(frozen=True)
class Column:
    """A table column: its header, its width and whether its cells are centred."""

    header: str
    width_mm: int
    centred: bool = True


# --- text ------------------------------------------------------------------------------------------


def clean_text(text: str) -> str:
    """Text without the control characters XML cannot hold (a ledger's titles come from anywhere)."""
    return _CONTROL.sub("", text)


def day_text(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


# --- formatting ------------------------------------------------------------------------------------


def set_font(run: Run, name: str, size: Length, *, bold: bool = False, color: RGBColor | None = None) -> None:
    """A run's font for Latin and East-Asian text alike: Word shows 仿宋, not only the ASCII font."""
    run.font.name = name
    run.font.size = size
    run.font.bold = bold
    if color is not None:
        run.font.color.rgb = color
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), name)
    fonts.set(qn("w:cs"), name)


def format_paragraph(
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


def add_paragraph(
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
    format_paragraph(paragraph, align=align, indent_chars=indent_chars)
    if text:
        set_font(paragraph.add_run(clean_text(text)), font, size, bold=bold, color=color)
    return paragraph


def add_body(doc: DocumentObject, text: str) -> Paragraph:
    return add_paragraph(doc, text)


def add_heading(doc: DocumentObject, number: int, text: str) -> Paragraph:
    """A level-1 heading: 黑体 三号, 一、; kept on the page of what follows it."""
    paragraph = add_paragraph(doc, f"{_NUMERALS[number - 1]}、{text}", font=HEADING_FONT)
    paragraph.paragraph_format.keep_with_next = True
    return paragraph


def add_subheading(doc: DocumentObject, number: int, text: str) -> Paragraph:
    """A level-2 heading: 楷体 三号, （一）; kept on the page of what follows it."""
    paragraph = add_paragraph(doc, f"（{_NUMERALS[number - 1]}）{text}", font=SUBHEADING_FONT)
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


def add_border(paragraph: Paragraph, side: str, *, eighths: int, color: str = "000000") -> None:
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


def add_two_ends(doc: DocumentObject, left: str, right: str, *, size: Length, indent: Length) -> Paragraph:
    """One line with text at the left and at the right end of the type area."""
    paragraph = doc.add_paragraph()
    format_paragraph(paragraph, align=WD_ALIGN_PARAGRAPH.LEFT)
    fmt = paragraph.paragraph_format
    fmt.left_indent = indent
    fmt.right_indent = indent
    # Tab stops count from the margin, not the indent: the right end stops one indent short of it.
    fmt.tab_stops.add_tab_stop(Length(TYPE_WIDTH - indent), WD_TAB_ALIGNMENT.RIGHT)
    set_font(paragraph.add_run(f"{left}\t{right}"), BODY_FONT, size)
    return paragraph


def add_table(doc: DocumentObject, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> None:
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
            format_paragraph(
                paragraph,
                align=WD_ALIGN_PARAGRAPH.CENTER if centred else WD_ALIGN_PARAGRAPH.LEFT,
                exact=False,
            )
            text = column.header if r == 0 else "-"
            set_font(paragraph.add_run(text), HEADING_FONT if r == 0 else BODY_FONT, TABLE_SIZE)
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
            t.text = clean_text(value)
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
    set_font(paragraph.add_run("— "), PAGE_FONT, PAGE_SIZE)
    for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "1"), ("end", None)):
        run = paragraph.add_run()
        set_font(run, PAGE_FONT, PAGE_SIZE)
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
    set_font(paragraph.add_run(" —"), PAGE_FONT, PAGE_SIZE)


# --- the page --------------------------------------------------------------------------------------


def set_up_page(doc: DocumentObject) -> Section:
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
    format_paragraph(odd, align=WD_ALIGN_PARAGRAPH.RIGHT, exact=False)
    odd.paragraph_format.right_indent = PAGE_SIZE  # 单页码居右空一字
    _page_number(odd)
    even = section.even_page_footer.paragraphs[0]
    format_paragraph(even, align=WD_ALIGN_PARAGRAPH.LEFT, exact=False)
    even.paragraph_format.left_indent = PAGE_SIZE  # 双页码居左空一字
    _page_number(even)
    return section


def set_default_fonts(doc: DocumentObject) -> None:
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
