"""结果运用: `kaohe results notice`, `kaohe results letters` and `kaohe results excellent`."""

from __future__ import annotations

import argparse
from pathlib import Path

from kaohe.gateway.v1 import accounts_pb2, gateway_pb2

from services.cli.client import EXIT_OK, Client, Refused, emit
from services.cli.options import Commands, command, group
from services.common.text import check_id

TIMEOUT = 180.0


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise Refused(f"无法写入 {path}：{exc.strerror}") from None


def letter_name(unit: str) -> str:
    """<unit id>.docx; an id is free text (FORMATS.md), so a separator or a dot name cannot leave DIR."""
    name = unit.replace("/", "_").replace("\\", "_")
    if name in ("", ".", ".."):
        name = "_" + name
    return f"{name}.docx"


def cmd_notice(args: argparse.Namespace) -> int:
    client = Client(args)
    request = gateway_pb2.GetResultNoticeRequest(run=check_id("--run", args.run))
    reply = client.call(client.gateway.GetResultNotice, request, timeout=TIMEOUT)
    out = Path(args.out)
    _write(out, reply.content)
    emit(
        args,
        {"run": reply.run, "title": reply.title, "out": str(out), "bytes": len(reply.content)},
        lambda: f"已生成{reply.title} → {out}",
    )
    return EXIT_OK


def cmd_letters(args: argparse.Namespace) -> int:
    client = Client(args)
    run = check_id("--run", args.run)
    if args.unit:
        units = [check_id("--unit", args.unit)]
    else:
        me = client.call(client.gateway.WhoAmI, gateway_pb2.WhoAmIRequest())
        if me.role == accounts_pb2.ROLE_DEPARTMENT:
            units = [me.unit]
        else:
            ranking = client.call(client.gateway.GetRanking, gateway_pb2.GetRankingRequest(run=run))
            units = [row.unit for category in ranking.categories for row in category.rows]
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Refused(f"无法创建目录 {out}：{exc.strerror}") from None
    written = []
    for unit in units:
        reply = client.call(
            client.gateway.GetResultLetter,
            gateway_pb2.GetResultLetterRequest(run=run, unit=unit),
            timeout=TIMEOUT,
        )
        path = out / letter_name(reply.unit)
        _write(path, reply.content)
        written.append(
            {"unit": reply.unit, "title": reply.title, "out": str(path), "bytes": len(reply.content)}
        )
    emit(
        args,
        {"run": run, "letters": written},
        lambda: f"已生成 {len(written)} 份考核结果反馈 → {out}/",
    )
    return EXIT_OK


def cmd_excellent(args: argparse.Namespace) -> int:
    client = Client(args)
    request = gateway_pb2.GetExcellentListRequest(run=check_id("--run", args.run))
    reply = client.call(client.gateway.GetExcellentList, request, timeout=TIMEOUT)
    out = Path(args.out)
    _write(out, reply.content)
    emit(
        args,
        {"run": reply.run, "title": reply.title, "out": str(out), "bytes": len(reply.content)},
        lambda: f"已生成{reply.title} → {out}",
    )
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """results notice, results letters, results excellent."""
    results = group(commands, "results", "结果运用：考核结果通报、反馈、优秀名单")
    p = command(results, "notice", "生成考核结果通报（Word 文档，公文格式）：各类别单位按等次", common=common)
    p.add_argument("--run", required=True, help="运行编号")
    p.add_argument("--out", required=True, help="写入的 .docx 文件")
    p.set_defaults(func=cmd_notice)
    p = command(
        results,
        "letters",
        "生成考核结果反馈：每个单位一份 DIR/<单位代码>.docx，列明总分、等次、名次及每一项得失分和原因",
        common=common,
    )
    p.add_argument("--run", required=True, help="运行编号")
    p.add_argument("--out", required=True, help="写入的目录")
    p.add_argument("--unit", help="只生成一个单位的反馈（单位账号只能生成本单位的）")
    p.set_defaults(func=cmd_letters)
    p = command(results, "excellent", "导出优秀单位名单（CSV，供评先评优）", common=common)
    p.add_argument("--run", required=True, help="运行编号")
    p.add_argument("--out", required=True, help="写入的 .csv 文件")
    p.set_defaults(func=cmd_excellent)
