"""What people look at: the live overview, a unit's dashboard, a run's ranking, the Excel export."""

from __future__ import annotations

import argparse
from pathlib import Path

from kaohe.gateway.v1 import gateway_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.cli import levels, render
from services.cli.client import EXIT_OK, Client, Refused, emit
from services.cli.labels import unit_code
from services.cli.options import Commands, command
from services.common.paging import every
from services.common.wire_json import county_plain, in_utc, wire_plain


def cmd_overview(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(client.gateway.GetOverview, gateway_pb2.GetOverviewRequest(year=args.year or 0))
    data = county_plain(reply, reply.time_zone)
    data.pop("etag", None)  # a key for clients that keep answers, not part of what is shown
    parents = unit_parents(client)
    for unit in data.get("units", []):
        unit["parent"] = parents.get(unit["unit"], "")
    emit(args, data, lambda: levels.overview(data, parents))
    return EXIT_OK


def unit_parents(client: Client) -> dict[str, str]:
    """unit id → its parent unit ("" when none), as the caller may list them."""
    request = tasks_pb2.ListUnitsRequest(page_size=5000)
    units = every(lambda r: client.call(client.tasks.ListUnits, r), request, lambda reply: reply.units)
    return {u.id: u.parent for u in units}


def cmd_dashboard(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(
        client.gateway.GetDashboard,
        gateway_pb2.GetDashboardRequest(unit=unit_code(client, args.unit), year=args.year or 0),
    )
    data = county_plain(reply, reply.time_zone)
    data.pop("etag", None)  # as for the overview
    emit(args, data, lambda: render.dashboard(data))
    return EXIT_OK


def cmd_ranking(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(
        client.gateway.GetRanking, gateway_pb2.GetRankingRequest(run=args.run or "", year=args.year or 0)
    )
    data = wire_plain(reply, instant=in_utc, always_print_fields_with_no_presence=True)
    emit(args, data, lambda: render.ranking(data))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(
        client.gateway.ExportRun,
        gateway_pb2.ExportRunRequest(run=args.run, unit=unit_code(client, args.unit)),
    )
    out = Path(args.out)
    try:
        out.write_bytes(reply.xlsx)
    except OSError as exc:
        raise Refused(f"无法写入 {out}：{exc.strerror}") from None
    emit(
        args,
        {"run": args.run, "out": str(out), "bytes": len(reply.xlsx)},
        lambda: f"已导出考核结果 {args.run} → {out}",
    )
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """overview, dashboard, ranking, export."""
    p = command(commands, "overview", "各单位的实时态势（考核办视角）", common=common)
    p.add_argument("--year", type=int, help="年度（默认今年）")
    p.set_defaults(func=cmd_overview)

    p = command(commands, "dashboard", "一个单位的实时态势与在办事项", common=common)
    p.add_argument("--unit", help="单位代码或名称（单位令牌默认其本单位）")
    p.add_argument("--year", type=int, help="年度（默认今年）")
    p.set_defaults(func=cmd_dashboard)

    p = command(commands, "ranking", "一次考核按类别的排名", common=common)
    p.add_argument("--run", help="考核运行编号")
    p.add_argument("--year", type=int, help="年度（取该年度最新的运行）")
    p.set_defaults(func=cmd_ranking)

    p = command(commands, "export", "把考核结果表导出为 Excel", common=common)
    p.add_argument("--run", required=True, help="考核运行编号")
    p.add_argument("--out", required=True, help="写入的 .xlsx 文件")
    p.add_argument("--unit", help="只导出一个单位（单位令牌默认其本单位，且须已公示）")
    p.set_defaults(func=cmd_export)
