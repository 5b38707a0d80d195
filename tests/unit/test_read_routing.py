"""The read replica's settings and bookkeeping without a server (the real replica: test_read_replica.py)."""

from __future__ import annotations

import pytest

from services.common import settings
from services.common.db import Database
from services.common.read_routing import MAX_CALLERS, ReadLimits, lsn
from services.common.settings import ConfigError


def test_a_pg_lsn_reads_as_a_number_that_orders_like_the_wal() -> None:
    assert lsn("0/0") == 0 and lsn(None) == 0 and lsn("") == 0
    assert lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert lsn("1/0") > lsn("0/FFFFFFFF")


def test_the_read_settings_default_and_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAOHE_TASKS_DB_READ_URL", "KAOHE_SCORING_DB_READ_URL", "KAOHE_DB_READ_MAX_LAG_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("KAOHE_DB_READ_WAIT_SECONDS", raising=False)
    loaded = settings.load(data_dir="var-test-unused")
    assert (loaded.tasks_db_read_url, loaded.scoring_db_read_url) == ("", "")
    assert (loaded.db_read_max_lag, loaded.db_read_wait) == (3.0, 0.25)
    monkeypatch.setenv("KAOHE_TASKS_DB_READ_URL", "postgresql://kaohe@replica/kaohe")
    monkeypatch.setenv("KAOHE_DB_READ_MAX_LAG_SECONDS", "1.5")
    loaded = settings.load(data_dir="var-test-unused")
    assert (loaded.tasks_db_read_url, loaded.db_read_max_lag) == ("postgresql://kaohe@replica/kaohe", 1.5)
    for value in ("abc", "0", "99999"):
        monkeypatch.setenv("KAOHE_DB_READ_MAX_LAG_SECONDS", value)
        with pytest.raises(ConfigError, match="KAOHE_DB_READ_MAX_LAG_SECONDS"):
            settings.load(data_dir="var-test-unused")


def test_a_replica_needs_a_postgresql_primary_and_its_password_is_never_told() -> None:
    with pytest.raises(ConfigError) as refused:
        Database("sqlite://", read_url="postgresql://kaohe:s3cret@replica/kaohe")
    assert "s3cret" not in str(refused.value) and "PostgreSQL" in str(refused.value)


def test_a_caller_floor_only_rises_and_the_callers_kept_are_bounded() -> None:
    db = Database(
        "postgresql://kaohe:pw@127.0.0.1:1/none",
        read_url="postgresql://kaohe:pw@127.0.0.1:2/none",
        limits=ReadLimits(max_lag=1.0, wait=0.0),
    )
    router = db.router
    assert router is not None
    router._raise_floor("a", 10)
    router._raise_floor("a", 5)
    assert router._floors["a"] == 10
    for n in range(MAX_CALLERS + 5):
        router._raise_floor(n, n)
    assert len(router._floors) == MAX_CALLERS and "a" not in router._floors
    db.dispose()
