"""What every command shares: the gateway's stubs with the caller's token, exit codes, JSON output."""

from __future__ import annotations

import argparse
import json
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message
from kaohe.gateway.v1 import gateway_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2_grpc

from services.common import settings, tls
from services.common.auth import make_user_identity
from services.common.clients import MAX_MESSAGE_BYTES, MAX_METADATA_BYTES
from services.common.errors import DomainError
from services.common.ids import check_request_ids
from services.common.protojson import plain as plain  # the CLI's commands read it from here
from services.common.result_wire import result_to_json_dict
from services.common.settings import ConfigError
from services.common.tokens import issue_user_token, load_token_keys

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
TIMEOUT = 120.0


class Refused(Exception):
    """The command could not be done; the message says why (exit 1)."""


class Usage(Exception):
    """The command line itself is wrong: a missing or malformed argument (exit 2)."""


class Client:
    """Stubs for the three APIs served by the gateway, with the caller's bearer token."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.address = settings.gateway_address(args.gateway)
        self.token = args.token or os.environ.get("KAOHE_TOKEN") or self_minted_token(args)
        self.channel = gateway_channel(
            args,
            self.address,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_metadata_size", MAX_METADATA_BYTES),
            ],
        )
        self.gateway = gateway_pb2_grpc.GatewayServiceStub(self.channel)
        self.tasks = tasks_pb2_grpc.TasksServiceStub(self.channel)
        self.scoring = scoring_pb2_grpc.ScoringServiceStub(self.channel)

    def call(self, method: Callable[..., Any], request: Any, timeout: float = TIMEOUT) -> Any:
        if isinstance(request, Message):
            # The ids typed on the command line, refused here in the gateway's words before any call.
            check_request_ids(request)
        metadata = (("authorization", f"Bearer {self.token}"),) if self.token else ()
        return method(request, metadata=metadata, timeout=timeout)


def self_minted_token(args: argparse.Namespace) -> str:
    """An office token minted from the data dir's secret, when the caller has it (the operator)."""
    try:
        keys = load_token_keys(data_dir(args))
    except (DomainError, OSError):
        return ""
    return issue_user_token(make_user_identity(role="office", unit=None, subject="cli"), ring=keys.user)


def trusted_ca(args: argparse.Namespace, address: str) -> Path | None:
    """The CA the gateway's certificate is checked against, found as the secret is.

    KAOHE_TLS_CA; else DIR/tls/ca.pem of a data directory named by --data-dir or KAOHE_DATA_DIR; else,
    for a loopback gateway, the CA `kaohe serve` recorded for this user and port; else ./var/tls/ca.pem.
    """
    named = os.environ.get(tls.ENV_CA)
    if named:
        return Path(named)
    if getattr(args, "data_dir", None) or os.environ.get("KAOHE_DATA_DIR"):
        return data_dir(args) / "tls" / "ca.pem"
    record = tls.trust_record(address)
    if record is not None and record.exists():
        return record
    default = data_dir(args) / "tls" / "ca.pem"
    return default if default.exists() else None


def gateway_channel(
    args: argparse.Namespace, address: str, *, options: list[tuple[str, Any]] | None = None
) -> grpc.Channel:
    """TLS to the gateway, trusting the CA found for it; plaintext only with --plaintext on loopback."""
    if getattr(args, "plaintext", False):
        if not tls.is_loopback(address):
            raise Usage(f"--plaintext 只用于本机回环地址的开发环境，不能用于 {address}")
        return grpc.insecure_channel(address, options=options or [])
    ca = trusted_ca(args, address)
    if ca is None:
        raise Refused(
            f"找不到网关 {address} 的 CA 证书：设置 {tls.ENV_CA}，或用 --data-dir 指明 kaohe serve 的数据目录"
        )
    try:
        config = tls.load_tls_config(ca=ca)
    except ConfigError as exc:
        raise Refused(str(exc)) from None
    return grpc.secure_channel(address, tls.channel_credentials(config), options=options or [])


def data_dir(args: argparse.Namespace) -> Path:
    """The stack's data directory: --data-dir, then KAOHE_DATA_DIR, then ./var."""
    return Path(getattr(args, "data_dir", None) or os.environ.get("KAOHE_DATA_DIR") or "var").resolve()


def request_id() -> str:
    """A fresh idempotency key for one write."""
    return uuid.uuid4().hex


def emit(args: argparse.Namespace, document: Any, text: Callable[[], str]) -> None:
    """Prints the JSON document under --json, else the text for people."""
    if getattr(args, "json", False):
        print(json_text(document))
    else:
        print(text())


# Characters a terminal acts on or that reorder the line (C1 controls, bidi overrides, line separators):
# written as \u escapes, which JSON reads back as the same text. C0 controls json.dumps escapes itself.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_text(document: Any) -> str:
    """The document as JSON for a terminal: Chinese kept readable, nothing a terminal would act on."""
    text = json.dumps(document, ensure_ascii=False, indent=1)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def document_of(message: Any) -> dict[str, Any]:
    """The result document (FORMATS.md) a run or a preview carries (empty when it carries none)."""
    return result_to_json_dict(message.result) if message.HasField("result") else {}


def task_json(task: Any) -> dict[str, Any]:
    """A task as the task list of FORMATS.md prints it."""
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
        "progress_overdue_since": task.progress_overdue_since or None,
        "etag": task.etag,
    }
