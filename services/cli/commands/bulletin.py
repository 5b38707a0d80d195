"""The supervision bulletin (督查通报) of a period, written as a Word document: `kaohe bulletin`."""

from __future__ import annotations

import argparse
from pathlib import Path

from kaohe.gateway.v1 import gateway_pb2

from services.bulletin.period import MAX_ISSUE, PeriodInvalid, parse_period
from services.cli.client import EXIT_OK, Client, Refused, Usage, emit
from services.cli.options import Commands, command


def cmd_bulletin(args: argparse.Namespace) -> int:
    try:
        period = parse_period(args.period)
    except PeriodInvalid as exc:
        raise Usage(f"--period {args.period!r}：{exc.violations[0].description}") from None
    if args.issue is not None and not 1 <= args.issue <= MAX_ISSUE:
        raise Usage(f"--issue {args.issue}：期号应为 1 至 {MAX_ISSUE} 的整数")
    client = Client(args)
    reply = client.call(
        client.gateway.GetBulletin,
        gateway_pb2.GetBulletinRequest(period=period.code, as_of=args.as_of or "", issue=args.issue or 0),
        timeout=180,
    )
    out = Path(args.out)
    try:
        out.write_bytes(reply.docx)
    except OSError as exc:
        raise Refused(f"无法写入 {out}：{exc.strerror}") from None
    number = f"（第{reply.issue}期{'，' + reply.doc_number if reply.doc_number else ''}）"
    emit(
        args,
        {
            "period": reply.period,
            "title": reply.title,
            "issue": reply.issue,
            "doc_number": reply.doc_number,
            "out": str(out),
            "bytes": len(reply.docx),
        },
        lambda: f"已生成{reply.title}{number} → {out}",
    )
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """bulletin."""
    p = command(commands, "bulletin", "生成一个时段的督查通报（Word 文档，公文格式）", common=common)
    p.add_argument("--period", required=True, help="时段：YYYY-MM（月）、YYYY-Qn（季度）或 YYYY（年）")
    p.add_argument("--out", required=True, help="写入的 .docx 文件")
    p.add_argument("--as-of", help="按此时刻的办理情况统计（带时区的 ISO 8601 时间，默认现在）")
    p.add_argument(
        "--issue",
        type=int,
        help="期号 N（第N期，文号中的序号）；不填：本时段本年已有的期号，否则本年下一个期号",
    )
    p.set_defaults(func=cmd_bulletin)
