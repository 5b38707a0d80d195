"""The units of the ledger: `kaohe units list`."""

from __future__ import annotations

import argparse

from kaohe.tasks.v1 import tasks_pb2

from services.cli import render
from services.cli.client import EXIT_OK, Client, emit
from services.cli.options import Commands, command, group, listed, term
from services.common.paging import every
from services.common.vocabulary import UNIT_CATEGORIES, label_of

PAGE = 5000


def cmd_units_list(args: argparse.Namespace) -> int:
    client = Client(args)
    request = tasks_pb2.ListUnitsRequest(page_size=PAGE, category=args.category or "")
    units: list[dict[str, str]] = [
        {"id": u.id, "name": u.name, "category": u.category, "parent": u.parent}
        for u in every(lambda r: client.call(client.tasks.ListUnits, r), request, lambda reply: reply.units)
    ]
    names = {u["id"]: u["name"] for u in units}
    emit(
        args,
        units,
        lambda: (
            render.table(
                ["代码", "名称", "类别", "上级单位"],
                [
                    [
                        u["id"],
                        u["name"],
                        label_of(UNIT_CATEGORIES, u["category"]),
                        names.get(u["parent"], u["parent"]),
                    ]
                    for u in units
                ],
            )
            + f"\n共 {len(units)} 个单位"
        ),
    )
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """units list."""
    units = group(commands, "units", "被考核单位")
    p = command(units, "list", "列出全部被考核单位：代码、名称、类别、上级单位", common=common)
    p.add_argument(
        "--category",
        type=term(UNIT_CATEGORIES, what="单位类别", open_ended=True),
        help=f"只列出一个类别的单位：{listed(UNIT_CATEGORIES)}，或台账中的其他类别",
    )
    p.set_defaults(func=cmd_units_list)
