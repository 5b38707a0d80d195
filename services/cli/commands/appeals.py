"""Appeals (申诉) and 容错 applications: `kaohe appeals list|file|decide`, `kaohe tolerance …`."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, date, tzinfo
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.descriptor import EnumDescriptor
from kaohe.scoring.v1 import scoring_pb2

from services.cli import render
from services.cli.client import EXIT_OK, Client, emit, request_id
from services.cli.labels import served_scheme, unit_code
from services.cli.options import Commands, command, group, listed, term
from services.common.appeal_labels import (
    APPEAL_STATES,
    APPEAL_TARGETS,
    APPLICATION_DECISIONS,
    APPLICATION_STATES,
    APPLICATION_TARGETS,
    EVENTS,
    actor_label,
    outcome_label,
)
from services.common.paging import every
from services.common.protoenum import enum_code, enum_number
from services.common.wire_json import in_zone, wire_plain

UPHELD = {"yes": "成立", "no": "不成立"}
STATE = scoring_pb2.ApplicationState.DESCRIPTOR
PAGE = 1000


def _timeline(events: list[Mapping[str, str]]) -> str:
    """A timeline in one cell: 提出 2026-01-05 单位 fgj → 裁决 2026-01-08 考核办 免责."""
    steps = []
    for event in events:
        step = f"{EVENTS.get(event.get('event', ''), event.get('event', ''))} {event.get('at', '')[:10]} "
        step += actor_label(
            {"actor_role": event.get("actor_role", ""), "actor_unit": event.get("actor_unit", "")}
        )
        if event.get("outcome"):
            step += f" {outcome_label(event['outcome'])}"
        steps.append(step)
    return " → ".join(steps)


def _label(terms: Mapping[str, str], code: str) -> str:
    return terms.get(code, code)


def _number(enum: EnumDescriptor, code: str, field: str) -> Any:
    """The enum value of the code the parser gave ("" is unspecified), for a request."""
    return enum_number(enum, code, field=field)


def _json(client: Client, message: Any, tz: tzinfo | None = None) -> dict[str, Any]:
    """A record, an appeal or an application as `--json` prints it: codes, instants in the scheme's zone."""
    return wire_plain(message, instant=in_zone(tz or served_scheme(client).tz))


def _all(client: Client, call: Any, request: Any, field: str) -> list[dict[str, Any]]:
    listed = every(call, request, lambda reply: getattr(reply, field))
    zone = served_scheme(client).tz if listed else UTC
    return [_json(client, m, zone) for m in listed]


def cmd_appeals_list(args: argparse.Namespace) -> int:
    client = Client(args)
    request = scoring_pb2.ListAppealsRequest(
        unit=unit_code(client, args.unit),
        year=args.year or 0,
        state=_number(scoring_pb2.AppealState.DESCRIPTOR, args.state or "", "state"),
        page_size=PAGE,
    )
    appeals = _all(client, lambda r: client.call(client.scoring.ListAppeals, r), request, "appeals")
    rows = [
        [
            a["id"],
            a.get("unit", ""),
            f"{_label(APPEAL_TARGETS, a.get('target_type', ''))} {a.get('target', '')}",
            a.get("reason", ""),
            _label(APPEAL_STATES, a.get("state", "")),
            a.get("decision_reason", ""),
            _timeline(a.get("timeline", [])),
        ]
        for a in appeals
    ]
    headers = ["申诉", "单位", "所申诉的记录", "理由", "状态", "裁决理由", "经过"]
    emit(args, {"appeals": appeals}, lambda: render.table(headers, rows) + f"\n共 {len(appeals)} 项申诉")
    return EXIT_OK


def cmd_appeals_file(args: argparse.Namespace) -> int:
    client = Client(args)
    fields = struct_pb2.Struct()
    fields.update(
        {
            "id": args.id,
            "target_type": args.target_type,
            "target": args.target,
            "date": args.date or date.today().isoformat(),
            "reason": args.reason,
        }
    )
    record = client.call(
        client.scoring.CreateRecord,
        scoring_pb2.CreateRecordRequest(
            request_id=args.request_id or request_id(), kind=scoring_pb2.RECORD_KIND_APPEAL, fields=fields
        ),
    ).record
    emit(args, _json(client, record), lambda: f"已提出申诉 {record.id}（{record.unit}），待考核办裁决")
    return EXIT_OK


def cmd_appeals_decide(args: argparse.Namespace) -> int:
    client = Client(args)
    record = client.call(
        client.scoring.DecideAppeal,
        scoring_pb2.DecideAppealRequest(
            request_id=args.request_id or request_id(),
            id=args.id,
            upheld=args.upheld == "yes",
            reason=args.reason,
        ),
    ).record
    emit(args, _json(client, record), lambda: f"申诉 {record.id}：{UPHELD[args.upheld]}")
    return EXIT_OK


def cmd_tolerance_list(args: argparse.Namespace) -> int:
    client = Client(args)
    request = scoring_pb2.ListApplicationsRequest(
        unit=unit_code(client, args.unit),
        year=args.year or 0,
        state=_number(STATE, args.state or "", "state"),
        page_size=PAGE,
    )
    found = _all(client, lambda r: client.call(client.scoring.ListApplications, r), request, "applications")
    rows = [
        [
            a["id"],
            a.get("unit", ""),
            a.get("year", ""),
            f"{_label(APPLICATION_TARGETS, a.get('target_type', ''))} {a.get('target', '')}",
            a.get("reason", ""),
            _label(APPLICATION_STATES, a.get("state", "")),
            a.get("decision_reason", ""),
            _timeline(a.get("timeline", [])),
        ]
        for a in found
    ]
    headers = ["申请", "单位", "年度", "对象", "理由", "状态", "裁决理由", "经过"]
    emit(args, {"applications": found}, lambda: render.table(headers, rows) + f"\n共 {len(found)} 项容错申请")
    return EXIT_OK


def cmd_tolerance_apply(args: argparse.Namespace) -> int:
    client = Client(args)
    made = client.call(
        client.scoring.FileApplication,
        scoring_pb2.FileApplicationRequest(
            request_id=args.request_id or request_id(),
            id=args.id or "",
            unit=unit_code(client, args.unit),
            target_type=_number(
                scoring_pb2.ApplicationTargetType.DESCRIPTOR, args.target_type, field="target_type"
            ),
            target=args.target,
            reason=args.reason,
        ),
    ).application
    data = _json(client, made)
    emit(args, data, lambda: f"已提出容错申请 {made.id}（{made.unit}，{made.year} 年度），待考核办裁决")
    return EXIT_OK


def cmd_tolerance_decide(args: argparse.Namespace) -> int:
    client = Client(args)
    made = client.call(
        client.scoring.DecideApplication,
        scoring_pb2.DecideApplicationRequest(
            request_id=args.request_id or request_id(),
            id=args.id,
            decision=_number(STATE, args.decision, "decision"),
            reason=args.reason,
        ),
    ).application
    state = enum_code(STATE, made.state)
    note = "，已记入容错纠错记录" if state != "refused" else ""
    emit(args, _json(client, made), lambda: f"容错申请 {made.id}：{APPLICATION_STATES[state]}{note}")
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """appeals list, file, decide; tolerance list, apply, decide."""
    _register_appeals(commands, common)
    _register_tolerance(commands, common)


def _register_appeals(commands: Commands, common: argparse.ArgumentParser) -> None:
    appeals = group(commands, "appeals", "申诉：单位对本单位的差错通报或问责记录提出申诉，考核办裁决")
    p = command(appeals, "list", "列出申诉及其经过（单位账号只看本单位的）", common=common)
    p.add_argument("--unit", help="单位代码或名称（单位账号默认本单位）")
    p.add_argument("--year", type=int, help="所申诉记录的年度")
    p.add_argument(
        "--state", type=term(APPEAL_STATES, what="申诉状态"), help=f"状态：{listed(APPEAL_STATES)}"
    )
    p.set_defaults(func=cmd_appeals_list)

    p = command(
        appeals, "file", "对本单位的一条差错通报或问责记录提出申诉（仅在公示申诉期内）", common=common
    )
    p.add_argument("id", help="申诉编号（自定，如 SS2025-001）")
    p.add_argument(
        "--target-type",
        type=term(APPEAL_TARGETS, what="申诉对象类别"),
        default="error_report",
        help=f"所申诉记录的类别：{listed(APPEAL_TARGETS)}，默认差错通报",
    )
    p.add_argument("--target", required=True, help="所申诉记录的编号")
    p.add_argument("--reason", required=True, help="申诉理由")
    p.add_argument("--date", help="申诉日期 YYYY-MM-DD，默认今天")
    p.add_argument("--request-id", help="幂等键：同一键重复提交只生效一次")
    p.set_defaults(func=cmd_appeals_file)

    p = command(appeals, "decide", "考核办裁决一项申诉（成立则撤销所申诉的记录）", common=common)
    p.add_argument("id", help="申诉编号")
    p.add_argument(
        "--upheld", type=term(UPHELD, what="裁决"), required=True, help=f"申诉是否成立：{listed(UPHELD)}"
    )
    p.add_argument("--reason", required=True, help="裁决理由")
    p.add_argument("--request-id", help="幂等键：同一键重复提交只生效一次")
    p.set_defaults(func=cmd_appeals_decide)


def _register_tolerance(commands: Commands, common: argparse.ArgumentParser) -> None:
    tolerance = group(commands, "tolerance", "容错申请：单位就本单位的任务或差错通报申请容错，考核办裁决")
    p = command(tolerance, "list", "列出容错申请及其经过（单位账号只看本单位的）", common=common)
    p.add_argument("--unit", help="单位代码或名称（单位账号默认本单位）")
    p.add_argument("--year", type=int, help="考核年度")
    p.add_argument(
        "--state", type=term(APPLICATION_STATES, what="申请状态"), help=f"状态：{listed(APPLICATION_STATES)}"
    )
    p.set_defaults(func=cmd_tolerance_list)

    p = command(tolerance, "apply", "就本单位的一项任务或一条差错通报申请容错", common=common)
    p.add_argument(
        "--target-type",
        type=term(APPLICATION_TARGETS, what="容错对象类别"),
        required=True,
        help=f"申请容错的对象：{listed(APPLICATION_TARGETS)}",
    )
    p.add_argument("--target", required=True, help="任务编号或差错通报编号")
    p.add_argument("--reason", required=True, help="申请理由")
    p.add_argument("--unit", help="申请单位（考核办代为登记时填写；单位账号默认本单位）")
    p.add_argument("--id", help="申请编号（默认自动编号 RC<年度>-<序号>，即所生成容错纠错记录的编号）")
    p.add_argument("--request-id", help="幂等键：同一键重复提交只生效一次")
    p.set_defaults(func=cmd_tolerance_apply)

    p = command(tolerance, "decide", "考核办裁决一项容错申请（免责、减轻记入容错纠错记录）", common=common)
    p.add_argument("id", help="申请编号")
    p.add_argument(
        "--decision",
        type=term(APPLICATION_DECISIONS, what="裁决"),
        required=True,
        help=f"裁决：{listed(APPLICATION_DECISIONS)}",
    )
    p.add_argument("--reason", required=True, help="裁决理由")
    p.add_argument("--request-id", help="幂等键：同一键重复提交只生效一次")
    p.set_defaults(func=cmd_tolerance_decide)
