"""延期申请: `kaohe extensions list|request|decide` — a unit asks in advance, the office decides."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, cast

from kaohe.tasks.v1 import tasks_pb2

from services.cli import render
from services.cli.client import EXIT_OK, Client, Usage, emit, request_id
from services.cli.labels import scheme_zone, typed_code
from services.cli.options import Commands, command, group, listed, term
from services.common.paging import every
from services.common.vocabulary import EXTENSION_STATES, ROLES
from services.common.wire_json import in_zone, wire_plain
from services.common.wire_text import as_text

PAGE = 1000
EVENTS = {"filed": "申请", "decided": "审批"}


def when(text: str) -> str:
    """2026-12-20 18:00 for an RFC 3339 instant, as people write one."""
    return text[:16].replace("T", " ")


def _who(step: Mapping[str, str]) -> str:
    role = ROLES.get(step.get("actor_role", ""), step.get("actor_role", ""))
    unit = step.get("actor_unit", "")
    return f"{role} {unit}".strip()


def timeline(steps: list[Mapping[str, str]]) -> str:
    """The timeline in one cell: 申请 2026-12-01 09:30 单位 fgj → 审批 2026-12-02 10:00 考核办 已批准."""
    parts = []
    for step in steps:
        event = step.get("event", "")
        text = f"{EVENTS.get(event, event)} {when(step.get('at', ''))} {_who(step)}"
        if step.get("outcome"):
            text += f" {EXTENSION_STATES.get(step['outcome'], step['outcome'])}"
        parts.append(text)
    return " → ".join(parts)


def cmd_list(args: argparse.Namespace) -> int:
    client = Client(args)
    request = tasks_pb2.ListExtensionsRequest(
        unit=args.unit or "",
        state=cast(
            tasks_pb2.ExtensionState, typed_code(tasks_pb2.ExtensionState.DESCRIPTOR, args.state, "state")
        ),
        task_id=args.task or "",
        year=args.year or 0,
        page_size=PAGE,
    )
    listed = every(
        lambda r: client.call(client.tasks.ListExtensions, r), request, lambda reply: reply.extensions
    )
    zone = scheme_zone(client) if listed else None
    found: list[dict[str, Any]] = [wire_plain(e, instant=in_zone(zone)) for e in listed] if zone else []
    rows = [
        [
            e["id"],
            e.get("task_id", ""),
            e.get("task_title", ""),
            e.get("unit", ""),
            when(e.get("due_before", "")),
            when(e.get("asked_due", "")),
            e.get("reason", ""),
            EXTENSION_STATES.get(e.get("state", ""), e.get("state", "")),
            when(e.get("granted_due", "")),
            e.get("decision_reason", ""),
            timeline(e.get("timeline", [])),
        ]
        for e in found
    ]
    headers = [
        "申请",
        "任务",
        "事项",
        "单位",
        "原时限",
        "申请延至",
        "理由",
        "状态",
        "批准延至",
        "审批意见",
        "经过",
    ]
    emit(
        args,
        {"extensions": found},
        lambda: render.table(headers, rows) + f"\n共 {len(found)} 项延期申请",
    )
    return EXIT_OK


def cmd_request(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(
        client.tasks.FileExtension,
        tasks_pb2.FileExtensionRequest(
            request_id=args.request_id or request_id(),
            task_id=args.task,
            due_at=args.due,
            reason=args.reason,
            id=args.id or "",
        ),
    )
    made = as_text(reply, scheme_zone(client)).extension
    emit(
        args,
        wire_plain(reply.extension, instant=in_zone(scheme_zone(client))),
        lambda: (
            f"已提出延期申请 {made.id}：任务 {made.task_id} 由 {when(made.due_before)} "
            f"申请延至 {when(made.asked_due)}，待考核办审批"
        ),
    )
    return EXIT_OK


def cmd_decide(args: argparse.Namespace) -> int:
    if args.approve == args.refuse:
        raise Usage("请在 --approve（批准）与 --refuse（不予批准）中选一个")
    if args.refuse and not (args.reason or "").strip():
        raise Usage("不予批准须用 --reason 写明理由")
    if args.refuse and args.due:
        raise Usage("不予批准时不用 --due")
    client = Client(args)
    reply = client.call(
        client.tasks.DecideExtension,
        tasks_pb2.DecideExtensionRequest(
            request_id=args.request_id or request_id(),
            id=args.id,
            decision="approved" if args.approve else "refused",
            due_at=args.due or "",
            reason=args.reason or "",
        ),
    )
    made = as_text(reply, scheme_zone(client)).extension
    if made.state == "approved":
        summary = f"延期申请 {made.id}：已批准，任务 {made.task_id} 的办结时限延至 {when(made.granted_due)}"
    else:
        summary = (
            f"延期申请 {made.id}：{EXTENSION_STATES.get(made.state, made.state)}（{made.decision_reason}）"
        )
    emit(args, wire_plain(reply.extension, instant=in_zone(scheme_zone(client))), lambda: summary)
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """extensions list, request, decide."""
    extensions = group(
        commands, "extensions", "延期申请：牵头单位在办结时限前说明原因申请延期，考核办批准或不予批准"
    )
    p = command(extensions, "list", "列出延期申请及其经过（单位账号只看本单位的）", common=common)
    p.add_argument("--unit", help="单位代码（单位账号默认本单位）")
    p.add_argument(
        "--status",
        dest="state",
        type=term(EXTENSION_STATES, what="申请状态"),
        help=f"状态：{listed(EXTENSION_STATES)}",
    )
    p.add_argument("--task", help="只看这项任务的申请")
    p.add_argument("--year", type=int, help="申请的年度")
    p.set_defaults(func=cmd_list)

    p = command(
        extensions, "request", "就本单位牵头的一项任务申请延期（须在现行办结时限之前）", common=common
    )
    p.add_argument("--task", required=True, help="任务编号")
    p.add_argument(
        "--due",
        required=True,
        help="申请延至的时间：2026-12-20（当日 23:59:59）、2026-12-20 18:00、2026年12月20日18时",
    )
    p.add_argument("--reason", required=True, help="不能按时完成的原因和目前进展")
    p.add_argument("--id", help="申请编号（默认自动编号 YQ<年度>-<序号>）")
    p.add_argument("--request-id", help="幂等键：同一键重复提交只生效一次")
    p.set_defaults(func=cmd_request)

    p = command(extensions, "decide", "考核办审批一项延期申请（批准即记入任务的延期）", common=common)
    p.add_argument("--id", required=True, help="延期申请编号")
    p.add_argument("--approve", action="store_true", help="批准")
    p.add_argument("--refuse", action="store_true", help="不予批准（须写理由）")
    p.add_argument("--due", help="批准延至的时间，默认按申请；写法同 request --due")
    p.add_argument("--reason", help="审批意见；不予批准时必填")
    p.add_argument("--request-id", help="幂等键：同一键重复提交只生效一次")
    p.set_defaults(func=cmd_decide)
