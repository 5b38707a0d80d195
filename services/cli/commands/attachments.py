"""附件（佐证材料）: `kaohe attachments add | list | get`, the file streamed in pieces either way."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from datetime import UTC, tzinfo
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
from kaohe.common.v1 import common_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.cli import render
from services.cli.client import EXIT_OK, Client, Refused, Usage, emit, request_id
from services.cli.labels import served_scheme
from services.cli.options import Commands, command, group
from services.common.attachments import CHUNK, MAX_BYTES
from services.common.protoenum import enum_code, enum_number
from services.common.text import check_id
from services.common.wiretime import rfc3339_of

KIND_LABELS = {"task": "任务", "extension": "延期申请", "appeal": "申诉", "application": "容错申请"}
# Tasks keep the files on tasks and extension requests; scoring those on appeals and 容错 applications.
SCORING_KINDS = frozenset({"appeal", "application"})
ITEM_KIND = common_pb2.AttachmentItemKind.DESCRIPTOR


def _service(client: Client, kind: str) -> tuple[Any, ModuleType]:
    """The stub and the messages of the service keeping kind's files."""
    return (client.scoring, scoring_pb2) if kind in SCORING_KINDS else (client.tasks, tasks_pb2)


def _item(args: argparse.Namespace) -> tuple[str, str]:
    """The item named by --task or --extension (exactly one)."""
    named = [(kind, value) for kind in KIND_LABELS if (value := getattr(args, kind, None))]
    if len(named) != 1:
        raise Usage("请用 --task、--extension、--appeal 或 --application 指明附件所属的一项（只能一项）")
    kind, value = named[0]
    return kind, check_id(f"--{kind}", value)


def _record(a: common_pb2.Attachment, tz: tzinfo) -> dict[str, Any]:
    """An attachment as `--json` prints it: its item's kind a code, its upload in the scheme's zone."""
    return {
        "id": a.id,
        "file_name": a.file_name,
        "media_type": a.media_type,
        "size": a.size,
        "sha256": a.sha256,
        "item_kind": enum_code(ITEM_KIND, a.item_kind),
        "item_id": a.item_id,
        "uploaded_by": a.uploaded_by,
        "uploaded_at": rfc3339_of(a, "uploaded_at", tz),
    }


def _size(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB" if size >= 1 << 20 else f"{max(1, round(size / 1024))} KB"


def _table(records: list[dict[str, Any]]) -> str:
    rows = [
        [
            r["id"],
            r["file_name"],
            _size(int(r["size"])),
            f"{KIND_LABELS.get(r['item_kind'], r['item_kind'])} {r['item_id']}",
            r["uploaded_by"],
            r["uploaded_at"][:16].replace("T", " "),
        ]
        for r in records
    ]
    headers = ["附件编号", "文件名", "大小", "所属", "上传人", "上传时间"]
    return render.table(headers, rows) + f"\n共 {len(records)} 个附件"


def cmd_attachments_add(args: argparse.Namespace) -> int:
    kind, item = _item(args)
    path = Path(args.file)
    if not path.is_file():
        raise Usage(f"找不到文件 {path}")
    if path.stat().st_size > MAX_BYTES:
        raise Refused(
            f"附件：每个附件不得超过 {MAX_BYTES >> 20} MB，{path.name} 有 {_size(path.stat().st_size)}"
        )
    client = Client(args)
    stub, pb2 = _service(client, kind)

    def stream() -> Iterator[Any]:
        yield pb2.UploadAttachmentRequest(
            item_kind=enum_number(ITEM_KIND, kind), item_id=item, file_name=path.name, request_id=request_id()
        )
        with path.open("rb") as file:
            while piece := file.read(CHUNK):
                yield pb2.UploadAttachmentRequest(data=piece)

    made = client.call(stub.UploadAttachment, stream(), timeout=600)
    record = _record(made.attachment, served_scheme(client).tz)
    emit(args, record, lambda: _table([record]))
    return EXIT_OK


def cmd_attachments_list(args: argparse.Namespace) -> int:
    kind, item = _item(args)
    client = Client(args)
    stub, pb2 = _service(client, kind)
    listing = pb2.ListAttachmentsRequest(item_kind=enum_number(ITEM_KIND, kind), item_id=item)
    reply = client.call(stub.ListAttachments, listing)
    tz = served_scheme(client).tz if reply.attachments else UTC
    records = [_record(a, tz) for a in reply.attachments]
    emit(args, records, lambda: _table(records))
    return EXIT_OK


def cmd_attachments_get(args: argparse.Namespace) -> int:
    client = Client(args)
    out = Path(args.out)
    # Written beside the target and moved into place whole: an interrupted download leaves no half file.
    part = out.with_name(out.name + ".part")
    record: dict[str, Any] = {}
    try:
        # An attachment id does not say which service keeps it: tasks first, then scoring.
        for stub, pb2 in ((client.tasks, tasks_pb2), (client.scoring, scoring_pb2)):
            replies = client.call(
                stub.DownloadAttachment, pb2.DownloadAttachmentRequest(id=args.id), timeout=600
            )
            try:
                with part.open("wb") as file:
                    for reply in replies:
                        if reply.HasField("attachment"):
                            record = _record(reply.attachment, served_scheme(client).tz)
                        file.write(reply.data)
                break
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND or stub is client.scoring:
                    raise
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    record["out"] = str(out)
    emit(
        args,
        record,
        lambda: f"已保存 {record.get('file_name', '')}（{_size(int(record.get('size', 0)))}）到 {out}",
    )
    return EXIT_OK


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """attachments add / list / get."""
    attachments = group(commands, "attachments", "附件（佐证材料）：上传、列出、下载")
    add = command(
        attachments,
        "add",
        "为任务（反馈、进展）、延期申请、申诉或容错申请上传附件：PDF、图片或 Office 文件，每个不超过 20 MB",
        common=common,
    )
    add.add_argument("file", metavar="FILE", help="要上传的文件（按内容判断类型，不看扩展名）")
    for sub in (
        add,
        list_ := command(attachments, "list", "列出一项任务、延期申请、申诉或容错申请的附件", common=common),
    ):
        sub.add_argument("--task", help="所属任务的编号")
        sub.add_argument("--extension", help="所属延期申请的编号（如 YQ2026-001）")
        sub.add_argument("--appeal", help="所属申诉的编号")
        sub.add_argument("--application", help="所属容错申请的编号（如 RC2025-001）")
    add.set_defaults(func=cmd_attachments_add)
    list_.set_defaults(func=cmd_attachments_list)
    get = command(attachments, "get", "下载一个附件", common=common)
    get.add_argument("id", metavar="ID", help="附件编号（见 kaohe attachments list）")
    get.add_argument("--out", required=True, help="保存到的文件路径")
    get.set_defaults(func=cmd_attachments_get)
