"""Process logs on stderr: one human line per event, or one JSON object a line with KAOHE_LOG_FORMAT=json."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import TextIO

ENV_FORMAT = "KAOHE_LOG_FORMAT"
_SKIP = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {key: value for key, value in vars(record).items() if key not in _SKIP}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with its extra fields (for a log collector)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class HumanFormatter(logging.Formatter):
    """`19:05:02 gateway  serving address=127.0.0.1:50050`: the time, the service, what happened."""

    def format(self, record: logging.LogRecord) -> str:
        extras = _extras(record)
        service = str(extras.pop("service", ""))
        level = "" if record.levelno <= logging.INFO else f"{record.levelname.lower()}: "
        details = " ".join(f"{key}={_short(value)}" for key, value in extras.items())
        line = f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {service:<8} {level}"
        line += record.getMessage() + (f" {details}" if details else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if " " not in text else json.dumps(text, ensure_ascii=False)


def configure(service: str, level: str = "INFO", *, stream: TextIO | None = None) -> None:
    """Sends every log line of this process to stderr, tagged with the service: human lines unless
    KAOHE_LOG_FORMAT=json (`make run ARGS=…` keeps the terminal readable; collectors want JSON)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    wants_json = os.environ.get(ENV_FORMAT, "").strip().lower() == "json"
    handler.setFormatter(JsonFormatter() if wants_json else HumanFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # A migration's every step ("setup plugin …", "Running upgrade …") is for a collector, not a person.
    logging.getLogger("alembic").setLevel(logging.INFO if wants_json else logging.WARNING)
    # So is the audit's line per call (the sample county's import writes dozens): the audit file and table
    # keep every one; the terminal shows only an audit line that could not be written.
    logging.getLogger("kaohe.audit").setLevel(logging.INFO if wants_json else logging.WARNING)
    old_factory = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = old_factory(*args, **kwargs)  # type: ignore[arg-type]
        record.service = service
        return record

    logging.setLogRecordFactory(factory)
