"""The ledger workbook written: the instructions, one sheet per record type, drop-downs from the scheme."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import tzinfo
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from services.common.xlsx import HEADER_ROW, display_width, finish, head
from services.ledger_book.cells import write_cell
from services.ledger_book.columns import (
    BOOL,
    CHOICE,
    DATE,
    DEADLINE,
    INSTANT,
    INSTRUCTIONS,
    LISTS,
    NUMBER,
    SHEETS,
    TYPE_HELP,
    YEAR,
    Choices,
    Column,
    Sheet,
)

__all__ = ["ledger_workbook"]

FORMATS = {INSTANT: "yyyy-mm-dd hh:mm:ss", DEADLINE: "yyyy-mm-dd hh:mm:ss", DATE: "yyyy-mm-dd", YEAR: "0"}
TEXT_FORMAT = "@"
# Rows of an empty sheet the drop-downs and the text format reach (a county's year is far fewer per sheet
# for the kinds a clerk types by hand; an export's rows are all covered whatever their number).
TEMPLATE_ROWS = 5000
AUTHOR = "考核办"


def ledger_workbook(
    records: Iterable[Mapping[str, Any]], *, choices: Choices, tz: tzinfo, title: str, scheme_note: str = ""
) -> bytes:
    """A workbook of the records (none: the empty template), every sheet present, in the order of SHEETS."""
    by_type: dict[str, list[Mapping[str, Any]]] = {s.record_type: [] for s in SHEETS}
    for record in records:
        rows = by_type.get(str(record.get("type")))
        if rows is not None:
            rows.append(record)
    book = Workbook()
    _instructions(book.active, title=title, scheme_note=scheme_note)
    lists = _lists(book.create_sheet(LISTS), choices)
    for sheet in SHEETS:
        _sheet(book.create_sheet(sheet.name), sheet, by_type[sheet.record_type], choices, tz, title, lists)
    book[LISTS].sheet_state = "hidden"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _instructions(ws: Any, *, title: str, scheme_note: str) -> None:
    ws.title = INSTRUCTIONS
    headers = ("工作表", "列", "必填", "填写要求")
    head(ws, f"{title}：填写说明", headers)
    rows: list[tuple[str, str, str, str]] = [
        ("全部", "", "", "每张工作表第1行为标题，第2行为表头，从第3行起每行一条记录；空行不计。"),
        ("全部", "", "", "导入时全部成功或全部不写入：任何一格有误，整个文件不写入，并指出工作表、行和列。"),
        ("全部", "", "", "下拉列表中为中文名称，也可填代码；单位可填单位代码或单位名称（名称不可重复）。"),
        ("全部", "", "", "时间按考核方案的时区；同一编号再次导入不重复写入，内容改变则报错。"),
    ]
    if scheme_note:
        rows.append(("全部", "", "", scheme_note))
    for sheet in SHEETS:
        rows.append((sheet.name, "", "", sheet.note or f"每行一条{sheet.name}记录"))
        for column in sheet.columns:
            help_text = TYPE_HELP[column.kind] + (f"；{column.note}" if column.note else "")
            rows.append((sheet.name, column.header, "是" if column.required else "否", help_text))
    widths = [display_width(h) for h in headers]
    for r, row in enumerate(rows, start=HEADER_ROW + 1):
        for c, value in enumerate(row, start=1):
            ws.cell(row=r, column=c, value=value)
            widths[c - 1] = max(widths[c - 1], display_width(value))
    finish(ws, widths)


def _lists(ws: Any, choices: Choices) -> dict[str, str]:
    """Each drop-down's labels in a column of the hidden 选项 sheet; the range formula of each."""
    formulas: dict[str, str] = {}
    column = 0
    for name, terms in choices.lists.items():
        if not terms:
            continue
        column += 1
        letter = get_column_letter(column)
        ws.cell(row=1, column=column, value=name)
        for r, label in enumerate(terms.values(), start=2):
            ws.cell(row=r, column=column, value=label)
        formulas[name] = f"{quote_sheetname(LISTS)}!${letter}$2:${letter}${len(terms) + 1}"
    return formulas


def _comment(column: Column, choices: Choices) -> Comment:
    lines = [f"字段：{column.field}", "必填" if column.required else "可不填", TYPE_HELP[column.kind]]
    if column.note:
        lines.append(column.note)
    if column.kind == CHOICE:
        terms = choices.terms(column.choices)
        if terms:
            lines.append("可选：" + "、".join(f"{label}（{code}）" for code, label in terms.items()))
    comment = Comment("\n".join(lines), AUTHOR)
    comment.width, comment.height = 300, 160
    return comment


def _sheet(
    ws: Any,
    sheet: Sheet,
    records: list[Mapping[str, Any]],
    choices: Choices,
    tz: tzinfo,
    title: str,
    lists: Mapping[str, str],
) -> None:
    headers = [c.header for c in sheet.columns]
    head(ws, f"{title}：{sheet.name}", headers)
    widths = [display_width(h) + 2 for h in headers]
    for c, column in enumerate(sheet.columns, start=1):
        ws.cell(row=HEADER_ROW, column=c).comment = _comment(column, choices)
    for r, record in enumerate(records, start=HEADER_ROW + 1):
        for c, column in enumerate(sheet.columns, start=1):
            value = write_cell(column.value(record), column, choices=choices, tz=tz)
            cell = ws.cell(row=r, column=c, value=value)
            if value is not None:
                cell.number_format = FORMATS.get(
                    column.kind, "General" if column.kind == NUMBER else TEXT_FORMAT
                )
            widths[c - 1] = max(widths[c - 1], display_width(value) + (3 if column.kind in FORMATS else 0))
    last = HEADER_ROW + max(len(records), TEMPLATE_ROWS)
    for c, column in enumerate(sheet.columns, start=1):
        letter = get_column_letter(c)
        cells = f"{letter}{HEADER_ROW + 1}:{letter}{last}"
        if column.kind not in FORMATS and column.kind not in (NUMBER, BOOL):
            # Typed ids and periods stay text: 2025-03 is not turned into a date, 001 keeps its zeros.
            ws.column_dimensions[letter].number_format = TEXT_FORMAT
        validation = _validation(column, lists)
        if validation is not None:
            ws.add_data_validation(validation)
            validation.add(cells)
    finish(ws, widths, autofilter=True)


def _validation(column: Column, lists: Mapping[str, str]) -> DataValidation | None:
    if column.kind == BOOL:
        formula = '"是,否"'
    elif column.kind == CHOICE and column.choices in lists:
        formula = "=" + lists[column.choices]
    else:
        return None
    # A warning, not a stop: a code typed instead of its label is accepted by the import.
    return DataValidation(
        type="list",
        formula1=formula,
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="warning",
        errorTitle=column.header,
        error="请从下拉列表中选择；也可填写代码",
        promptTitle=column.header,
        prompt=TYPE_HELP[column.kind],
        showInputMessage=True,
    )
