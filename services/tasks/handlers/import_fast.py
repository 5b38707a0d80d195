"""The ledger import's checks over a whole batch at once, for the common batch of task and event lines.

A batch is decoded by msgspec and checked column by column (one regular expression over a joined column,
numpy over the instants). It only ever accepts: whatever it does not vouch for — a unit or person line, a
person or parent named, an extension, a changed record, anything unusual in a value — it leaves to the
line-by-line checks of handlers/import_lines.py, untouched, which then refuse with today's exact
line-numbered words or accept. Both stage the same rows, so an accepted batch is stored the same either way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) writes a string with
from typing import Any

import numpy as np

from services.common import calendar as cal
from services.common.jsonlines import common_object
from services.common.text import NOTE_MAX, TITLE_MAX
from services.common.timeutil import from_epoch, to_epoch
from services.tasks import ledger
from services.tasks.handlers.import_run import ImportRun

_SEP = "\n"
_IDS = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._-]{0,63}\n)*")
# An instant as ledgers write it, to the second, with its offset; numpy checks the calendar.
_INSTANTS = re.compile(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}\n)*")
_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MULTI_LINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_TASK_REQUIRED, _TASK_ALLOWED = ledger.FIELDS["task"]
_EVENT_REQUIRED, _EVENT_ALLOWED = ledger.FIELDS["task_event"]
# Fields left to the line-by-line checks when given: people, parts, and an extension's due instant.
_TASK_SLOW = ("responsible", "leader", "parent")
_EVENT_KINDS = frozenset(ledger.EVENT_KINDS) - {"extend"}
_BY_SECONDS = {"minutes": 60, "hours": 3600}


class Declined(Exception):
    """The batch is one for the line-by-line checks."""


def decode(lines: Sequence[tuple[int, str]]) -> list[dict[str, Any]]:
    """The batch's objects; Declined unless every line is a common one (jsonlines.common_object)."""
    objs = [common_object(text) for _, text in lines]
    if None in objs:
        raise Declined
    return objs  # type: ignore[return-value]


def ids(values: list[Any]) -> list[str]:
    """values when each is an id of the safe alphabet (services/common/ids.py)."""
    if not _all_str(values):
        raise Declined
    joined = _SEP.join(values) + _SEP
    if joined.count(_SEP) != len(values) or not _IDS.fullmatch(joined):
        raise Declined
    return values


def instants(values: list[Any]) -> np.ndarray:
    """Epoch seconds of ISO 8601 instants written to the second with an offset, years 1990–2100."""
    if not values:
        return np.zeros(0, dtype=np.int64)
    if not _all_str(values):
        raise Declined
    joined = _SEP.join(values) + _SEP
    if joined.count(_SEP) != len(values) or not _INSTANTS.fullmatch(joined):
        raise Declined
    try:
        local = np.array([v[:19] for v in values], dtype="datetime64[s]")
        offsets = {o: _offset(o) for o in {v[19:] for v in values}}
    except ValueError:
        raise Declined from None
    years = local.astype("datetime64[Y]").astype(np.int64) + 1970
    if years.min() < 1990 or years.max() > 2100:
        raise Declined
    shift = np.array([offsets[v[19:]] for v in values], dtype=np.int64)
    return local.astype(np.int64) - shift


def _offset(text: str) -> int:
    moment = datetime.fromisoformat("2000-01-01T00:00:00" + text)
    offset = moment.utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def texts(values: list[Any], *, max_len: int, required: bool, newlines: bool = False) -> list[str]:
    """Text fields as ledger._text takes them: None for an optional one is ""."""
    if not required:
        values = ["" if v is None else v for v in values]
    if not _all_str(values):
        raise Declined
    if values and max(map(len, values)) > max_len:
        raise Declined
    if required and not all(map(str.strip, values)):
        raise Declined
    if (_MULTI_LINE if newlines else _SINGLE_LINE).search("".join(values)):
        raise Declined
    return values


def _among(values: list[Any], known: Any) -> list[str]:
    """values when each is a string among known."""
    if not (_all_str(values) and set(values) <= known):
        raise Declined
    return values


def _all_str(values: list[Any]) -> bool:
    return not values or set(map(type, values)) == {str}


def _fields(objs: list[dict[str, Any]], required: frozenset[str] | set[str], allowed: Any) -> None:
    for obj in objs:
        keys = obj.keys()
        if not (keys >= required and keys <= allowed):
            raise Declined


def task_columns(run: ImportRun, objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The task lines' fields as columns, checked as ledger.task_fields checks them."""
    _fields(objs, _TASK_REQUIRED, _TASK_ALLOWED)
    if any(obj.get(name) is not None for obj in objs for name in _TASK_SLOW):
        raise Declined
    scheme = run.scheme
    task_types = _among([obj["task_type"] for obj in objs], scheme.task_types.keys())
    written = [obj.get("priority") for obj in objs]
    priorities = _among(
        ["normal" if p is None else p for p in written], scheme.timeliness.priority_weights.keys()
    )
    task_ids = ids([obj["id"] for obj in objs])
    leads = ids([obj["lead_unit"] for obj in objs])
    co_units = [_co_units(obj.get("co_units"), lead) for obj, lead in zip(objs, leads, strict=True)]
    assigned = instants([obj["assigned_at"] for obj in objs])
    given = [k for k, obj in enumerate(objs) if obj.get("due_at") is not None]
    due: list[int | None] = [None] * len(objs)
    if given:
        dues = instants([objs[k]["due_at"] for k in given])
        if (dues < assigned[given]).any():
            raise Declined
        for k, moment in zip(given, dues.tolist(), strict=True):
            due[k] = moment
    if len(set(task_ids)) != len(task_ids):
        raise Declined
    return {
        "id": task_ids,
        "title": texts([obj["title"] for obj in objs], max_len=TITLE_MAX, required=True),
        "task_type": task_types,
        "lead_unit": leads,
        "co_units": co_units,
        "priority": priorities,
        "assigned_at": assigned.tolist(),
        "due_at": due,
        "source": texts([obj.get("source") for obj in objs], max_len=NOTE_MAX, required=False),
    }


def _co_units(value: Any, lead: str) -> list[str]:
    if value is None:
        return []
    if type(value) is not list or len(value) > ledger.MAX_CO_UNITS:
        raise Declined
    ids(value)
    if lead in value or len(set(value)) != len(value):
        raise Declined
    return value


def event_columns(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The event lines' fields as columns, checked as ledger.parse_event checks them (no extension)."""
    _fields(objs, _EVENT_REQUIRED, _EVENT_ALLOWED - {"due_at"})
    kinds = _among([obj["kind"] for obj in objs], _EVENT_KINDS)
    return {
        "task": ids([obj["task"] for obj in objs]),
        "kind": kinds,
        "at": instants([obj["at"] for obj in objs]).tolist(),
        "by": texts([obj.get("by") for obj in objs], max_len=128, required=False),
        "note": texts([obj.get("note") for obj in objs], max_len=NOTE_MAX, required=False, newlines=True),
    }


def due_of(run: ImportRun, task_type: str, assigned: int, given: int | None) -> int:
    """A task's due instant as import_lines._due gives it: as given, else its type's limit."""
    if given is not None:
        return given
    limit = run.scheme.task_types[task_type].limit
    if limit.unit in _BY_SECONDS:
        return assigned + limit.amount * _BY_SECONDS[limit.unit]
    moment = from_epoch(assigned, run.tz)
    key = (task_type, moment.date())
    found = run.due_by_day.get(key)
    if found is None:
        found = to_epoch(cal.due_at(assigned_at=moment, limit=limit, calendar=run.calendar, tz=run.tz))
        run.due_by_day[key] = found
    return found


def canonical(
    *,
    id: str,
    title: str,
    task_type: str,
    lead_unit: str,
    co_units: list[str],
    priority: str,
    assigned_at: int,
    due_at: int | None,
    source: str,
) -> str:
    """ledger.TaskRecord.canonical of a task without people or parts, without building the record."""
    co = "[" + ", ".join(map(encode_basestring, co_units)) + "]"
    due = "null" if due_at is None else str(due_at)
    return (
        f'{{"assigned_at": {assigned_at}, "co_units": {co}, "due_at": {due}, "id": {encode_basestring(id)}, '
        f'"lead_unit": {encode_basestring(lead_unit)}, "priority": {encode_basestring(priority)}, '
        f'"source": {encode_basestring(source)}, "task_type": {encode_basestring(task_type)}, '
        f'"title": {encode_basestring(title)}}}'
    )
