"""The annual assessment: compute a run, show it, list runs, publish (公示) and finalise (定档)."""

from __future__ import annotations

import argparse
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

from kaohe.common.v1 import common_pb2
from kaohe.scoring.v1 import scoring_pb2

from services.cli import render
from services.cli.client import EXIT_OK, Client, Refused, Usage, document_of, emit, plain, request_id
from services.cli.labels import served_scheme, unit_code
from services.cli.options import Commands, command, group
from services.common.protoenum import enum_code
from services.common.wiretime import rfc3339_of


def cmd_assess_run(args: argparse.Namespace) -> int:
    scheme_text = ""
    if args.scheme:
        try:
            scheme_text = Path(args.scheme).read_text(encoding="utf-8")
        except OSError as exc:
            raise Refused(f"无法读取考核方案 {args.scheme}：{exc.strerror}") from None
    client = Client(args)
    reply = client.call(
        client.scoring.CreateRun,
        scoring_pb2.CreateRunRequest(
            request_id=request_id(),
            year=args.year,
            as_of=args.as_of or "",
            scheme_toml=scheme_text,
            supersedes=args.supersedes or "",
            omit_breakdown=True,
        ),
        timeout=600,
    )
    document = document_of(reply.run)
    emit(args, document, lambda: f"考核运行 {reply.run.id} 已生成（草稿）\n" + render.results(document))
    return EXIT_OK


def cmd_assess_show(args: argparse.Namespace) -> int:
    if not args.run and not args.year:
        raise Usage("assess show 需要 --run ID 或 --year Y")
    client = Client(args)
    reply = client.call(
        client.scoring.GetRun,
        scoring_pb2.GetRunRequest(id=args.run or "", year=args.year or 0, unit=unit_code(client, args.unit)),
    )
    document = document_of(reply.run)
    emit(args, document, lambda: render.results(document, detail=bool(args.unit)))
    return EXIT_OK


RUN_INSTANTS = ("as_of", "created_at", "published_at", "finalized_at", "appeal_deadline")


def run_json(run: scoring_pb2.Run, tz: tzinfo) -> dict[str, Any]:
    """A run as `--json` prints it: its state a code, its instants RFC 3339 in the scheme's zone."""
    data = plain(run)
    data.pop("result", None)
    if "state" in data:
        data["state"] = enum_code(common_pb2.RunState.DESCRIPTOR, run.state)
    for field in RUN_INSTANTS:
        if field in data:
            data[field] = rfc3339_of(run, field, tz)
    return data


def cmd_assess_list(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(client.scoring.ListRuns, scoring_pb2.ListRunsRequest(year=args.year or 0))
    tz = served_scheme(client).tz if reply.runs else UTC
    runs = [run_json(r, tz) for r in reply.runs]
    emit(args, {"runs": runs}, lambda: render.runs(runs))
    return EXIT_OK


def _run_action(args: argparse.Namespace, method: str, label: str) -> int:
    client = Client(args)
    request = getattr(scoring_pb2, f"{method}Request")(request_id=request_id(), id=args.run)
    reply = client.call(getattr(client.scoring, method), request).run
    data = run_json(reply, served_scheme(client).tz)
    deadline = data.get("appeal_deadline")
    extra = f"，申诉截止 {deadline}" if deadline and reply.state == common_pb2.RUN_STATE_PUBLICISED else ""
    emit(args, data, lambda: f"考核运行 {reply.id}：{label}{extra}")
    return EXIT_OK


def cmd_assess_publish(args: argparse.Namespace) -> int:
    return _run_action(args, "PublishRun", "已公示")


def cmd_assess_finalize(args: argparse.Namespace) -> int:
    return _run_action(args, "FinalizeRun", "已定档")


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """assess run, show, list, publish, finalize."""
    assess = group(commands, "assess", "年度考核：计算、查看、公示、定档")
    p = command(assess, "run", "计算一次考核（草稿），按类别排名", common=common)
    p.add_argument("--year", type=int, required=True, help="考核年度")
    p.add_argument("--scheme", help="考核方案文件（TOML；默认服务当前的方案）")
    p.add_argument(
        "--as-of",
        help="考核时点：日期或时间（ISO 8601，不带时区按方案的时区；"
        "默认取年度末 12月31日 23:59:59 与现在中较早的）",
    )
    p.add_argument("--supersedes", help="更正的考核运行编号（已公示或已定档的运行）")
    p.set_defaults(func=cmd_assess_run)

    p = command(assess, "show", "查看一次考核的结果及每一分的来由", common=common)
    p.add_argument("--run", help="考核运行编号")
    p.add_argument("--year", type=int, help="考核年度（取该年度最新的运行）")
    p.add_argument("--unit", help="只看这个单位（代码或名称），附得分明细")
    p.set_defaults(func=cmd_assess_show)

    p = command(assess, "list", "列出考核运行", common=common)
    p.add_argument("--year", type=int, help="只列这一年度")
    p.set_defaults(func=cmd_assess_list)

    for name, func, summary in (
        ("publish", cmd_assess_publish, "公示考核结果（申诉期开始）"),
        ("finalize", cmd_assess_finalize, "定档（全年运行，申诉期满、申诉均已处理、计入的反馈均已核查）"),
    ):
        p = command(assess, name, summary, common=common)
        p.add_argument("--run", required=True, help="考核运行编号")
        p.set_defaults(func=func)
