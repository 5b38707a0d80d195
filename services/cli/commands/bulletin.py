"""The supervision bulletin (督查通报) of a period, written as a Word document: `kaohe bulletin`."""

from __future__ import annotations

import argparse
from pathlib import Path

from kaohe.gateway.v1 import gateway_pb2

from services.bulletin.period import PeriodInvalid, parse_period
from services.cli.client import EXIT_OK, Client, Refused, Usage, emit
from services.cli.options import Commands, command


def cmd_bulletin(args: argparse.Namespace) -> int:
    try:
        period = parse_period(args.period)
    except PeriodInvalid as exc:
        raise Usage(f"--period {args.period!r}：{exc.violations[0].description}") from None
    client = Client(args)
    reply = client.call(
        client.gateway.GetBulletin,
        gateway_pb2.GetBulletinRequest(period=period.code, as_of=args.as_of or ""),
        timeout=180,
    )
    out = Path(args.out)
    try:
        out.write_bytes(reply.docx)
    except OSError as exc:
        raise Refused(f"无法写入 {out}：{exc.strerror}") from None
    emit(
        args,
        {"period": reply.period, "title": reply.title, "out": str(out), "bytes": len(reply.docx)},
        lambda: f"已生成{reply.title} → {out}",
    )
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """bulletin."""
    p = command(commands, "bulletin", "生成一个时段的督查通报（Word 文档，公文格式）", common=common)
    p.add_argument("--period", required=True, help="时段：YYYY-MM（月）、YYYY-Qn（季度）或 YYYY（年）")
    p.add_argument("--out", required=True, help="写入的 .docx 文件")
    p.add_argument("--as-of", help="按此时刻的办理情况统计（带时区的 ISO 8601 时间，默认现在）")
    p.set_defaults(func=cmd_bulletin)
