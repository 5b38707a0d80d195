"""Bringing a ledger in: import a file of JSON Lines, write the sample county's."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from kaohe.gateway.v1 import gateway_pb2

from services.cli import render
from services.cli.client import EXIT_OK, Client, Refused, emit, request_id
from services.cli.options import Commands, command
from services.common import settings
from services.ledger_book.read import is_workbook

PIECE = 1 << 20


def _pieces(source: BinaryIO, size: int = PIECE) -> Iterator[bytes]:
    """The file in pieces of size bytes, read as they are sent: never held whole."""
    while piece := source.read(size):
        yield piece


def _progress(lines: int, size: int, sent: int, started: float, *, workbook: bool = False) -> None:
    """Lines sent and lines per second, on one line of the terminal (stderr); a workbook's share only."""
    elapsed = max(time.monotonic() - started, 1e-6)
    share = f"{100 * sent / size:.0f}%" if size else "100%"
    if workbook:
        sys.stderr.write(f"\r上传 Excel 台账 {share}")
    else:
        sys.stderr.write(f"\r上传 {lines:,} 行，{lines / elapsed:,.0f} 行/秒（{share}）")
    sys.stderr.flush()


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        source = path.open("rb")
    except OSError as exc:
        raise Refused(f"无法读取 {path}：{exc.strerror}") from None
    client = Client(args)
    size = path.stat().st_size
    show_progress = sys.stderr.isatty() and not args.json
    # A workbook has no lines to count: the gateway reads it into lines (services/gateway/workbook_import).
    workbook = is_workbook(source.peek(4)[:4])  # peeked, not read: the file may be a pipe

    def stream() -> Iterator[Any]:
        started, lines, sent = time.monotonic(), 0, 0
        for index, piece in enumerate(itertools.chain(_pieces(source), [b""] if size == 0 else [])):
            lines += piece.count(b"\n")
            sent += len(piece)
            if show_progress:
                _progress(
                    lines + (1 if sent == size and not piece.endswith(b"\n") else 0),
                    size,
                    sent,
                    started,
                    workbook=workbook,
                )
            yield gateway_pb2.ImportLedgerRequest(
                validate_only=args.validate_only and index == 0,
                request_id=request_id() if index == 0 else "",
                data=piece,
            )
        if show_progress:
            sys.stderr.write("\n")

    with source:
        reply = client.call(client.gateway.ImportLedger, stream(), timeout=1800)
    created, unchanged = dict(reply.created), dict(reply.unchanged)
    document = {
        "lines": reply.lines,
        "created": created,
        "unchanged": unchanged,
        "validate_only": args.validate_only,
    }
    emit(args, document, lambda: render.import_summary(document))
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    from services.cli.sample import sample_county, served_until, write_jsonl
    from services.common.scheme import load_scheme

    text = Path(args.scheme).read_text(encoding="utf-8")
    scheme = load_scheme(text)
    year = args.year or scheme.year
    records = sample_county(scheme_text=text, year=year, until=served_until(tz=scheme.tz, year=year))
    write_jsonl(records, args.out)
    print(f"样例县台账已写入 {args.out}（{len(records)} 条记录）")
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """import, sample."""
    p = command(
        commands,
        "import",
        "导入台账（JSON Lines 文件或 Excel 台账 .xlsx），全部成功或全部不写入",
        common=common,
    )
    p.add_argument(
        "file",
        help="台账文件：JSON Lines（每行一个 JSON 对象）或 Excel 台账（kaohe ledger template 生成的格式）",
    )
    p.add_argument("--validate-only", action="store_true", help="只校验，不写入")
    p.set_defaults(func=cmd_import)

    p = command(commands, "sample", "生成样例县的台账文件")
    p.add_argument(
        "--scheme",
        default=str(settings.DEFAULT_SCHEME),
        help=f"考核方案文件（默认 {settings.DEFAULT_SCHEME}）",
    )
    p.add_argument("--year", type=int, help="台账年度（默认方案的年度）")
    p.add_argument("--out", required=True, help="写入的文件")
    p.set_defaults(func=cmd_sample)
