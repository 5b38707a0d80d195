"""The reminders table's migration: keys announced once before it become occurrence 1 of every channel."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from services.common.db import Database, migrate
from services.notify.config import Channel
from services.notify.planner import TaskFact, plan
from services.tasks.__main__ import MIGRATIONS
from services.tasks.reminders import told_of
from services.tasks.storage import repository as repo
from tests.conftest import Databases
from tests.integration.test_reminders_loop import NOW


def test_keys_sent_once_before_are_kept_as_occurrence_1_for_every_channel(databases: Databases) -> None:
    db = Database(databases.url("tasks"), sequence="tasks_change_sequence")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0006")
    stamp = int(NOW.timestamp()) - 3600
    # Written as SQL: the tables' Python definitions are of the newest schema, not of 0006.
    rows = {
        "units": {"id": "fgj", "name": "发改局", "category": "department", "created_at": stamp},
        "tasks": {
            **{
                "id": "R1",
                "title": "批示",
                "task_type": "leader_directive",
                "source": "",
                "lead_unit": "fgj",
            },
            **{"priority": "normal", "state": "assigned", "assigned_at": stamp, "due_at": stamp},
            **{"due_given": True, "record": "{}", "version": 1, "created_at": stamp, "updated_at": stamp},
        },
        "reminders_sent": {"task_id": "R1", "event": "red", "unit_id": "fgj", "sent_at": stamp},
    }
    with db.write() as conn:
        for table, values in rows.items():
            names = ", ".join(values)
            marks = ", ".join(f":{name}" for name in values)
            conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), values)
    migrate(db, MIGRATIONS, service="tasks")
    with db.read() as conn:
        (row,) = repo.reminders_of(conn, ["R1"])
        announced = told_of(conn, ["R1"], tz=NOW.tzinfo)
    assert (row.channel, row.occurrence, row.sent_at, row.deadline_at) == ("*", 1, stamp, None)
    # Whatever channels the file names now, the red task was told: none says it a second time.
    channels = [
        Channel(url=f"http://127.0.0.1:9/{n}", format="json", units=("*",), events=("red",)) for n in "ab"
    ]
    fact = TaskFact("R1", "批示", "fgj", (), "red", NOW, NOW)
    assert plan(facts=[fact], categories={}, channels=channels, announced=announced, now=NOW) == []
