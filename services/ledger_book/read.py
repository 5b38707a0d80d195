"""A ledger workbook read into the same records (dicts) JSON lines would give, in dependency order."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import IO, Any

from openpyxl import load_workbook

from services.common.errors import FieldViolation, InvalidArgument
from services.common.vocabulary import Terms
from services.ledger_book.cells import CellError, read_cell
from services.ledger_book.columns import INSTRUCTIONS, LISTS, SHEETS, Choices, Column, Sheet

__all__ = ["XLSX_MAGIC", "Origin", "WorkbookInvalid", "is_workbook", "read_workbook", "where"]

XLSX_MAGIC = b"PK\x03\x04"
# What a workbook may unpack to: a county's year is a few hundred MiB of sheet XML at most, a zip bomb more.
MAX_UNPACKED = 1 << 30
# Rows above the header a sheet may have (the title row, a note).
HEADER_SEARCH = 5
_REQUIRED_MARKS = ("*", "＊", "（必填）", "(必填)")
# Columns clerks keep beside the record that are no field of it: read past, not refused.
IGNORED_HEADERS = frozenset({"序号", "行号"})


class WorkbookInvalid(InvalidArgument):
    """A workbook that breaks a rule: each violation names its sheet, row and column in Chinese."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        super().__init__(violations)
        self.args = ("；".join(f"{v.field}：{v.description}" for v in self.violations),)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Origin:
    """Where a record came from: its sheet, its row, and the header of each of its fields."""

    sheet: str
    row: int
    headers: Mapping[str, str] = field(default_factory=dict)


def where(sheet: str, row: int | None = None, header: str | None = None) -> str:
    """工作表「督办事项」第 5 行「截止时间」: the place a message names."""
    text = f"工作表「{sheet}」"
    if row is not None:
        text += f"第 {row} 行"
    if header:
        text += f"「{header}」"
    return text


def _refuse(place: str, rule: str) -> WorkbookInvalid:
    return WorkbookInvalid([FieldViolation(place, rule)])


def is_workbook(head: bytes) -> bool:
    """Whether a file's first bytes are a zip archive's, as an .xlsx workbook's are."""
    return head.startswith(XLSX_MAGIC)


def _check_archive(source: IO[bytes]) -> None:
    try:
        with zipfile.ZipFile(source) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise _refuse("文件", "不是有效的 Excel 工作簿（.xlsx）") from None
    if unpacked > MAX_UNPACKED:
        raise _refuse("文件", f"解压后超过 {MAX_UNPACKED >> 30} GiB，不予读取")
    source.seek(0)


def _header_name(value: Any) -> str:
    text = str(value).strip() if value is not None else ""
    for mark in _REQUIRED_MARKS:
        text = text.removesuffix(mark).removeprefix(mark).strip()
    return text


def _columns_by_header(sheet: Sheet) -> dict[str, Column]:
    named = {c.header: c for c in sheet.columns}
    return named | {c.field: c for c in sheet.columns if c.field not in named}


def _header(sheet: Sheet, rows: list[tuple[Any, ...]]) -> tuple[int, dict[int, Column]]:
    """The header row's number and each filled column's Column; refused naming what does not fit."""
    known = _columns_by_header(sheet)
    for number, values in enumerate(rows, start=1):
        names = [_header_name(v) for v in values]
        if not any(name in known for name in names):
            continue
        columns: dict[int, Column] = {}
        seen: dict[str, str] = {}
        for index, name in enumerate(names):
            if not name or name in IGNORED_HEADERS:
                continue
            column = known.get(name)
            if column is None:
                expected = "、".join(c.header for c in sheet.columns)
                raise _refuse(where(sheet.name, number, name), f"不是本工作表的列；本表的列：{expected}")
            if column.field in seen:
                raise _refuse(where(sheet.name, number, name), f"与「{seen[column.field]}」是同一列，重复了")
            seen[column.field] = name
            columns[index] = column
        for column in sheet.columns:
            if column.required and column.field not in seen:
                raise _refuse(where(sheet.name, number, column.header), "缺少这一必填列")
        return number, columns
    raise _refuse(where(sheet.name), f"前 {HEADER_SEARCH} 行中没有表头行（如「{sheet.columns[0].header}」）")


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parent_first(
    rows: list[tuple[dict[str, Any], Origin]], parent: str
) -> list[tuple[dict[str, Any], Origin]]:
    """Rows reordered so that a row naming another row of the sheet as its parent comes after it."""
    if not parent or not any(parent in record for record, _ in rows):
        return rows
    by_id = {record.get("id"): i for i, (record, _) in enumerate(rows)}
    placed: set[int] = set()
    ordered: list[tuple[dict[str, Any], Origin]] = []

    def place(i: int, path: set[int]) -> None:
        if i in placed or i in path:
            return  # a cycle is left for the service to refuse, naming the record
        above = by_id.get(rows[i][0].get(parent))
        if above is not None:
            place(above, path | {i})
        placed.add(i)
        ordered.append(rows[i])

    for i in range(len(rows)):
        place(i, set())
    return ordered


def _records(
    sheet: Sheet, values: Iterable[tuple[Any, ...]], *, choices: Choices, units: Terms, tz: tzinfo
) -> list[tuple[dict[str, Any], Origin]]:
    rows = iter(values)
    top = [tuple(row) for _, row in zip(range(HEADER_SEARCH), rows, strict=False)]
    header_row, columns = _header(sheet, top)
    headers = {c.field: c.header for c in columns.values()}
    found: list[tuple[dict[str, Any], Origin]] = []
    remaining: Iterator[tuple[Any, ...]] = iter(top[header_row:])
    for number, row in enumerate(_chain(remaining, rows), start=header_row + 1):
        if all(_empty(v) for v in row):
            continue
        record: dict[str, Any] = {"type": sheet.record_type}
        for index, column in columns.items():
            value = row[index] if index < len(row) else None
            if _empty(value):
                if column.required:
                    raise _refuse(where(sheet.name, number, column.header), "必填，不能为空")
                continue
            try:
                record[column.field] = read_cell(value, column, choices=choices, units=units, tz=tz)
            except CellError as exc:
                raise _refuse(where(sheet.name, number, column.header), str(exc)) from None
        found.append((record, Origin(sheet.name, number, headers)))
    return _parent_first(found, sheet.parent)


def _parents_by_name(
    rows: list[tuple[dict[str, Any], Origin]], known: Terms
) -> list[tuple[dict[str, Any], Origin]]:
    for record, origin in rows:
        parent = record.get("parent")
        if parent is not None and parent not in known:
            codes = [code for code, name in known.items() if name == parent]
            if len(codes) == 1:
                record["parent"] = codes[0]
            elif codes:
                raise _refuse(
                    where(origin.sheet, origin.row, origin.headers.get("parent")),
                    f"“{parent}”是多个单位的名称（{'、'.join(codes)}），请填单位代码",
                )
    return rows


def _chain(first: Iterator[tuple[Any, ...]], rest: Iterator[Any]) -> Iterator[tuple[Any, ...]]:
    yield from first
    for row in rest:
        yield tuple(row)


def read_workbook(
    source: IO[bytes], *, choices: Choices, tz: tzinfo, units: Terms | None = None
) -> list[tuple[dict[str, Any], Origin]]:
    """Every record of the workbook with its origin: units first, then persons, tasks, events, records.

    units: the stored units (code → name), so that a unit may be given by its name; the workbook's own
    单位 sheet adds to them.
    """
    _check_archive(source)
    try:
        book = load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file; all mean the same to a clerk
        raise _refuse("文件", f"无法作为 Excel 工作簿读取（{type(exc).__name__}）") from None
    try:
        names = {s.name: s for s in SHEETS} | {s.record_type: s for s in SHEETS}
        present: dict[str, Any] = {}
        for ws in book.worksheets:
            title = ws.title.strip()
            if title in (INSTRUCTIONS, LISTS):
                continue
            sheet = names.get(title)
            if sheet is None:
                expected = "、".join(s.name for s in SHEETS)
                raise _refuse(
                    where(ws.title), f"不是台账的工作表；台账的工作表：{expected}（另可有「说明」）"
                )
            if sheet.name in present:
                raise _refuse(where(ws.title), f"与另一张工作表同为「{sheet.name}」")
            present[sheet.name] = ws
        known: dict[str, str] = dict(units or {})
        out: list[tuple[dict[str, Any], Origin]] = []
        for sheet in SHEETS:
            ws = present.get(sheet.name)
            if ws is None:
                continue
            rows = _records(sheet, ws.iter_rows(values_only=True), choices=choices, units=known, tz=tz)
            if sheet.record_type == "unit":
                known.update({str(r["id"]): str(r.get("name", "")) for r, _ in rows if "id" in r})
                # A parent named by its name is resolved once the whole sheet's names are known.
                rows = _parent_first(_parents_by_name(rows, known), sheet.parent)
            out += rows
        return out
    finally:
        book.close()
