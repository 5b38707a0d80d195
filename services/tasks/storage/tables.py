"""The tasks service's tables: units, tasks, co-units, the append-only event history, reminders told."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from services.common.attachment_records import attachments_table
from services.common.audit import audit_table
from services.common.db import sequence_table
from services.common.idempotency import requests_table

metadata = MetaData()

units = Table(
    "units",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("category", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # The unit above it (a 村/社区 under its 乡镇): a 乡镇's account reaches the units under it.
    Column("parent", String(64), nullable=True),
    Index("ix_units_parent", "parent"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("title", Text, nullable=False),
    Column("task_type", String(64), nullable=False),
    Column("source", Text, nullable=False, default=""),
    Column("lead_unit", String(64), ForeignKey("units.id"), nullable=False),
    Column("priority", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("assigned_at", BigInteger, nullable=True),
    Column("due_at", BigInteger, nullable=True),
    Column("due_given", Boolean, nullable=False, default=False),
    Column("reported_at", BigInteger, nullable=True),
    Column("cancelled_at", BigInteger, nullable=True),
    Column("closed_at", BigInteger, nullable=True),
    # The latest verify (核查) event's instant: the report that counts is verified when it is before it.
    Column("verified_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    # The canonical JSON of the record as imported or created: re-imports compare against it.
    Column("record", Text, nullable=False),
    Index("ix_tasks_due_at", "due_at"),
    Index("ix_tasks_lead_state", "lead_unit", "state"),
    # 责任人, 包保领导 (person ids) and the task this one is a part of (任务分解); NULL when none.
    Column("responsible", String(64), nullable=True),
    Column("leader", String(64), nullable=True),
    Column("parent", String(64), nullable=True),
    # On PostgreSQL without the tasks that have none, nearly all of an imported year (migration 0015).
    Index("ix_tasks_parent", "parent", postgresql_where=text("parent IS NOT NULL")),
    Index("ix_tasks_responsible", "responsible", postgresql_where=text("responsible IS NOT NULL")),
)

task_co_units = Table(
    "task_co_units",
    metadata,
    Column("task_id", String(64), ForeignKey("tasks.id"), primary_key=True),
    Column("unit_id", String(64), ForeignKey("units.id"), primary_key=True),
    Index("ix_task_co_units_unit", "unit_id"),
)

# 延期申请: a department asks for a later due instant with its reason; the office approves (an `extend`
# event in the same transaction) or refuses with its reason. Who filed and who decided are kept on the row.
extension_requests = Table(
    "extension_requests",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False),
    Column("task_id", String(64), ForeignKey("tasks.id"), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("asked_due", BigInteger, nullable=False),
    Column("due_before", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("filed_at", BigInteger, nullable=False),
    Column("filed_by", String(256), nullable=False),
    Column("filed_role", String(32), nullable=False),
    Column("filed_unit", String(64), nullable=False),
    Column("granted_due", BigInteger, nullable=True),
    Column("decided_at", BigInteger, nullable=True),
    Column("decided_by", String(256), nullable=False, default=""),
    Column("decided_role", String(32), nullable=False, default=""),
    Column("decided_unit", String(64), nullable=False, default=""),
    Column("decision_reason", Text, nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    UniqueConstraint("id", name="uq_extension_requests_id"),
    Index("ix_extension_requests_unit", "unit"),
    Index("ix_extension_requests_task", "task_id", "state"),
)

task_events = Table(
    "task_events",
    metadata,
    # The global sequence is the recorded order that breaks ties between equal instants.
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("task_id", String(64), ForeignKey("tasks.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("by", String(128), nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
    Column("rejected", Boolean, nullable=False, default=False),
    Column("recorded_at", BigInteger, nullable=False),
    # An extend's (延期) new due instant; NULL for every other kind.
    Column("due_at", BigInteger, nullable=True),
    Index("ix_task_events_task", "task_id", "at"),
    # On PostgreSQL without the create and assign rows, which nothing looks up by kind (migration 0015).
    Index(
        "ix_task_events_report",
        "kind",
        "task_id",
        postgresql_where=text("kind NOT IN ('create', 'assign')"),
    ),
)

# Each time a reminder (催办) told a channel of a (task, event, unit): its occurrence (1, 2, …), when,
# and for a missed progress deadline which one. channel: the channel's fingerprint, "*" for rows
# kept from before channels were told apart. Kept across restarts so repeats and escalations hold.
reminder_occurrences = Table(
    "reminder_occurrences",
    metadata,
    Column("task_id", String(64), ForeignKey("tasks.id"), primary_key=True),
    Column("event", String(16), primary_key=True),
    Column("unit_id", String(64), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("occurrence", Integer, primary_key=True),
    Column("sent_at", BigInteger, nullable=False),
    Column("deadline_at", BigInteger, nullable=True),
)

# Prefixed: the tasks and scoring services may share one PostgreSQL database.
requests = requests_table(metadata, "tasks_requests")
change_sequence = sequence_table(metadata, "tasks_change_sequence")
audit = audit_table(metadata, "tasks_audit")

# The record of decision of two-service imports: an import id is "committed" when its tasks half was
# stored (in the same transaction), "aborted" when scoring's recovery found it undecided.
import_decisions = Table(
    "import_decisions",
    metadata,
    Column("import_id", String(64), primary_key=True),
    Column("outcome", String(16), nullable=False),
    Column("decided_at", BigInteger, nullable=False),
)

# The State Council's holiday notices imported (kaohe calendar import), one per year: its text as given
# and what it decides (HolidayNotice.canonical), which the calendar of both services is built from.
holiday_notices = Table(
    "holiday_notices",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("text", Text, nullable=False),
    Column("canonical", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("imported_at", BigInteger, nullable=False),
    Column("imported_by", String(128), nullable=False),
)


# The people responsible for work (责任人), each of one unit; `leader` marks a 县级领导 / 班子成员.
persons = Table(
    "persons",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("unit_id", String(64), ForeignKey("units.id"), nullable=False),
    Column("post", String(200), nullable=False),
    Column("leader", Boolean, nullable=False, default=False),
    Column("mobile", String(16), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_persons_unit", "unit_id"),
)

attachments = attachments_table(metadata)

# Counters of the ids the service makes (an extension request's YQ2026-001): one row per scope (a year's
# numbering), taken with UPDATE … RETURNING in the write's own transaction, so two writers never draw the
# same number. Named for the service: tasks and scoring may share one PostgreSQL database.
id_counters = Table(
    "tasks_id_counters",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("next", BigInteger, nullable=False),
)
