"""The ledger import by request id: the same file sent again under its id (by the same caller) gets the
first import's answer and imports nothing; the same id with another file is refused (idempotency.py).

The answers live in the gateway's database beside the accounts (gateway_requests); a gateway without that
database imports every time, as before (an import of the same file again changes nothing anyway). A retry
that arrives while the first import still runs imports too, and finds everything unchanged.
"""

from __future__ import annotations

from kaohe.gateway.v1 import gateway_pb2

from services.common.auth import Identity
from services.common.db import Database
from services.common.idempotency import answered, idempotent
from services.gateway.accounts.storage import requests

METHOD = "ImportLedger"


class ImportRequests:
    """Imports done, by (caller, request id), with the SHA-256 of the file they imported."""

    def __init__(self, db: Database | None) -> None:
        self.db = db

    def answer(
        self, identity: Identity, request_id: str, digest: str
    ) -> gateway_pb2.ImportLedgerResponse | None:
        """The first answer to this import, when it was done; None otherwise (or without an id)."""
        if self.db is None or not request_id:
            return None
        stored = answered(
            self.db,
            requests,
            caller=identity,
            method=METHOD,
            request_id=request_id,
            request={"sha256": digest},
        )
        return None if stored is None else gateway_pb2.ImportLedgerResponse.FromString(stored)

    def record(
        self, identity: Identity, request_id: str, digest: str, reply: gateway_pb2.ImportLedgerResponse
    ) -> None:
        """Keeps the answer of an import done under its id."""
        if self.db is None or not request_id:
            return
        idempotent(
            self.db,
            requests,
            caller=identity,
            method=METHOD,
            request_id=request_id,
            request={"sha256": digest},
            work=lambda conn: reply,
            encode=lambda r: r.SerializeToString(),
            decode=gateway_pb2.ImportLedgerResponse.FromString,
        )
