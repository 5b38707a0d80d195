"""The scoring service's tables: schemes, assessment records, runs."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from services.common.attachment_records import attachments_table
from services.common.audit import audit_table
from services.common.db import sequence_table
from services.common.idempotency import requests_table

metadata = MetaData()

schemes = Table(
    "schemes",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("id", String(128), nullable=False),
    Column("name", Text, nullable=False),
    Column("year", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Every assessment input of FORMATS.md (error_report, metric_reading, incentive, tolerance,
# accountability, appeal) as one row: its kind, its id, its unit, its year and its fields.
records = Table(
    "records",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("rid", String(200), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("year", Integer, nullable=False),
    Column("payload", Text, nullable=False),
    Column("voided", Boolean, nullable=False, default=False),
    Column("void_reason", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    UniqueConstraint("kind", "rid", name="uq_records_kind_rid"),
    Index("ix_records_kind_year", "kind", "year"),
    Index("ix_records_unit", "unit"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("year", Integer, nullable=False),
    Column("scheme_sha256", String(64), nullable=False),
    Column("scheme_id", String(128), nullable=False),
    Column("as_of", BigInteger, nullable=False),
    Column("input_digest", String(64), nullable=False),
    Column("supersedes", String(64), nullable=False, default=""),
    Column("superseded_by", String(64), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("published_at", BigInteger, nullable=True),
    Column("finalized_at", BigInteger, nullable=True),
    Column("appeal_deadline", BigInteger, nullable=True),
    Column("duration_seconds", Float, nullable=False, default=0.0),
    Column("document", Text, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Index("ix_runs_year", "year", "created_at"),
)

# A run's timeliness lines (services/scoring/task_lines.py), in parts of consecutive units of its document:
# first_unit the position in the document's units of the part's first unit, arrays the layout (JSON) of
# data, one deflate stream of numpy columns. Binary, not text in the document: no base64, and a unit's
# breakdown reads only its part.
run_lines = Table(
    "run_lines",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.id"), primary_key=True),
    Column("first_unit", Integer, primary_key=True),
    Column("units", Integer, nullable=False),
    Column("arrays", Text, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

# Prefixed: the tasks and scoring services may share one PostgreSQL database.
requests = requests_table(metadata, "scoring_requests")
change_sequence = sequence_table(metadata, "scoring_change_sequence")
audit = audit_table(metadata, "scoring_audit")

# An import's scoring half between its two phases: invisible to reads and runs until the tasks
# service has recorded the import committed. At most one import is staged at a time.
staged_imports = Table(
    "staged_imports",
    metadata,
    Column("import_id", String(64), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

staged_records = Table(
    "staged_records",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("import_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("rid", String(200), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("year", Integer, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("kind", "rid", name="uq_staged_records_kind_rid"),
    Index("ix_staged_records_import", "import_id"),
)

# 容错申请: a unit's application for tolerance on a task or an error report, pending until the office
# decides it (exempt | mitigate | refused); a grant is also stored as the tolerance record of its id.
applications = Table(
    "applications",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String(200), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("year", Integer, nullable=False),
    Column("target_type", String(32), nullable=False),
    Column("target", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("filed_at", BigInteger, nullable=False),
    Column("decided_at", BigInteger, nullable=True),
    Column("decision_reason", Text, nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    UniqueConstraint("id", name="uq_applications_id"),
    Index("ix_applications_year_state", "year", "state"),
    Index("ix_applications_unit", "unit"),
)

# The timeline of appeals and applications: who filed or decided what, when, and why.
workflow_events = Table(
    "workflow_events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("subject_kind", String(16), nullable=False),
    Column("subject_id", String(200), nullable=False),
    Column("event", String(16), nullable=False),
    Column("outcome", String(16), nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
    Column("actor", String(256), nullable=False),
    Column("actor_role", String(32), nullable=False),
    Column("actor_unit", String(64), nullable=False),
    Column("at", BigInteger, nullable=False),
    Index("ix_workflow_events_subject", "subject_kind", "subject_id"),
)

# 附件 on appeals and 容错 applications (the files themselves outside the database).
# Named apart from the tasks service's: both services may share one database (one schema).
attachments = attachments_table(metadata, "scoring_attachments")

# Ids made by the service (run "2026-001", 容错申请 "RC2026-001"): per scope ("run:2026", "application:2026")
# the next number, taken by one upsert in the write's own transaction (storage/counters.py), never
# count + 1. Prefixed like the tables above: the tasks and scoring services may share one database.
id_counters = Table(
    "scoring_id_counters",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("next", BigInteger, nullable=False),
)
