"""The ledger as the office keeps it: the empty Excel template, and every stored record exported."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from kaohe.gateway.v1 import gateway_pb2

from services.cli.client import EXIT_OK, Client, Refused, Usage, emit
from services.cli.labels import served_scheme
from services.cli.options import Commands, command, group
from services.common.scheme import Scheme
from services.common.vocabulary import LEDGER_LINE_TYPES, label_of
from services.ledger_book.columns import choices_of
from services.ledger_book.write import ledger_workbook

FORMATS = (".xlsx", ".jsonl")
EXPORT_TIMEOUT = 1800.0


def write_file(path: Path, data: bytes) -> None:
    """The file written whole or not at all: a reader never sees half a workbook."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise Refused(f"无法写入 {path}：{exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(name, 0o644)
        os.replace(name, path)
    except OSError as exc:
        Path(name).unlink(missing_ok=True)
        raise Refused(f"无法写入 {path}：{exc.strerror}") from None


def _book_title(scheme: Scheme) -> str:
    return f"{scheme.name}台账"


def _scheme_note(scheme: Scheme) -> str:
    return f"考核方案：{scheme.name}（{scheme.id}，{scheme.year} 年度），时区 {scheme.timezone}。"


def _format(out: str) -> str:
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise Usage(f"--out 须以 {' 或 '.join(FORMATS)} 结尾，得到 {out!r}")
    return suffix


def cmd_template(args: argparse.Namespace) -> int:
    if Path(args.out).suffix.lower() != ".xlsx":
        raise Usage(f"--out 须以 .xlsx 结尾，得到 {args.out!r}")
    scheme = served_scheme(Client(args))
    data = ledger_workbook(
        [],
        choices=choices_of(scheme),
        tz=scheme.tz,
        title=_book_title(scheme),
        scheme_note=_scheme_note(scheme),
    )
    write_file(Path(args.out), data)
    emit(
        args,
        {"out": args.out, "scheme": scheme.id},
        lambda: f"台账模板已写入 {args.out}（方案 {scheme.name}）",
    )
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    suffix = _format(args.out)
    client = Client(args)
    lines: list[str] = []
    for reply in client.call(client.gateway.ExportLedger, gateway_pb2.ExportLedgerRequest(), EXPORT_TIMEOUT):
        lines.extend(reply.lines)
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]
    if suffix == ".jsonl":
        data = "".join(line + "\n" for line in lines).encode()
    else:
        scheme = served_scheme(client)
        data = ledger_workbook(
            records,
            choices=choices_of(scheme),
            tz=scheme.tz,
            title=_book_title(scheme),
            scheme_note=_scheme_note(scheme),
        )
    write_file(Path(args.out), data)
    counts = Counter(str(r.get("type")) for r in records)
    document = {"out": args.out, "records": dict(counts), "total": len(records)}
    summary = "，".join(f"{label_of(LEDGER_LINE_TYPES, k)} {v}" for k, v in counts.items()) or "无记录"
    emit(args, document, lambda: f"已导出 {len(records)} 条记录到 {args.out}：{summary}")
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """ledger template, ledger export."""
    ledger = group(commands, "ledger", "Excel 台账：空白模板、导出全部记录")
    p = command(
        ledger, "template", "生成空白的 Excel 台账模板（含填写说明和方案中的下拉选项）", common=common
    )
    p.add_argument("--out", required=True, help="写入的 .xlsx 文件")
    p.set_defaults(func=cmd_template)

    p = command(ledger, "export", "导出已存储的全部记录（.xlsx 或 .jsonl），可再导入", common=common)
    p.add_argument("--out", required=True, help="写入的文件：.xlsx（Excel 台账）或 .jsonl（JSON Lines）")
    p.set_defaults(func=cmd_export)
