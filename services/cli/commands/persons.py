"""The people responsible for work (责任人): `kaohe persons list`."""

from __future__ import annotations

import argparse

from kaohe.tasks.v1 import tasks_pb2

from services.cli import render
from services.cli.client import EXIT_OK, Client, emit
from services.cli.options import Commands, command, group
from services.common.paging import every
from services.common.text import check_id

PAGE = 5000


def _unit_names(client: Client) -> dict[str, str]:
    request = tasks_pb2.ListUnitsRequest(page_size=PAGE)
    units = every(lambda r: client.call(client.tasks.ListUnits, r), request, lambda reply: reply.units)
    return {u.id: u.name for u in units}


def cmd_persons_list(args: argparse.Namespace) -> int:
    client = Client(args)
    unit = check_id("--unit", args.unit) if args.unit else ""
    reply = client.call(client.tasks.ListPersons, tasks_pb2.ListPersonsRequest(unit=unit))
    people = [
        {
            "id": p.id,
            "name": p.name,
            "unit": p.unit,
            "post": p.post,
            "leader": p.leader,
            "mobile": p.mobile,
            "open": p.open,
            "yellow": p.yellow,
            "red": p.red,
        }
        for p in reply.persons
    ]

    def text() -> str:
        names = _unit_names(client)
        rows = [
            [
                p["id"],
                p["name"],
                names.get(str(p["unit"]), p["unit"]),
                p["post"],
                "是" if p["leader"] else "",
                p["mobile"] or "—",
                p["open"],
                p["red"],
            ]
            for p in people
        ]
        headers = ["代码", "姓名", "单位", "职务", "领导", "手机", "在办", "红灯"]
        return render.table(headers, rows, numeric={6, 7}) + f"\n共 {len(people)} 人"

    emit(args, people, text)
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """persons list."""
    persons = group(commands, "persons", "责任人")
    p = command(
        persons,
        "list",
        "列出责任人：代码、姓名、单位、职务、是否领导、在办与红灯任务数（手机号只给考核办和本单位看）",
        common=common,
    )
    p.add_argument("--unit", help="只列出一个单位的人员（单位代码）")
    p.set_defaults(func=cmd_persons_list)
