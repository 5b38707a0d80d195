"""Assessment records: add, list and void them; the office decides appeals."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, tzinfo
from typing import Any

from google.protobuf import struct_pb2
from kaohe.scoring.v1 import scoring_pb2

from services.cli import render
from services.cli.client import EXIT_OK, Client, Refused, emit, request_id
from services.cli.labels import record_codes, served_scheme, unit_code
from services.cli.options import Commands, command, group, listed, term
from services.common.paging import every
from services.common.protoenum import enum_code, enum_number
from services.common.vocabulary import (
    ACCOUNTABILITY_KINDS,
    ERROR_CATEGORIES,
    INCENTIVE_LEVELS,
    RECORD_KIND_LABELS,
    SEVERITIES,
    TOLERANCE_DECISIONS,
    label_of,
)
from services.common.wire_json import in_zone, wire_plain

DECISIONS = {"yes": "成立", "no": "不成立"}
RECORD_KIND = scoring_pb2.RecordKind.DESCRIPTOR


def record_json(record: scoring_pb2.Record, tz: tzinfo) -> dict[str, Any]:
    """A record as `--json` prints it: its kind a code, its instant RFC 3339 in the scheme's zone."""
    return wire_plain(record, instant=in_zone(tz))


def kind_number(code: str) -> Any:
    """The RecordKind of a kind's code (the parser gave the code; "" is unspecified)."""
    return enum_number(RECORD_KIND, code, field="kind")


# The fields of each kind, for `records add --help` (a field followed by ? may be left out).
FIELDS = {
    "error_report": f"id unit date category（{listed(ERROR_CATEGORIES)}）severity（{listed(SEVERITIES)}）"
    "description",
    "metric_reading": "unit metric period，以及 value 或 numerator + denominator",
    "incentive": f"id unit date level（{listed(INCENTIVE_LEVELS)}）reason",
    "tolerance": f"id unit target_type（task｜error_report）target decision（{listed(TOLERANCE_DECISIONS)}）"
    "date reason",
    "accountability": f"id unit date kind（{listed(ACCOUNTABILITY_KINDS)}）reason "
    "person?（当事人：人员代码或姓名）decided_by?（决定机关）",
    "appeal": "id target_type（error_report｜accountability，默认 error_report）target date upheld? reason",
    "target": "unit metric year target floor?（单位在目标责任书中的年度目标）",
}


def _fields_help() -> str:
    lines = [f"  {kind}（{label}）：{FIELDS[kind]}" for kind, label in RECORD_KIND_LABELS.items()]
    return (
        "各类记录的字段（带 ? 的可省略；日期为 YYYY-MM-DD）：\n"
        + "\n".join(lines)
        + "\n详见 docs/ 中的使用手册。"
    )


def cmd_records_add(args: argparse.Namespace) -> int:
    try:
        fields = json.loads(args.fields)
    except json.JSONDecodeError as exc:
        raise Refused(f"--fields 不是 JSON：{exc.msg}") from None
    if not isinstance(fields, dict):
        raise Refused("--fields 必须是一个 JSON 对象")
    client = Client(args)
    message = struct_pb2.Struct()
    message.update(record_codes(client, args.kind, fields))
    record = client.call(
        client.scoring.CreateRecord,
        scoring_pb2.CreateRecordRequest(
            request_id=args.request_id or request_id(), kind=kind_number(args.kind), fields=message
        ),
    ).record
    data = record_json(record, served_scheme(client).tz)
    kind = enum_code(RECORD_KIND, record.kind)
    emit(args, data, lambda: f"已记录 {label_of(RECORD_KIND_LABELS, kind)} {record.id}")
    return EXIT_OK


def cmd_records_list(args: argparse.Namespace) -> int:
    client = Client(args)
    request = scoring_pb2.ListRecordsRequest(
        kind=kind_number(args.kind or ""),
        unit=unit_code(client, args.unit),
        year=args.year or 0,
        include_voided=args.all,
        page_size=5000,
    )
    listed = every(lambda r: client.call(client.scoring.ListRecords, r), request, lambda reply: reply.records)
    zone = served_scheme(client).tz if listed else UTC
    records: list[dict[str, object]] = [record_json(r, zone) for r in listed]
    emit(args, {"records": records}, lambda: render.records(records))
    return EXIT_OK


def cmd_records_void(args: argparse.Namespace) -> int:
    client = Client(args)
    record = client.call(
        client.scoring.VoidRecord,
        scoring_pb2.VoidRecordRequest(
            request_id=request_id(), kind=kind_number(args.kind), id=args.id, reason=args.reason
        ),
    ).record
    data = record_json(record, served_scheme(client).tz)
    kind = enum_code(RECORD_KIND, record.kind)
    emit(args, data, lambda: f"已作废 {label_of(RECORD_KIND_LABELS, kind)} {record.id}")
    return EXIT_OK


def cmd_appeal_decide(args: argparse.Namespace) -> int:
    client = Client(args)
    record = client.call(
        client.scoring.DecideAppeal,
        scoring_pb2.DecideAppealRequest(
            request_id=request_id(), id=args.id, upheld=args.upheld == "yes", reason=args.reason
        ),
    )
    data = wire_plain(record, instant=in_zone(served_scheme(client).tz))
    emit(args, data, lambda: f"申诉 {record.id}：{DECISIONS[args.upheld]}")
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """records add, list, void, decide-appeal."""
    kinds = listed(RECORD_KIND_LABELS)
    records = group(commands, "records", "考核记录：差错通报、指标值、激励、容错纠错、问责、申诉、目标责任")
    p = command(records, "add", "新增一条考核记录", common=common)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = _fields_help()
    p.add_argument("kind", type=term(RECORD_KIND_LABELS, what="记录类别"), help=f"记录类别：{kinds}")
    p.add_argument(
        "--fields",
        required=True,
        help="记录的字段，一个 JSON 对象（各类的字段见下；单位和各项选项写代码或中文名称均可）",
    )
    p.add_argument("--request-id", help="幂等键：同一键重复提交只生效一次")
    p.set_defaults(func=cmd_records_add)

    p = command(records, "list", "列出考核记录", common=common)
    p.add_argument("--kind", type=term(RECORD_KIND_LABELS, what="记录类别"), help=f"记录类别：{kinds}")
    p.add_argument("--unit", help="单位代码或名称")
    p.add_argument("--year", type=int, help="年度")
    p.add_argument("--all", action="store_true", help="连同已作废的记录")
    p.set_defaults(func=cmd_records_list)

    p = command(records, "void", "作废一条考核记录", common=common)
    p.add_argument("kind", type=term(RECORD_KIND_LABELS, what="记录类别"), help=f"记录类别：{kinds}")
    p.add_argument("id", help="记录编号")
    p.add_argument("--reason", required=True, help="作废理由")
    p.set_defaults(func=cmd_records_void)

    p = command(records, "decide-appeal", "考核办裁决一项申诉", common=common)
    p.add_argument("id", help="申诉编号")
    p.add_argument(
        "--upheld",
        type=term(DECISIONS, what="裁决"),
        required=True,
        help=f"申诉是否成立：{listed(DECISIONS)}（成立则撤销所申诉的记录）",
    )
    p.add_argument("--reason", required=True, help="裁决理由")
    p.set_defaults(func=cmd_appeal_decide)
