"""How every workbook Kaohe writes is laid out: a title row, bold frozen headers, widths, A4 landscape."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties

__all__ = ["HEADER_ROW", "display_width", "finish", "head"]

# Row 1 is the sheet's title, row 2 its headers, data from row 3.
HEADER_ROW = 2
TITLE_FONT = Font(bold=True, size=14)
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
MIN_WIDTH, MAX_WIDTH = 8, 60


def display_width(text: Any) -> int:
    """Columns a text takes in a sheet: a Chinese character two, others one (the widest line)."""
    if text is None:
        return 0
    lines = str(text).splitlines() or [""]
    return max(sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line) for line in lines)


def head(ws: Any, title: str, headers: Sequence[str]) -> None:
    """The title row across the sheet's columns, then the bold, centred header row."""
    ws.cell(row=1, column=1, value=title).font = TITLE_FONT
    if len(headers) > 1:
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    ws.row_dimensions[1].height = 24
    for c, header in enumerate(headers, start=1):
        cell = ws.cell(row=HEADER_ROW, column=c, value=header)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def finish(ws: Any, widths: Sequence[int], *, autofilter: bool = False) -> None:
    """Widths, headers frozen and printed atop every page, one page wide, A4 landscape, filters."""
    for c, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = min(MAX_WIDTH, max(MIN_WIDTH, width + 2))
    ws.freeze_panes = ws.cell(row=HEADER_ROW + 1, column=1).coordinate
    ws.print_title_rows = f"1:{HEADER_ROW}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    # 0: as many pages down as the rows need (only the width is fitted).
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_options.horizontalCentered = True
    if autofilter and widths:
        last = get_column_letter(len(widths))
        ws.auto_filter.ref = f"A{HEADER_ROW}:{last}{max(ws.max_row, HEADER_ROW + 1)}"
