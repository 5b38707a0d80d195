"""Running the stack and asking who is there: serve, serve-one, status, token, whoami."""

from __future__ import annotations

import argparse
from datetime import date, datetime
from zoneinfo import ZoneInfo

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kaohe.gateway.v1 import accounts_pb2, gateway_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.cli import render
from services.cli.client import (
    EXIT_OK,
    EXIT_UNREACHABLE,
    Client,
    Refused,
    Usage,
    data_dir,
    emit,
    gateway_channel,
)
from services.cli.options import Commands, command, listed, term
from services.common import settings
from services.common.auth import make_user_identity
from services.common.protoenum import enum_code
from services.common.scheme import DEFAULT_TIMEZONE
from services.common.tokens import issue_user_token, load_token_keys
from services.common.vocabulary import ROLES, label_of
from services.common.wire_json import wire_plain

SERVICES = {"gateway": "网关", "tasks": "督办台账", "scoring": "考核计分"}
# The gateway answers for the services behind it: they take only its certificate, not a person's client.
HEALTH_NAMES = {
    "gateway": "",
    "tasks": "kaohe.tasks.v1.TasksService",
    "scoring": "kaohe.scoring.v1.ScoringService",
}
PLAINTEXT_HELP = "不用 TLS（仅限本机回环地址的开发环境）"
NOTIFY_HELP = "催办配置文件（TOML）：黄牌、红牌和逾期未报进展的任务推送到群机器人（默认 KAOHE_NOTIFY_FILE）"


def cmd_serve(args: argparse.Namespace) -> int:
    from services.cli.serve import serve

    return serve(
        data_dir=args.data_dir,
        port_base=args.port_base,
        scheme=args.scheme,
        sample=args.sample,
        plaintext=args.plaintext,
        notify=args.notify,
    )


def cmd_serve_one(args: argparse.Namespace) -> int:
    from services.cli.serve import serve_one

    return serve_one(
        args.service,
        port=args.port,
        metrics_port=args.metrics_port,
        data_dir=args.data_dir,
        scheme=args.scheme,
        plaintext=args.plaintext,
        notify=args.notify,
    )


def cmd_status(args: argparse.Namespace) -> int:
    address = settings.gateway_address(args.gateway)
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65534:
        raise Usage(f"--gateway {address!r}：应为 HOST:PORT，即网关的端口（其后端服务在 PORT+1 和 PORT+2）")
    base = int(port)
    rows = []
    all_up = True
    with gateway_channel(args, address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for offset, name in enumerate(SERVICES):
            target = f"{host}:{base + offset}"
            status = "UNREACHABLE"
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(service=HEALTH_NAMES[name]), timeout=3)
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.RpcError:
                pass
            all_up = all_up and status == "SERVING"
            rows.append({"service": name, "address": target, "status": status})
    uncovered = uncovered_years(args) if all_up else []
    emit(
        args,
        {"services": rows, "calendar_missing": uncovered},
        lambda: "\n".join(
            [
                render.table(
                    ["服务", "地址", "状态"],
                    [[r["service"], r["address"], render.HEALTH.get(r["status"], r["status"])] for r in rows],
                ),
                *(
                    f"日历：{year} 年既无已导入的国务院节假日通知，也无法定日历数据，工作日按周一至周五计算；"
                    f"请用 kaohe calendar import 导入该年的通知。"
                    for year in uncovered
                ),
            ]
        ),
    )
    return EXIT_OK if all_up else EXIT_UNREACHABLE


def uncovered_years(args: argparse.Namespace, *, today: date | None = None) -> list[int]:
    """This year, and from 1 November the next, when neither a notice nor the statutory calendar covers it."""
    today = today or datetime.now(ZoneInfo(DEFAULT_TIMEZONE)).date()
    years = [today.year, today.year + 1] if today.month >= 11 else [today.year]
    missing = []
    try:
        client = Client(args)
    except Refused:
        return []
    for year in years:
        try:
            reply = client.call(client.tasks.GetCalendar, tasks_pb2.GetCalendarRequest(year=year), timeout=5)
        except grpc.RpcError:
            # Without a token that may read the calendar, status still tells the services' health.
            return []
        if enum_code(tasks_pb2.CalendarSource.DESCRIPTOR, reply.source) not in ("notice", "statutory"):
            missing.append(year)
    return missing


def cmd_token(args: argparse.Namespace) -> int:
    if args.role == "department" and not args.unit:
        raise Usage("--role department 需要 --unit ID（令牌限于该单位）")
    if args.role != "department" and args.unit:
        raise Usage(f"--unit 只用于 --role department；{args.role} 令牌不限于某个单位")
    identity = make_user_identity(role=args.role, unit=args.unit, subject=args.subject)
    keys = load_token_keys(data_dir(args))
    print(issue_user_token(identity, ring=keys.user, ttl_seconds=int(args.ttl_hours * 3600)))
    return EXIT_OK


def cmd_whoami(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(client.gateway.WhoAmI, gateway_pb2.WhoAmIRequest())
    # expires_at as it always read: the token's expiry in epoch seconds, "0" when it has none.
    data = wire_plain(reply, instant=lambda stamp: str(stamp.seconds))
    data.setdefault("expires_at", "0")
    role = enum_code(accounts_pb2.Role.DESCRIPTOR, reply.role)
    emit(args, data, lambda: f"{reply.subject}（{label_of(ROLES, role)}）{reply.unit}")
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """serve, serve-one, status, token, whoami."""
    p = command(commands, "serve", "启动网关、督办台账和考核计分三个服务（各为一个进程）")
    p.add_argument("--data-dir", help="数据目录：SQLite 数据库与密钥（默认 ./var）")
    p.add_argument(
        "--port-base",
        type=int,
        help=f"端口基数 N：网关 N，督办台账 N+1，考核计分 N+2（默认 {settings.DEFAULT_PORT_BASE}）",
    )
    p.add_argument("--scheme", help="考核方案文件（TOML，默认 schemes/default.toml）")
    p.add_argument("--sample", action="store_true", help="台账为空时导入样例县的台账")
    p.add_argument("--plaintext", action="store_true", help=PLAINTEXT_HELP)
    p.add_argument("--notify", help=NOTIFY_HELP)
    p.set_defaults(func=cmd_serve)

    p = command(commands, "serve-one", "只启动一个服务（供 systemd 和 Kubernetes 使用）")
    p.add_argument(
        "service", choices=[*SERVICES, "web"], help=f"要启动的服务：{listed(SERVICES)}｜web（网页控制台）"
    )
    p.add_argument("--port", type=int, required=True, help="gRPC 端口（web：HTTP 端口）")
    p.add_argument("--metrics-port", type=int, help="Prometheus 指标（/metrics）端口（web 以外必填）")
    p.add_argument("--data-dir", help="数据目录：SQLite 数据库与密钥（默认 ./var）")
    p.add_argument("--scheme", help="考核方案文件（TOML，默认 schemes/default.toml）")
    p.add_argument("--plaintext", action="store_true", help=PLAINTEXT_HELP)
    p.add_argument("--notify", help=NOTIFY_HELP + "；只用于 tasks")
    p.set_defaults(func=cmd_serve_one)

    p = command(commands, "status", "查看三个服务的健康状态", common=common)
    p.set_defaults(func=cmd_status)

    p = command(commands, "token", "签发访问令牌（需要 KAOHE_SECRET 或数据目录中的密钥）", common=common)
    p.add_argument("--role", required=True, type=term(ROLES, what="角色"), help=f"角色：{listed(ROLES)}")
    p.add_argument("--unit", help="单位代码（仅 department 角色，令牌限于该单位）")
    p.add_argument("--subject", help="令牌持有人，记入审计日志（默认为角色，或 角色:单位）")
    p.add_argument("--ttl-hours", type=float, default=12.0, help="有效期，小时（默认 12）")
    p.set_defaults(func=cmd_token)

    p = command(commands, "whoami", "显示令牌所代表的身份", common=common)
    p.set_defaults(func=cmd_whoami)
