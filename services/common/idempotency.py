"""Request ids as AIP-155 means them: scoped to the caller and the method, bound to the request.

The stored key is a hash of (caller, method, request id): another caller re-using an id runs its
own request and never sees the first caller's answer. The request's own hash is kept beside the
answer: the same id sent again with a different request is refused, not answered with the old
reply. An id longer than the limit is refused, never cut (two ids sharing a prefix are two ids).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import BigInteger, Column, Connection, LargeBinary, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError

from services.common.audit import AuditTrail
from services.common.auth import Identity
from services.common.db import Database
from services.common.errors import InvalidArgument
from services.common.text import REQUEST_ID_MAX, check_text

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
V = TypeVar("V", bound="DataclassInstance")


def requests_table(metadata: MetaData, name: str) -> Table:
    """A service's table of requests done: scoped key → the request's hash and the stored answer."""
    return Table(
        name,
        metadata,
        Column("key", String(64), primary_key=True),
        Column("method", String(128), nullable=False),
        Column("fingerprint", String(64), nullable=False),
        Column("response", LargeBinary, nullable=True),
        Column("created_at", BigInteger, nullable=False),
    )


def fingerprint(request: Mapping[str, Any]) -> str:
    """A hash of what a request asks for, to tell a retry from a different request under the same id."""
    return hashlib.sha256(
        json.dumps(request, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()


def check_request_id(request_id: str) -> str:
    """request_id when it is a usable id: bounded, no control character."""
    return check_text("request_id", request_id, max_len=REQUEST_ID_MAX)


def idempotent(
    db: Database,
    requests: Table,
    *,
    caller: Identity,
    method: str,
    request_id: str,
    request: Mapping[str, Any],
    work: Callable[[Connection], T],
    encode: Callable[[T], bytes],
    decode: Callable[[bytes], T],
) -> T:
    """Runs work in one transaction, once per (caller, method, request id); a retry gets the first answer."""
    check_request_id(request_id)
    if not request_id:
        with db.write() as conn:
            return work(conn)
    key = _key(caller, method, request_id)
    digest = fingerprint(request)
    stored = _stored(db, requests, key, digest)
    if stored is not None:
        return decode(stored)
    try:
        with db.write() as conn:
            conn.execute(
                requests.insert().values(
                    key=key, method=method, fingerprint=digest, response=None, created_at=int(time.time())
                )
            )
            result = work(conn)
            conn.execute(requests.update().where(requests.c.key == key).values(response=encode(result)))
            return result
    except IntegrityError:
        # Another replica ran the same request first; its transaction has committed by now.
        stored = _stored(db, requests, key, digest)
        if stored is None:
            raise
        return decode(stored)


def answered(
    db: Database,
    requests: Table,
    *,
    caller: Identity,
    method: str,
    request_id: str,
    request: Mapping[str, Any],
) -> bytes | None:
    """The answer stored for a request already done under (caller, method, request id); None when it was
    not done (or has no request id). A use case that checks things before its write (a password) asks this
    first, so that a retry gets the first answer rather than the checks' verdict on a changed world."""
    check_request_id(request_id)
    if not request_id:
        return None
    return _stored(db, requests, _key(caller, method, request_id), fingerprint(request))


def _key(caller: Identity, method: str, request_id: str) -> str:
    scope = "\0".join((caller.role, caller.unit, caller.subject, method, request_id))
    return hashlib.sha256(scope.encode()).hexdigest()


def once(
    db: Database,
    requests: Table,
    audit: AuditTrail,
    *,
    caller: Identity,
    method: str,
    request_id: str,
    request: Mapping[str, Any],
    work: Callable[[Connection], V],
    view: type[V],
    target: Callable[[V], str],
    decode: Callable[[bytes], V] | None = None,
    attempts: int = 1,
) -> V:
    """A write use case's one wrapper: work once per (caller, method, request id), audited in its transaction.

    The answer is a dataclass view (view), kept as its JSON and given back to a retry (decode when the view
    holds other dataclasses). With attempts > 1, work that collided with a concurrent writer (an
    IntegrityError: the same new row written twice at once) runs again and sees what the other wrote.
    """
    audited = audit.audited(work, actor=caller, method=method, target=target)
    for attempt in range(attempts):
        try:
            return idempotent(
                db,
                requests,
                caller=caller,
                method=method,
                request_id=request_id,
                request=request,
                work=audited,
                encode=lambda v: json.dumps(asdict(v), ensure_ascii=False).encode(),
                decode=decode or (lambda b: view(**json.loads(b))),
            )
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("attempts must be at least 1")


def _stored(db: Database, requests: Table, key: str, digest: str) -> bytes | None:
    """The stored answer under key; refused when the id was used for a different request."""
    with db.read(primary=True) as conn:
        row = conn.execute(
            select(requests.c.fingerprint, requests.c.response).where(requests.c.key == key)
        ).first()
    if row is None:
        return None
    if row.fingerprint != digest:
        raise InvalidArgument("request_id", "已用于另一个请求：新的请求请用新的请求编号")
    return bytes(row.response) if row.response is not None else None
