"""The `kaohe` command line: serve the stack, and drive it through the gateway."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import grpc
from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from kaohe.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

from services.cli import render
from services.common import settings as settings_mod
from services.common.auth import Keys, load_secret, make_user_identity
from services.common.clients import MAX_MESSAGE_BYTES
from services.common.errors import DomainError

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
TIMEOUT = 120.0


class Refused(Exception):
    """The command could not be done; the message says why (exit 1)."""


class Usage(Exception):
    """The command line itself is wrong: a missing or malformed argument (exit 2)."""


class Client:
    """Stubs for the three APIs served by the gateway, with the caller's bearer token."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.address = args.gateway or os.environ.get("KAOHE_GATEWAY") or "127.0.0.1:50050"
        self.token = args.token or os.environ.get("KAOHE_TOKEN") or _self_minted_token(args)
        self.channel = grpc.insecure_channel(
            self.address,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        self.gateway = gateway_pb2_grpc.GatewayServiceStub(self.channel)
        self.tasks = tasks_pb2_grpc.TasksServiceStub(self.channel)
        self.scoring = scoring_pb2_grpc.ScoringServiceStub(self.channel)

    def call(self, method: Callable[..., Any], request: Any, timeout: float = TIMEOUT) -> Any:
        metadata = (("authorization", f"Bearer {self.token}"),) if self.token else ()
        return method(request, metadata=metadata, timeout=timeout)


def _self_minted_token(args: argparse.Namespace) -> str:
    """An office token minted from the data dir's secret, when the caller has it (the operator)."""
    try:
        secret = load_secret(_data_dir(args), create=False)
    except (DomainError, OSError):
        return ""
    return Keys(secret).user_token(make_user_identity(role="office", unit=None, subject="cli"))


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "data_dir", None) or os.environ.get("KAOHE_DATA_DIR") or "var").resolve()


def _request_id() -> str:
    return uuid.uuid4().hex


def _emit(args: argparse.Namespace, document: Any, text: Callable[[], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(document, ensure_ascii=False, indent=1))
    else:
        print(text())


def _task_json(task: Any) -> dict[str, Any]:
    return {
        "id": task.id,
        "title": task.title,
        "task_type": task.task_type,
        "lead_unit": task.lead_unit,
        "co_units": list(task.co_units),
        "priority": task.priority,
        "state": task.state,
        "assigned_at": task.assigned_at or None,
        "due_at": task.due_at or None,
        "reported_at": task.reported_at or None,
        "color": task.color or None,
        "outcome": task.outcome or None,
        "holder": task.holder or None,
        "source": task.source,
        "next_progress_due": task.next_progress_due or None,
        "etag": task.etag,
    }


# ---- commands: serving


def cmd_serve(args: argparse.Namespace) -> int:
    from services.cli.serve import serve

    return serve(data_dir=args.data_dir, port_base=args.port_base, scheme=args.scheme, sample=args.sample)


def cmd_serve_one(args: argparse.Namespace) -> int:
    from services.cli.serve import serve_one

    return serve_one(
        args.service,
        port=args.port,
        metrics_port=args.metrics_port,
        data_dir=args.data_dir,
        scheme=args.scheme,
    )


def cmd_status(args: argparse.Namespace) -> int:
    address = args.gateway or os.environ.get("KAOHE_GATEWAY") or "127.0.0.1:50050"
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65534:
        raise Usage(
            f"--gateway {address!r}: must be HOST:PORT, the gateway's port (its services listen on "
            "PORT+1 and PORT+2)"
        )
    base = int(port)
    rows = []
    all_up = True
    for name, target in (
        ("gateway", f"{host}:{base}"),
        ("tasks", f"{host}:{base + 1}"),
        ("scoring", f"{host}:{base + 2}"),
    ):
        status = "UNREACHABLE"
        try:
            with grpc.insecure_channel(target) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=3
                )
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError:
            pass
        all_up = all_up and status == "SERVING"
        rows.append({"service": name, "address": target, "status": status})
    _emit(
        args,
        {"services": rows},
        lambda: render.table(
            ["服务", "地址", "状态"],
            [[r["service"], r["address"], render.HEALTH.get(r["status"], r["status"])] for r in rows],
        ),
    )
    return EXIT_OK if all_up else EXIT_UNREACHABLE


def cmd_token(args: argparse.Namespace) -> int:
    if args.role == "department" and not args.unit:
        raise Usage("--role department needs --unit ID (the unit the token is bound to)")
    if args.role != "department" and args.unit:
        raise Usage(f"--unit is only for --role department; a {args.role} token is not bound to a unit")
    identity = make_user_identity(role=args.role, unit=args.unit, subject=args.subject)
    secret = load_secret(_data_dir(args), create=False)
    print(Keys(secret).user_token(identity, ttl_seconds=int(args.ttl_hours * 3600)))
    return EXIT_OK


# ---- commands: import, assessment


def _pieces(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror}") from None
    client = Client(args)
    pieces = list(_pieces(data)) or [b""]
    show_progress = sys.stderr.isatty() and len(pieces) > 1 and not args.json

    def stream() -> Iterator[Any]:
        for index, piece in enumerate(pieces):
            if show_progress:
                render.progress(index + 1, len(pieces), "上传")
            yield gateway_pb2.ImportLedgerRequest(
                validate_only=args.validate_only and index == 0,
                request_id=_request_id() if index == 0 else "",
                data=piece,
            )

    reply = client.call(client.gateway.ImportLedger, stream(), timeout=1800)
    created, unchanged = dict(reply.created), dict(reply.unchanged)
    document = {
        "lines": reply.lines,
        "created": created,
        "unchanged": unchanged,
        "validate_only": args.validate_only,
    }
    _emit(args, document, lambda: render.import_summary(document))
    return EXIT_OK


def _document(reply: Any) -> dict[str, Any]:
    return dict(json.loads(reply.document_json)) if reply.document_json else {}


def cmd_assess_run(args: argparse.Namespace) -> int:
    scheme_text = ""
    if args.scheme:
        try:
            scheme_text = Path(args.scheme).read_text(encoding="utf-8")
        except OSError as exc:
            raise Refused(f"cannot read scheme {args.scheme}: {exc.strerror}") from None
    client = Client(args)
    reply = client.call(
        client.scoring.CreateRun,
        scoring_pb2.CreateRunRequest(
            request_id=_request_id(),
            year=args.year,
            as_of=args.as_of or "",
            scheme_toml=scheme_text,
            supersedes=args.supersedes or "",
            omit_breakdown=True,
        ),
        timeout=600,
    )
    document = _document(reply)
    _emit(args, document, lambda: f"考核运行 {reply.id} 已生成（草稿）\n" + render.results(document))
    return EXIT_OK


def cmd_assess_show(args: argparse.Namespace) -> int:
    if not args.run and not args.year:
        raise Usage("assess show needs --run ID or --year Y")
    client = Client(args)
    reply = client.call(
        client.scoring.GetRun,
        scoring_pb2.GetRunRequest(id=args.run or "", year=args.year or 0, unit=args.unit or ""),
    )
    document = _document(reply)
    _emit(args, document, lambda: render.results(document, detail=bool(args.unit)))
    return EXIT_OK


def cmd_assess_list(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(client.scoring.ListRuns, scoring_pb2.ListRunsRequest(year=args.year or 0))
    runs = [_plain(r) for r in reply.runs]
    _emit(args, {"runs": runs}, lambda: render.runs(runs))
    return EXIT_OK


def _run_action(args: argparse.Namespace, method: str, label: str) -> int:
    client = Client(args)
    reply = client.call(
        getattr(client.scoring, method), scoring_pb2.RunActionRequest(request_id=_request_id(), id=args.run)
    )
    data = _plain(reply)
    data.pop("document_json", None)
    extra = (
        f"，申诉截止 {reply.appeal_deadline}" if reply.appeal_deadline and reply.state == "publicised" else ""
    )
    _emit(args, data, lambda: f"考核运行 {reply.id}：{label}{extra}")
    return EXIT_OK


def cmd_assess_publish(args: argparse.Namespace) -> int:
    return _run_action(args, "PublishRun", "已公示")


def cmd_assess_finalize(args: argparse.Namespace) -> int:
    return _run_action(args, "FinalizeRun", "已定档")


# ---- commands: tasks


def cmd_tasks_list(args: argparse.Namespace) -> int:
    client = Client(args)
    request = tasks_pb2.ListTasksRequest(
        unit=args.unit or "",
        color=args.color or "",
        year=args.year or 0,
        state=args.state or "",
        task_type=args.type or "",
        overdue=args.overdue,
        page_size=args.page_size,
        page_token=args.page_token or "",
    )
    tasks: list[Any] = []
    as_of = ""
    while True:
        reply = client.call(client.tasks.ListTasks, request)
        tasks += list(reply.tasks)
        as_of = as_of or reply.as_of
        token = reply.next_page_token
        # --page-token (even an empty one, the first page) asks for one page and its successor's token.
        if args.page_token is not None or not token:
            break
        request.page_token = token
    rows = [_task_json(t) for t in tasks]
    document = {
        "as_of": as_of or None,
        "tasks": rows,
        "next_page_token": token if args.page_token is not None else "",
    }
    _emit(args, document, lambda: render.tasks(rows))
    return EXIT_OK


def cmd_tasks_show(args: argparse.Namespace) -> int:
    client = Client(args)
    task = client.call(client.tasks.GetTask, tasks_pb2.GetTaskRequest(id=args.id))
    document = _task_json(task) | {
        "state_label": task.state_label,
        "task_type_name": task.task_type_name,
        "history": [
            {"seq": e.seq, "kind": e.kind, "at": e.at, "by": e.by, "note": e.note, "rejected": e.rejected}
            for e in task.history
        ],
    }
    _emit(args, document, lambda: render.task_detail(document))
    return EXIT_OK


def cmd_tasks_create(args: argparse.Namespace) -> int:
    client = Client(args)
    task = client.call(
        client.tasks.CreateTask,
        tasks_pb2.CreateTaskRequest(
            request_id=args.request_id or _request_id(),
            id=args.id or "",
            title=args.title,
            task_type=args.type,
            lead_unit=args.lead,
            co_units=args.co or [],
            priority=args.priority or "",
            source=args.source or "",
            due_at=args.due_at or "",
            assign_now=args.assign,
            note=args.note or "",
        ),
    )
    document = _task_json(task)
    _emit(
        args,
        document,
        lambda: (
            f"已立项 {task.id}（{task.state_label}）"
            + (f"，应于 {task.due_at} 前反馈" if task.due_at else "")
        ),
    )
    return EXIT_OK


ACTIONS = {
    "assign": ("AssignTask", "交办"),
    "accept": ("AcceptTask", "承办"),
    "progress": ("ReportProgress", "进展"),
    "report": ("ReportTask", "反馈"),
    "verify": ("VerifyTask", "核查"),
    "reject": ("RejectTask", "退回"),
    "close": ("CloseTask", "销号"),
    "cancel": ("CancelTask", "撤销"),
}


def cmd_tasks_act(args: argparse.Namespace) -> int:
    method, label = ACTIONS[args.action]
    client = Client(args)
    task = client.call(
        getattr(client.tasks, method),
        tasks_pb2.TaskActionRequest(
            request_id=args.request_id or _request_id(),
            id=args.id,
            etag=args.etag or "",
            note=args.note or "",
        ),
    )
    document = _task_json(task)
    _emit(args, document, lambda: f"{label}：{task.id} 现为{task.state_label}")
    return EXIT_OK


# ---- commands: records, views, export


def cmd_records_add(args: argparse.Namespace) -> int:
    try:
        fields = json.loads(args.fields)
    except json.JSONDecodeError as exc:
        raise Refused(f"--fields is not JSON: {exc.msg}") from None
    if not isinstance(fields, dict):
        raise Refused("--fields must be a JSON object")
    message = struct_pb2.Struct()
    message.update(fields)
    client = Client(args)
    record = client.call(
        client.scoring.CreateRecord,
        scoring_pb2.CreateRecordRequest(
            request_id=args.request_id or _request_id(), kind=args.kind, fields=message
        ),
    )
    data = _plain(record)
    _emit(args, data, lambda: f"已记录 {render.KIND.get(record.kind, record.kind)} {record.id}")
    return EXIT_OK


def cmd_records_list(args: argparse.Namespace) -> int:
    client = Client(args)
    request = scoring_pb2.ListRecordsRequest(
        kind=args.kind or "",
        unit=args.unit or "",
        year=args.year or 0,
        include_voided=args.all,
        page_size=5000,
    )
    records: list[dict[str, Any]] = []
    while True:
        reply = client.call(client.scoring.ListRecords, request)
        records += [_plain(r) for r in reply.records]
        if not reply.next_page_token:
            break
        request.page_token = reply.next_page_token
    _emit(args, {"records": records}, lambda: render.records(records))
    return EXIT_OK


def cmd_records_void(args: argparse.Namespace) -> int:
    client = Client(args)
    record = client.call(
        client.scoring.VoidRecord,
        scoring_pb2.VoidRecordRequest(
            request_id=_request_id(), kind=args.kind, id=args.id, reason=args.reason
        ),
    )
    data = _plain(record)
    _emit(args, data, lambda: f"已作废 {render.KIND.get(record.kind, record.kind)} {record.id}")
    return EXIT_OK


def cmd_appeal_decide(args: argparse.Namespace) -> int:
    client = Client(args)
    record = client.call(
        client.scoring.DecideAppeal,
        scoring_pb2.DecideAppealRequest(
            request_id=_request_id(), id=args.id, upheld=args.upheld == "yes", reason=args.reason
        ),
    )
    data = _plain(record)
    _emit(args, data, lambda: f"申诉 {record.id}：{'成立' if args.upheld == 'yes' else '不成立'}")
    return EXIT_OK


def cmd_overview(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(client.gateway.GetOverview, gateway_pb2.GetOverviewRequest(year=args.year or 0))
    data = _plain(reply, always_print_fields_with_no_presence=True)
    _emit(args, data, lambda: render.overview(data))
    return EXIT_OK


def cmd_dashboard(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(
        client.gateway.GetDashboard, gateway_pb2.GetDashboardRequest(unit=args.unit, year=args.year or 0)
    )
    data = _plain(reply, always_print_fields_with_no_presence=True)
    _emit(args, data, lambda: render.dashboard(data))
    return EXIT_OK


def cmd_ranking(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(
        client.gateway.GetRanking, gateway_pb2.GetRankingRequest(run=args.run or "", year=args.year or 0)
    )
    data = _plain(reply, always_print_fields_with_no_presence=True)
    _emit(args, data, lambda: render.ranking(data))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(client.gateway.ExportRun, gateway_pb2.ExportRunRequest(run=args.run))
    out = Path(args.out)
    try:
        out.write_bytes(reply.xlsx)
    except OSError as exc:
        raise Refused(f"cannot write {out}: {exc.strerror}") from None
    _emit(
        args,
        {"run": args.run, "out": str(out), "bytes": len(reply.xlsx)},
        lambda: f"已导出考核结果 {args.run} → {out}",
    )
    return EXIT_OK


def cmd_whoami(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(client.gateway.WhoAmI, gateway_pb2.WhoAmIRequest())
    data = _plain(reply)
    _emit(args, data, lambda: f"{reply.subject}（{render.ROLE.get(reply.role, reply.role)}）{reply.unit}")
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    from services.cli.sample import sample_county, write_jsonl

    text = Path(args.scheme).read_text(encoding="utf-8")
    import tomllib

    year = args.year or tomllib.loads(text)["scheme"]["year"]
    records = sample_county(scheme_text=text, year=year)
    write_jsonl(records, args.out)
    print(f"样例县台账已写入 {args.out}（{len(records)} 条记录）")
    return EXIT_OK


# ---- the parser


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--gateway", help="gateway address HOST:PORT (env KAOHE_GATEWAY, default 127.0.0.1:50050)"
    )
    common.add_argument("--token", help="bearer token (env KAOHE_TOKEN)")
    common.add_argument("--data-dir", help="the stack's data directory, for its secret (default ./var)")
    common.add_argument("--json", action="store_true", help="print one JSON document")
    top = argparse.ArgumentParser(prog="kaohe", description="考核 — 年度目标责任考核系统")
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run gateway, tasks and scoring")
    p.add_argument("--data-dir")
    p.add_argument("--port-base", type=int)
    p.add_argument("--scheme")
    p.add_argument("--sample", action="store_true", help="import the sample county when the ledger is empty")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("serve-one", help="run one service (for systemd and Kubernetes)")
    p.add_argument("service", choices=["gateway", "tasks", "scoring"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--metrics-port", type=int, required=True)
    p.add_argument("--data-dir")
    p.add_argument("--scheme")
    p.set_defaults(func=cmd_serve_one)
    p = sub.add_parser("status", parents=[common], help="health of the three services")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("token", parents=[common], help="print a signed token")
    p.add_argument("--role", required=True, choices=["office", "supervisor", "department", "viewer"])
    p.add_argument("--unit")
    p.add_argument("--subject")
    p.add_argument("--ttl-hours", type=float, default=12.0)
    p.set_defaults(func=cmd_token)
    p = sub.add_parser("whoami", parents=[common], help="who the token says you are")
    p.set_defaults(func=cmd_whoami)
    p = sub.add_parser("import", parents=[common], help="import a ledger (JSON Lines)")
    p.add_argument("file")
    p.add_argument("--validate-only", action="store_true")
    p.set_defaults(func=cmd_import)

    assess = sub.add_parser("assess", help="the annual assessment").add_subparsers(
        dest="action", required=True
    )
    p = assess.add_parser("run", parents=[common], help="compute a draft run")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--scheme")
    p.add_argument("--as-of")
    p.add_argument("--supersedes")
    p.set_defaults(func=cmd_assess_run)
    p = assess.add_parser("show", parents=[common], help="a run's results")
    p.add_argument("--run")
    p.add_argument("--year", type=int)
    p.add_argument("--unit")
    p.set_defaults(func=cmd_assess_show)
    p = assess.add_parser("list", parents=[common], help="the runs")
    p.add_argument("--year", type=int)
    p.set_defaults(func=cmd_assess_list)
    for name, func in (("publish", cmd_assess_publish), ("finalize", cmd_assess_finalize)):
        p = assess.add_parser(name, parents=[common])
        p.add_argument("--run", required=True)
        p.set_defaults(func=func)

    tasks = sub.add_parser("tasks", help="the supervision ledger").add_subparsers(
        dest="action", required=True
    )
    p = tasks.add_parser("list", parents=[common])
    p.add_argument("--unit")
    p.add_argument("--color", choices=["blue", "yellow", "red"])
    p.add_argument("--year", type=int)
    p.add_argument("--state")
    p.add_argument("--type")
    p.add_argument("--overdue", action="store_true")
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--page-token", help='one page from this token ("" for the first), with the next token')
    p.set_defaults(func=cmd_tasks_list)
    p = tasks.add_parser("show", parents=[common])
    p.add_argument("id")
    p.set_defaults(func=cmd_tasks_show)
    p = tasks.add_parser("create", parents=[common], help="立项")
    p.add_argument("--id")
    p.add_argument("--title", required=True)
    p.add_argument("--type", required=True)
    p.add_argument("--lead", required=True)
    p.add_argument("--co", action="append")
    p.add_argument("--priority")
    p.add_argument("--source")
    p.add_argument("--due-at")
    p.add_argument("--assign", action="store_true", help="立项 and 交办 at once")
    p.add_argument("--note")
    p.add_argument("--request-id")
    p.set_defaults(func=cmd_tasks_create)
    for action, (_, label) in ACTIONS.items():
        p = tasks.add_parser(action, parents=[common], help=label)
        p.add_argument("id")
        p.add_argument("--note", help="content or reason")
        p.add_argument("--etag")
        p.add_argument("--request-id")
        p.set_defaults(func=cmd_tasks_act, action=action)

    records = sub.add_parser(
        "records", help="error reports, readings, incentives, tolerance, accountability, appeals"
    ).add_subparsers(dest="action", required=True)
    p = records.add_parser("add", parents=[common])
    p.add_argument(
        "kind",
        choices=["error_report", "metric_reading", "incentive", "tolerance", "accountability", "appeal"],
    )
    p.add_argument("--fields", required=True, help="the record's fields as a JSON object (FORMATS.md)")
    p.add_argument("--request-id")
    p.set_defaults(func=cmd_records_add)
    p = records.add_parser("list", parents=[common])
    p.add_argument("--kind")
    p.add_argument("--unit")
    p.add_argument("--year", type=int)
    p.add_argument("--all", action="store_true", help="voided ones too")
    p.set_defaults(func=cmd_records_list)
    p = records.add_parser("void", parents=[common])
    p.add_argument("kind")
    p.add_argument("id")
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_records_void)
    p = records.add_parser("decide-appeal", parents=[common])
    p.add_argument("id")
    p.add_argument("--upheld", choices=["yes", "no"], required=True)
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_appeal_decide)

    p = sub.add_parser("overview", parents=[common], help="every unit's live standing")
    p.add_argument("--year", type=int)
    p.set_defaults(func=cmd_overview)
    p = sub.add_parser("dashboard", parents=[common], help="one unit's live standing and open items")
    p.add_argument("--unit", required=True)
    p.add_argument("--year", type=int)
    p.set_defaults(func=cmd_dashboard)
    p = sub.add_parser("ranking", parents=[common], help="a run's ranking by category")
    p.add_argument("--run")
    p.add_argument("--year", type=int)
    p.set_defaults(func=cmd_ranking)
    p = sub.add_parser("export", parents=[common], help="the result table as Excel")
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("sample", help="write the sample county's ledger")
    p.add_argument("--scheme", default=str(settings_mod.DEFAULT_SCHEME))
    p.add_argument("--year", type=int)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sample)
    return top


_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}


def _plain(message: Message, *, always_print_fields_with_no_presence: bool = False) -> dict[str, Any]:
    """The message as JSON data with counts as numbers (proto JSON writes 64-bit integers as strings)."""
    data = json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=always_print_fields_with_no_presence,
    )
    _int64_as_numbers(message, data)
    return data


def _int64_as_numbers(message: Message, data: dict[str, Any]) -> None:
    for field in message.DESCRIPTOR.fields:
        if field.name not in data:
            continue
        value, repeated = getattr(message, field.name), field.is_repeated
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            inner = entry.fields_by_name["value"]
            for key in data[field.name]:
                if inner.message_type is not None:
                    _int64_as_numbers(value[key], data[field.name][key])  # Kaohe's maps have string keys
                elif inner.type in _INT64:
                    data[field.name][key] = int(data[field.name][key])
        elif entry is not None and entry.full_name.startswith("kaohe."):
            for item, out in zip(
                value if repeated else [value],
                data[field.name] if repeated else [data[field.name]],
                strict=True,
            ):
                _int64_as_numbers(item, out)
        elif field.type in _INT64:
            data[field.name] = [int(v) for v in data[field.name]] if repeated else int(data[field.name])


def _fail(code: int, message: str) -> NoReturn:
    print(f"错误：{message}", file=sys.stderr)
    sys.exit(code)


def _explain(exc: grpc.RpcError) -> str:
    parts = [exc.details() or exc.code().name]
    status = rpc_status.from_call(exc) if hasattr(exc, "trailing_metadata") else None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                lines = [f"  {v.field}: {v.description}" for v in bad.field_violations]
                if lines and len(lines) > 1:
                    parts.append("\n".join(lines))
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except grpc.RpcError as exc:
        if exc.code() in UNREACHABLE:
            _fail(EXIT_UNREACHABLE, f"服务不可达（{exc.code().name}）：{exc.details()}")
        _fail(EXIT_REFUSED, f"{render.CODE.get(exc.code().name, exc.code().name)}：{_explain(exc)}")
    except Usage as exc:
        _fail(EXIT_USAGE, f"{exc}（kaohe {args.command} --help）")
    except (Refused, DomainError) as exc:
        _fail(EXIT_REFUSED, str(exc))
    except BrokenPipeError:
        # The reader (head, less) has gone; what it did not read is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except settings_mod.ConfigError as exc:
        _fail(EXIT_REFUSED, str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
