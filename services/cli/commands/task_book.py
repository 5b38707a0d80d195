"""kaohe tasks export: the 督办 ledger (the tasks chosen by the list's filters) as an Excel workbook."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.cli.client import EXIT_OK, Client, Usage, emit, task_json
from services.cli.commands.ledger_book import write_file
from services.cli.labels import served_scheme, unit_names
from services.cli.options import Commands, command
from services.ledger_book.supervision import task_list_workbook

Lister = Callable[[Client, argparse.Namespace], tuple[list[Any], str, str]]


def cmd_tasks_export(args: argparse.Namespace) -> int:
    if Path(args.out).suffix.lower() != ".xlsx":
        raise Usage(f"--out 须以 .xlsx 结尾，得到 {args.out!r}")
    client = Client(args)
    tasks, as_of, _ = args.lister(client, args)
    scheme = served_scheme(client)
    data = task_list_workbook(
        [task_json(t) for t in tasks],
        units=unit_names(client),
        task_types={code: t.name for code, t in scheme.task_types.items()},
        title=f"{scheme.name}督办台账",
        as_of=as_of or None,
    )
    write_file(Path(args.out), data)
    emit(
        args,
        {"out": args.out, "tasks": len(tasks)},
        lambda: f"督办台账已写入 {args.out}（{len(tasks)} 项任务）",
    )
    return EXIT_OK


def register(
    tasks: Commands,
    common: argparse.ArgumentParser,
    filters: Callable[[argparse.ArgumentParser], None],
    lister: Lister,
) -> None:
    """tasks export, with the same filters as tasks list."""
    p = command(tasks, "export", "把督办台账（按筛选条件）导出为 Excel，可按列筛选", common=common)
    filters(p)
    p.add_argument("--out", required=True, help="写入的 .xlsx 文件")
    p.set_defaults(func=cmd_tasks_export, lister=lister, page_size=1000, page_token=None)
