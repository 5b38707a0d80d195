"""The supervision ledger: list and show tasks, 立项, and every step of the closed loop."""

from __future__ import annotations

import argparse
from typing import Any, cast

from kaohe.common.v1 import common_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.cli import render
from services.cli.client import EXIT_OK, Client, emit, request_id, task_json
from services.cli.commands import task_book
from services.cli.labels import priority_code, scheme_zone, typed_code, typed_instant, unit_code
from services.cli.options import Commands, command, group, listed, term
from services.common.paging import pages
from services.common.vocabulary import COLOURS, TASK_EVENT_KINDS, TASK_STATES
from services.common.wire_text import as_text

# Each step of the closed loop: the RPC that records it and what it does, for its help.
ACTIONS = {
    "assign": ("AssignTask", "把已立项的任务交给牵头单位，开始计时"),
    "accept": ("AcceptTask", "牵头单位接受任务"),
    "progress": ("ReportProgress", "报告阶段性进展"),
    "report": ("ReportTask", "牵头单位反馈办理结果"),
    "verify": ("VerifyTask", "督查室核查反馈"),
    "reject": ("RejectTask", "核查不通过，退回重办"),
    "close": ("CloseTask", "办结销号"),
    "cancel": ("CancelTask", "撤销任务"),
}
TASK_TYPE_HELP = "任务类型：方案中的类型代码或名称（tasks show 显示的名称）"


def listed_tasks(client: Client, args: argparse.Namespace) -> tuple[list[Any], str, str]:
    """The tasks the filters ask for (units and priorities by code or name), the instant, the next token."""
    unit = unit_code(client, args.unit)
    lead = unit_code(client, args.lead, what="牵头单位")
    priority = priority_code(client, args.priority)
    request = tasks_pb2.ListTasksRequest(
        unit=unit or lead,
        color=cast(common_pb2.TaskColor, typed_code(common_pb2.TaskColor.DESCRIPTOR, args.color, "color")),
        year=args.year or 0,
        state=cast(
            common_pb2.TaskState,
            typed_code(common_pb2.TaskState.DESCRIPTOR, args.state, "state"),
        ),
        task_type=args.type or "",
        overdue=args.overdue,
        page_size=args.page_size,
        page_token=args.page_token or "",
    )
    tasks: list[Any] = []
    as_of = ""
    token = ""
    for page in pages(lambda r: client.call(client.tasks.ListTasks, r), request):
        reply = as_text(page, scheme_zone(client))
        tasks += list(reply.tasks)
        as_of = as_of or reply.as_of
        token = reply.next_page_token
        # --page-token (even an empty one, the first page) asks for one page and its successor's token.
        if args.page_token is not None:
            break
    # The service filters by a unit it leads or helps: the lead and the priority are narrowed here.
    tasks = [
        t for t in tasks if (not lead or t.lead_unit == lead) and (not priority or t.priority == priority)
    ]
    return tasks, as_of, token


def cmd_tasks_list(args: argparse.Namespace) -> int:
    tasks, as_of, token = listed_tasks(Client(args), args)
    rows = [task_json(t) for t in tasks]
    document = {
        "as_of": as_of or None,
        "tasks": rows,
        "next_page_token": token if args.page_token is not None else "",
    }
    emit(args, document, lambda: render.tasks(rows))
    return EXIT_OK


def cmd_tasks_show(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(client.tasks.GetTask, tasks_pb2.GetTaskRequest(id=args.id))
    task = as_text(reply, scheme_zone(client)).task
    document = task_json(task) | {
        "state_label": task.state_label,
        "task_type_name": task.task_type_name,
        "history": [
            {"seq": e.seq, "kind": e.kind, "at": e.at, "by": e.by, "note": e.note, "rejected": e.rejected}
            for e in task.history
        ],
        "responsible": task.responsible or None,
        "responsible_name": task.responsible_name or None,
        "leader": task.leader or None,
        "leader_name": task.leader_name or None,
        "parent": task.parent or None,
        "parts": [
            {
                "id": p.id,
                "title": p.title,
                "lead_unit": p.lead_unit,
                "state": p.state,
                "color": p.color or None,
            }
            for p in task.parts
        ],
    }
    emit(args, document, lambda: render.task_detail(document))
    return EXIT_OK


def cmd_tasks_create(args: argparse.Namespace) -> int:
    client = Client(args)
    reply = client.call(
        client.tasks.CreateTask,
        tasks_pb2.CreateTaskRequest(
            request_id=args.request_id or request_id(),
            id=args.id or "",
            title=args.title,
            task_type=args.type,
            lead_unit=unit_code(client, args.lead, what="牵头单位"),
            co_units=[unit_code(client, co, what="协办单位") for co in args.co or []],
            priority=priority_code(client, args.priority),
            source=args.source or "",
            due_at=typed_instant(args.due_at, "due_at"),
            assign_now=args.assign,
            note=args.note or "",
            responsible=args.responsible or "",
            leader=args.leader or "",
            parent=args.parent or "",
        ),
    )
    task = as_text(reply, scheme_zone(client)).task
    document = task_json(task)
    emit(
        args,
        document,
        lambda: (
            f"已立项 {task.id}（{task.state_label}）"
            + (f"，应于 {task.due_at} 前反馈" if task.due_at else "")
        ),
    )
    return EXIT_OK


def cmd_tasks_act(args: argparse.Namespace) -> int:
    method, _ = ACTIONS[args.action]
    label = TASK_EVENT_KINDS[args.action]
    client = Client(args)
    reply = client.call(
        getattr(client.tasks, method),
        getattr(tasks_pb2, method + "Request")(
            request_id=args.request_id or request_id(),
            id=args.id,
            etag=args.etag or "",
            note=args.note or "",
        ),
    )
    task = as_text(reply, scheme_zone(client)).task
    document = task_json(task)
    emit(args, document, lambda: f"{label}：{task.id} 现为{task.state_label}")
    return EXIT_OK


def filters(p: argparse.ArgumentParser) -> None:
    """The options that choose tasks, shared by tasks list and tasks export."""
    p.add_argument("--unit", help="单位代码或名称（牵头或协办）")
    p.add_argument("--lead", help="牵头单位代码或名称")
    p.add_argument("--priority", help="紧急程度：代码或名称（如 urgent 或 紧急）")
    p.add_argument("--color", type=term(COLOURS, what="颜色"), help=f"颜色：{listed(COLOURS)}")
    p.add_argument("--year", type=int, help="应办结时间所在年度")
    p.add_argument(
        "--state",
        type=term(TASK_STATES, what="任务状态", open_ended=True),
        help=f"状态：{listed(TASK_STATES)}",
    )
    p.add_argument("--type", help=TASK_TYPE_HELP)
    p.add_argument("--overdue", action="store_true", help="只列已逾期的任务")


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """tasks list, show, create, and the closed loop's steps."""
    tasks = group(commands, "tasks", "督办台账：任务的立项、交办、承办、反馈、核查、销号")
    p = command(tasks, "list", "列出任务及其当前颜色（默认逐页取完）", common=common)
    filters(p)
    p.add_argument("--page-size", type=int, default=1000, help="每页任务数（默认 1000）")
    p.add_argument("--page-token", help="从这个翻页标记取一页（空字符串为第一页），并给出下一页的标记")
    p.set_defaults(func=cmd_tasks_list)
    task_book.register(tasks, common, filters, listed_tasks)

    p = command(tasks, "show", "查看一项任务及其全部办理记录", common=common)
    p.add_argument("id", help="任务编号")
    p.set_defaults(func=cmd_tasks_show)

    p = command(tasks, "create", "立项（加 --assign 同时交办）", common=common)
    p.add_argument("--id", help="任务编号（默认自动编号）")
    p.add_argument("--title", required=True, help="事项")
    p.add_argument("--type", required=True, help=TASK_TYPE_HELP)
    p.add_argument("--lead", required=True, help="牵头单位代码或名称")
    p.add_argument("--co", action="append", help="协办单位代码或名称（可多次给出）")
    p.add_argument(
        "--priority", help="紧急程度：方案 priority_weights 中的代码或其名称（默认 normal / 一般）"
    )
    p.add_argument("--source", help="任务来源（如 文件、会议、热线）")
    p.add_argument("--due-at", help="应办结时间（ISO 8601；默认按任务类型的时限计算）")
    p.add_argument("--assign", action="store_true", help="立项并同时交办")
    p.add_argument("--note", help="说明")
    p.add_argument("--request-id", help="幂等键：同一键重复提交只生效一次")
    p.add_argument("--responsible", help="责任人代码（牵头单位的人员）")
    p.add_argument("--leader", help="包保领导代码（县级领导、班子成员）")
    p.add_argument("--parent", help="上级任务编号：本任务是它分解出的一项（任务分解）")
    p.set_defaults(func=cmd_tasks_create)

    for action, (_, summary) in ACTIONS.items():
        p = command(tasks, action, f"{TASK_EVENT_KINDS[action]}：{summary}", common=common)
        p.add_argument("id", help="任务编号")
        p.add_argument("--note", help="内容或理由")
        p.add_argument("--etag", help="任务的 etag：与当前不符时拒绝（防止覆盖他人的修改）")
        p.add_argument("--request-id", help="幂等键：同一键重复提交只生效一次")
        p.set_defaults(func=cmd_tasks_act, action=action)
