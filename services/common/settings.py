"""Typed settings, read once from the command line and the environment; bad values fail fast."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT_BASE = 50050
# Where the command line finds the gateway of a stack started with the default port base.
DEFAULT_GATEWAY = f"127.0.0.1:{DEFAULT_PORT_BASE}"
# What a client may send the gateway in one message: a 1 MiB import piece fits, a flood does not.
DEFAULT_MAX_REQUEST_BYTES = 4 << 20
DEFAULT_IMPORT_RECOVERY_AFTER = 30.0
# A read replica lagging more than this (seconds) is not read; a caller's read waits this long for its write.
DEFAULT_READ_MAX_LAG = 3.0
DEFAULT_READ_WAIT = 0.25
DEFAULT_SCHEME = Path("schemes/default.toml")
# The checkout's own preset, for a `kaohe serve` started outside the project folder.
BUNDLED_SCHEME = Path(__file__).resolve().parents[2] / "schemes" / "default.toml"
# In the data dir: the first office account's one-time password, left by the gateway at first start (0600).
FIRST_PASSWORD_FILE = "first-office-password"


class ConfigError(Exception):
    """A setting that makes the stack unable to start; the message is one line for the operator."""


@dataclass(frozen=True)
class Settings:
    """Where everything lives and listens."""

    data_dir: Path
    port_base: int
    scheme_path: Path
    tasks_db_url: str
    scoring_db_url: str
    bind_host: str
    gateway_bind_host: str
    tasks_addr: str
    scoring_addr: str
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    # Seconds a staged import is left to its gateway before scoring's recovery settles it.
    import_recovery_after: float = DEFAULT_IMPORT_RECOVERY_AFTER
    # /metrics listens on loopback unless told; anywhere else it wants this bearer token.
    metrics_host: str = "127.0.0.1"
    metrics_token: str = ""
    # PostgreSQL streaming replicas the read-heavy calls go to ("" = read the primary), and their bounds.
    tasks_db_read_url: str = ""
    scoring_db_read_url: str = ""
    db_read_max_lag: float = DEFAULT_READ_MAX_LAG
    db_read_wait: float = DEFAULT_READ_WAIT

    @property
    def gateway_port(self) -> int:
        return self.port_base

    @property
    def tasks_port(self) -> int:
        return self.port_base + 1

    @property
    def scoring_port(self) -> int:
        return self.port_base + 2

    def metrics_port(self, service: str) -> int:
        return self.port_base + 10 + {"gateway": 0, "tasks": 1, "scoring": 2}[service]


def load(*, data_dir: str | None = None, port_base: int | None = None, scheme: str | None = None) -> Settings:
    """Settings from explicit values, then KAOHE_* variables, then defaults."""
    directory = Path(data_dir or os.environ.get("KAOHE_DATA_DIR") or "var").resolve()
    try:
        base = (
            port_base if port_base is not None else int(os.environ.get("KAOHE_PORT_BASE", DEFAULT_PORT_BASE))
        )
    except ValueError:
        raise ConfigError("KAOHE_PORT_BASE 须为整数") from None
    if not 1024 <= base <= 65500:
        raise ConfigError(f"端口起点 {base} 须在 1024 与 65500 之间")
    scheme_path = Path(scheme or os.environ.get("KAOHE_SCHEME") or DEFAULT_SCHEME)
    if not (scheme or os.environ.get("KAOHE_SCHEME")) and not scheme_path.exists():
        scheme_path = BUNDLED_SCHEME
    bind = os.environ.get("KAOHE_BIND_HOST", "127.0.0.1")
    try:
        max_request = int(os.environ.get("KAOHE_MAX_REQUEST_BYTES") or DEFAULT_MAX_REQUEST_BYTES)
    except ValueError:
        raise ConfigError("KAOHE_MAX_REQUEST_BYTES 须为整数（字节）") from None
    if not 64 << 10 <= max_request <= 1 << 30:
        raise ConfigError("KAOHE_MAX_REQUEST_BYTES 须在 65536 与 1073741824 之间")
    try:
        recovery_after = float(os.environ.get("KAOHE_IMPORT_RECOVERY_AFTER") or DEFAULT_IMPORT_RECOVERY_AFTER)
    except ValueError:
        raise ConfigError("KAOHE_IMPORT_RECOVERY_AFTER 须为秒数") from None
    if not 1 <= recovery_after <= 86400:
        raise ConfigError("KAOHE_IMPORT_RECOVERY_AFTER 须在 1 与 86400 秒之间")
    max_lag = _seconds("KAOHE_DB_READ_MAX_LAG_SECONDS", DEFAULT_READ_MAX_LAG, 0.1, 3600)
    read_wait = _seconds("KAOHE_DB_READ_WAIT_SECONDS", DEFAULT_READ_WAIT, 0, 60)
    return Settings(
        data_dir=directory,
        port_base=base,
        scheme_path=scheme_path.resolve(),
        tasks_db_url=os.environ.get("KAOHE_TASKS_DB_URL") or f"sqlite:///{directory / 'tasks.db'}",
        scoring_db_url=os.environ.get("KAOHE_SCORING_DB_URL") or f"sqlite:///{directory / 'scoring.db'}",
        bind_host=bind,
        gateway_bind_host=os.environ.get("KAOHE_GATEWAY_BIND_HOST", bind),
        tasks_addr=os.environ.get("KAOHE_TASKS_ADDR") or f"127.0.0.1:{base + 1}",
        scoring_addr=os.environ.get("KAOHE_SCORING_ADDR") or f"127.0.0.1:{base + 2}",
        max_request_bytes=max_request,
        import_recovery_after=recovery_after,
        metrics_host=os.environ.get("KAOHE_METRICS_HOST") or "127.0.0.1",
        metrics_token=os.environ.get("KAOHE_METRICS_TOKEN", "").strip(),
        tasks_db_read_url=os.environ.get("KAOHE_TASKS_DB_READ_URL", "").strip(),
        scoring_db_read_url=os.environ.get("KAOHE_SCORING_DB_READ_URL", "").strip(),
        db_read_max_lag=max_lag,
        db_read_wait=read_wait,
    )


def _seconds(name: str, default: float, low: float, high: float) -> float:
    """A number of seconds from the environment variable name, between low and high."""
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        raise ConfigError(f"{name} 须为秒数（如 {default}）") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} 须在 {low} 到 {high} 秒之间")
    return value


def gateway_address(explicit: str | None = None) -> str:
    """The gateway the command line talks to: the explicit address, then KAOHE_GATEWAY, then the default."""
    return explicit or os.environ.get("KAOHE_GATEWAY") or DEFAULT_GATEWAY
