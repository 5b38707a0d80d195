"""The gateway's ledger import: the uploaded file spooled, split in one pass, streamed to each service.

No process holds the file: the gateway keeps it in a private temporary file (0600) while it is imported
and removes it afterwards, whatever the outcome; the task lines and the scoring lines go to their own
temporary files in the one pass that checks each line's JSON and type, and are streamed from there to
the tasks and the scoring service in batches — first to check both halves, then in two phases to write
them (scoring stages, tasks commits and records the decision, scoring commits what it staged).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.common import jsonlines
from services.common.auth import Identity
from services.common.clients import Backend
from services.common.errors import DomainError, FieldViolation, InvalidArgument, Unavailable
from services.common.files import spooled
from services.common.internal import SignedStream
from services.common.vocabulary import RECORD_KINDS, TASK_LINE_TYPES

log = logging.getLogger("kaohe.gateway.import")
# Lines a message to a service carries (each under the 4 MiB a message may take: a line is at most 64 KiB
# for the gateway's own limits long before this).
BATCH = 2000
TASK_TYPES = tuple(TASK_LINE_TYPES)
SCORING_TYPES = RECORD_KINDS
BOM = b"\xef\xbb\xbf"
# The longest line the gateway reads: a hostile file of one endless line is refused, not held.
MAX_LINE_BYTES = 1 << 20


class Caller(Protocol):
    def __call__(
        self, backend: Backend, method: str, request: Any, identity: Identity, timeout: float
    ) -> Any: ...


@dataclass
class Split:
    """A file split by service: each half a spool of `number TAB line` rows; pending ids one of their own.

    targets: the ids the scoring lines point at (a tolerance's `target`): the only tasks of the file
    scoring has to know of, so only they are sent to it. spool makes a further private spool for the
    import (kept until it ends).
    """

    tasks: IO[bytes]
    scoring: IO[bytes]
    pending: IO[bytes]
    spool: Callable[[], IO[bytes]]
    lines: int = 0
    task_lines: int = 0
    scoring_lines: int = 0
    targets: set[str] = field(default_factory=set)


def split(source: IO[bytes], directory: Path | None, stack: ExitStack) -> Split:
    """One pass over the spooled file: each line decoded, its JSON and type checked, sent to its half."""

    def spool() -> IO[bytes]:
        return stack.enter_context(spooled(directory))

    parts = Split(spool(), spool(), spool(), spool)
    source.seek(0)
    offset = 0
    for number, raw in enumerate(iter(lambda: source.readline(MAX_LINE_BYTES + 1), b""), start=1):
        if len(raw) > MAX_LINE_BYTES:
            # No record is this long (texts are at most a few thousand characters): not read further.
            raise InvalidArgument(f"line {number}", f"超过 {MAX_LINE_BYTES >> 20} MiB")
        if number == 1 and raw.startswith(BOM):
            raw, offset = raw[len(BOM) :], len(BOM)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument("file", f"不是 UTF-8 文本（第 {offset + exc.start} 字节）") from None
        offset += len(raw)
        text = text.removesuffix("\n").removesuffix("\r")
        if not text.strip():
            continue
        parts.lines += 1
        obj = jsonlines.loads_line(text, line=number)
        kind = obj.get("type") if isinstance(obj, dict) else None
        row = f"{number}\t{text}\n".encode()
        if kind in TASK_TYPES:
            parts.task_lines += 1
            parts.tasks.write(row)
            if kind == "unit" and isinstance(obj.get("id"), str):
                parts.pending.write(b"u\t" + _one_line(obj["id"]) + b"\n")
            if kind == "task" and isinstance(obj.get("id"), str):
                co = obj.get("co_units") if isinstance(obj.get("co_units"), list) else []
                ref = f"{obj['id']}/{obj.get('lead_unit', '')}/{','.join(map(str, co))}"
                parts.pending.write(b"t\t" + _one_line(ref) + b"\n")
        elif kind in SCORING_TYPES:
            parts.scoring_lines += 1
            parts.scoring.write(row)
            if isinstance(obj.get("target"), str):
                parts.targets.add(obj["target"])
        else:
            raise InvalidArgument(
                [
                    FieldViolation(
                        f"line {number}: type",
                        f"{kind!r} 不是记录类型；可选：" + "、".join(TASK_TYPES + SCORING_TYPES),
                    )
                ]
            )
    for part in (parts.tasks, parts.scoring, parts.pending):
        part.flush()
    return parts


def _one_line(value: str) -> bytes:
    """An id kept on one row of a spool: ids never hold line breaks, but a pending one is not checked yet."""
    return (
        value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").encode("utf-8", "surrogatepass")
    )


def _unescape(value: bytes) -> str:
    text = value.decode("utf-8", "surrogatepass")
    if "\\" not in text:
        return text
    out, chars = [], iter(text)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append({"n": "\n", "r": "\r"}.get(nxt, nxt))
        else:
            out.append(char)
    return "".join(out)


def _rows(spool: IO[bytes]) -> Iterator[list[tuple[int, str]]]:
    """The (number, line) rows of a half, in batches."""
    spool.seek(0)
    batch: list[tuple[int, str]] = []
    for row in spool:
        number, text = row.rstrip(b"\n").split(b"\t", 1)
        batch.append((int(number), text.decode()))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _pending_task(value: str) -> common_pb2.PendingTask:
    """A task of the file as its spool row writes it ("id/lead/co1,co2")."""
    task_id, lead, co = [*value.split("/", 2), "", ""][:3]
    return common_pb2.PendingTask(id=task_id, lead_unit=lead, co_units=[c for c in co.split(",") if c])


def _pending(spool: IO[bytes], targets: set[str]) -> Iterator[tuple[list[str], list[common_pb2.PendingTask]]]:
    """(units, tasks) of the file the scoring half may refer to, in batches: every unit, the tasks among
    targets (a county's ledger of tasks alone sends scoring none of its 100,000 tasks)."""
    spool.seek(0)
    units: list[str] = []
    tasks: list[common_pb2.PendingTask] = []
    for row in spool:
        kind, value = row.rstrip(b"\n").split(b"\t", 1)
        if kind == b"u":
            units.append(_unescape(value))
        elif targets:
            task = _pending_task(_unescape(value))
            if task.id in targets:
                tasks.append(task)
        if len(units) + len(tasks) >= 4 * BATCH:
            yield units, tasks
            units, tasks = [], []
    if units or tasks:
        yield units, tasks


def task_stream(parts: Split, validate: bool, import_id: str = "") -> Iterator[Any]:
    yield tasks_pb2.ImportLedgerRequest(validate_only=validate, import_id=import_id)
    for batch in _rows(parts.tasks):
        yield tasks_pb2.ImportLedgerRequest(lines=[common_pb2.LedgerLine(line=n, json=j) for n, j in batch])


def scoring_stream(parts: Split, validate: bool, import_id: str = "") -> Iterator[Any]:
    yield scoring_pb2.ImportRecordsRequest(
        validate_only=validate, import_id=import_id, prepare=bool(import_id)
    )
    for units, tasks in _pending(parts.pending, parts.targets):
        yield scoring_pb2.ImportRecordsRequest(pending_units=units, pending_tasks=tasks)
    for batch in _rows(parts.scoring):
        yield scoring_pb2.ImportRecordsRequest(
            lines=[common_pb2.LedgerLine(line=n, json=j) for n, j in batch]
        )


def _signed(stream: Callable[..., Iterator[Any]], parts: Split, *args: Any) -> SignedStream:
    """A half's stream whose credential names its content: made once from the spools and hashed, its
    messages' bytes kept in a spool of their own to be sent."""
    return SignedStream(lambda: stream(parts, *args), parts.spool())


class LedgerImports:
    """Imports of a spooled file through the tasks and the scoring service: both halves or neither."""

    def __init__(self, tasks: Backend, scoring: Backend, call: Caller, spool_dir: Path | None = None) -> None:
        self.tasks = tasks
        self.scoring = scoring
        self.call = call
        self.spool_dir = spool_dir

    def run(
        self, source: IO[bytes], *, identity: Identity, validate_only: bool, timeout: float
    ) -> gateway_pb2.ImportLedgerResponse:
        """Both halves validated before either is written: all or nothing for the file."""
        with ExitStack() as stack:
            parts = split(source, self.spool_dir, stack)
            tasks_reply = scoring_reply = None
            if validate_only:
                # Both halves checked, nothing written. (An import proper checks each half as it writes it:
                # scoring's staged half is invisible until tasks has committed its own, see _two_phase.)
                if parts.task_lines:
                    tasks_reply = self.call(
                        self.tasks, "ImportLedger", _signed(task_stream, parts, True), identity, timeout
                    )
                if parts.scoring_lines:
                    scoring_reply = self.call(
                        self.scoring,
                        "ImportRecords",
                        _signed(scoring_stream, parts, True),
                        identity,
                        timeout,
                    )
            else:
                tasks_reply, scoring_reply = self._two_phase(parts, identity=identity, timeout=timeout)
        created: Counter[str] = Counter()
        unchanged: Counter[str] = Counter()
        for reply in (tasks_reply, scoring_reply):
            if reply is not None:
                created.update(dict(reply.created))
                unchanged.update(dict(reply.unchanged))
        return gateway_pb2.ImportLedgerResponse(
            created=dict(created), unchanged=dict(unchanged), lines=parts.lines
        )

    def _two_phase(self, parts: Split, *, identity: Identity, timeout: float) -> tuple[Any, Any]:
        """Both halves or neither: scoring stages its half, tasks commits its half with the decision, scoring
        then stores what it staged; a crash in between is settled by scoring's recovery, asking tasks."""
        import_id = uuid.uuid4().hex
        scoring, tasks = self.scoring, self.tasks
        # Both halves made (and hashed) first: once scoring has staged its half, recovery gives the tasks half
        # `import_recovery_after` (30 s) to start arriving, and making a province's tasks half takes minutes.
        scoring_half = _signed(scoring_stream, parts, False, import_id)
        tasks_half = _signed(task_stream, parts, False, import_id)
        # Phase one: scoring's half staged, invisible; this also makes any other import wait or retry.
        scoring_reply = self.call(scoring, "ImportRecords", scoring_half, identity, timeout)
        try:
            tasks_reply = self.call(tasks, "ImportLedger", tasks_half, identity, timeout)
        except Unavailable as exc:
            # Whether tasks committed is unknown: recovery asks it and completes or undoes the import.
            raise Unavailable(
                f"{exc}；两个服务都恢复后，这次导入会自动完成或回滚，重新导入该文件也是安全的"
            ) from None
        except DomainError:
            # Refused: no decision was recorded, so the staged half goes (or, failing that, by recovery).
            try:
                self.call(
                    scoring,
                    "AbortImport",
                    scoring_pb2.AbortImportRequest(import_id=import_id),
                    identity,
                    timeout,
                )
            except DomainError:
                log.warning("staged import not aborted; recovery will", extra={"import_id": import_id})
            raise
        try:
            self.call(
                scoring,
                "CommitImport",
                scoring_pb2.CommitImportRequest(import_id=import_id),
                identity,
                timeout,
            )
        except Unavailable as exc:
            raise Unavailable(f"{exc}；导入已记下，考核服务恢复后会把它完成") from None
        return tasks_reply, scoring_reply
