"""A ledger uploaded as an Excel workbook: read into JSON lines, imported as they are, errors named by cell.

The workbook becomes a spooled file of JSON lines in dependency order and goes through the very import a
JSON Lines file takes (services/gateway/importing.py): all or nothing, the same checks. A refusal names
its line and field; each line is mapped back to its sheet and row, each field to its column's header.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from contextlib import ExitStack
from typing import IO, Any

from kaohe.gateway.v1 import gateway_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.common.auth import Identity
from services.common.errors import FieldViolation, InvalidArgument
from services.common.files import spooled
from services.common.paging import every
from services.ledger_book.columns import choices_of
from services.ledger_book.read import Origin, WorkbookInvalid, is_workbook, read_workbook, where

__all__ = ["import_workbook", "is_workbook_upload", "name_cells"]

_LINE = re.compile(r"^line (\d+)(?::\s*(.*))?$")
PAGE = 1000


# The compound file an Excel 97–2003 workbook (.xls) is: not read, but named for what it is.
LEGACY_MAGIC = b"\xd0\xcf\x11\xe0"


def is_workbook_upload(spool: IO[bytes]) -> bool:
    """Whether the spooled upload is a workbook (a zip archive) rather than JSON lines."""
    spool.seek(0)
    head = spool.read(4)
    spool.seek(0)
    if head == LEGACY_MAGIC:
        raise WorkbookInvalid(
            [FieldViolation("文件", "是旧版 Excel 工作簿（.xls）；请在 Excel 中另存为 .xlsx 后导入")]
        )
    return is_workbook(head)


def name_cells(exc: InvalidArgument, origins: Sequence[Origin]) -> WorkbookInvalid:
    """A refusal of the JSON lines, its `line N: field` places named as sheet, row and column."""
    violations = []
    for violation in exc.violations:
        match = _LINE.match(violation.field)
        if match is None or not 1 <= int(match.group(1)) <= len(origins):
            violations.append(FieldViolation(violation.field, violation.description))
            continue
        origin = origins[int(match.group(1)) - 1]
        name = (match.group(2) or "").strip()
        # A nested place (co_units[2]) is named by its column.
        header = origin.headers.get(re.split(r"[\[.]", name, maxsplit=1)[0]) if name else None
        place = where(origin.sheet, origin.row, header or (name or None))
        violations.append(FieldViolation(place, violation.description))
    return WorkbookInvalid(violations)


def _stored_units(app: Any, identity: Identity, timeout: float) -> dict[str, str]:
    def call(request: tasks_pb2.ListUnitsRequest) -> Any:
        return app._call(app.backends.tasks, "ListUnits", request, identity, timeout)

    units = every(call, tasks_pb2.ListUnitsRequest(page_size=PAGE), lambda reply: reply.units)
    return {u.id: u.name for u in units}


def import_workbook(
    app: Any, source: IO[bytes], *, identity: Identity, validate_only: bool, timeout: float
) -> gateway_pb2.ImportLedgerResponse:
    """The workbook read (labels and names by the scheme and the stored units), then imported as lines."""
    scheme = app.scheme(identity, timeout)
    rows = read_workbook(
        source, choices=choices_of(scheme), tz=scheme.tz, units=_stored_units(app, identity, timeout)
    )
    with ExitStack() as stack:
        lines = stack.enter_context(spooled(app.imports.spool_dir))
        for record, _ in rows:
            lines.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
        lines.flush()
        try:
            reply: gateway_pb2.ImportLedgerResponse = app.import_ledger(
                lines, identity=identity, validate_only=validate_only, timeout=timeout
            )
        except InvalidArgument as exc:
            raise name_cells(exc, [origin for _, origin in rows]) from None
    return reply
