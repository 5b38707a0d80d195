"""The scoring service's half of the ledger export: every assessment record as the line that imports it."""

from __future__ import annotations

import json
from collections.abc import Iterator

from services.common.db import Database
from services.common.vocabulary import RECORD_KINDS
from services.scoring.storage import repository as repo

__all__ = ["record_lines"]

BATCH = 1000
# What a record may point at comes before it: error reports and 问责 before the 容错 and appeals on them.
ORDER = {kind: i for i, kind in enumerate(("error_report", "accountability", *RECORD_KINDS))}


def record_lines(db: Database) -> Iterator[list[str]]:
    """Every record (voided ones too: an upheld appeal voids again when it is imported), kind by kind."""
    with db.read() as conn:
        rows = repo.scoring_records(conn)
    rows.sort(key=lambda row: ORDER[row.kind] if row.kind in ORDER else len(ORDER))
    batch: list[str] = []
    for row in rows:
        payload = {k: v for k, v in json.loads(row.payload).items() if v is not None}
        batch.append(json.dumps({"type": row.kind, **payload}, ensure_ascii=False))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
