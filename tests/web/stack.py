"""A gateway with accounts next to the test stack's (same tasks and scoring services)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import Stack


@contextmanager
def with_accounts(stack: Stack, db_url: str) -> Iterator[str]:
    """Starts a gateway keeping accounts in db_url; its address while the block runs."""
    from services.gateway.__main__ import create as create_gateway

    gateway = create_gateway(
        address="127.0.0.1:0",
        keys=stack.keys,
        tls=stack.tls.config("gateway"),
        tasks_addr=stack.tasks_addr,
        scoring_addr=stack.scoring_addr,
        audit_path=stack.audit_path,
        accounts_db_url=db_url,
    )
    gateway.server.start()
    try:
        yield f"127.0.0.1:{gateway.port}"
    finally:
        gateway.server.stop(0).wait()
        gateway.backends.tasks.close()
        gateway.backends.scoring.close()
