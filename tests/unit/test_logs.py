"""Process logs: one human line per event by default, JSON lines behind KAOHE_LOG_FORMAT=json."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from services.common import logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level, factory = root.handlers[:], root.level, logging.getLogRecordFactory()
    migrations, audit = logging.getLogger("alembic").level, logging.getLogger("kaohe.audit").level
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(migrations)
    logging.getLogger("kaohe.audit").setLevel(audit)
    logging.setLogRecordFactory(factory)


def test_a_person_reads_one_line_per_event(captured: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.ENV_FORMAT, raising=False)
    logs.configure("web", stream=captured)
    logging.getLogger("kaohe.web").info("serving", extra={"address": "https://127.0.0.1:50080/"})
    logging.getLogger("alembic.runtime.migration").info("Running upgrade 0001 -> 0002")
    logging.getLogger("kaohe.audit").info(
        "audit", extra={"audit": {"method": "/x/ImportLedger"}}
    )  # in its file
    logging.getLogger("kaohe.web").warning("csrf refused", extra={"path": "/office runs"})
    first, second = captured.getvalue().splitlines()
    assert first.endswith(" web      serving address=https://127.0.0.1:50080/")
    assert first[:8].count(":") == 2 and not first.lstrip("0123456789:").startswith("{")
    assert second.endswith('warning: csrf refused path="/office runs"')


def test_json_lines_behind_the_flag(captured: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(logs.ENV_FORMAT, "json")
    logs.configure("gateway", stream=captured)
    logging.getLogger("kaohe.gateway").info("serving", extra={"address": "127.0.0.1:50050"})
    logging.getLogger("kaohe.audit").info("audit", extra={"audit": {"method": "/x/ImportLedger"}})
    entry, audit = (json.loads(line) for line in captured.getvalue().splitlines())
    assert entry["msg"] == "serving" and entry["service"] == "gateway" and entry["level"] == "info"
    assert entry["address"] == "127.0.0.1:50050"
    assert audit["audit"] == {"method": "/x/ImportLedger"}  # a collector gets every audit line
