"""What a person types for a unit or a priority, as its code: the code itself or its Chinese name."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.timestamp_pb2 import Timestamp
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.cli.client import Client, Refused
from services.common import status
from services.common.errors import InvalidArgument
from services.common.paging import every
from services.common.protoenum import enum_number
from services.common.scheme import Scheme, load_scheme
from services.common.timeutil import parse_instant
from services.common.vocabulary import PRIORITIES, code_of
from services.common.wiretime import instant
from services.ledger_book.columns import CHOICE, SHEET_OF_TYPE, UNIT, choices_of

__all__ = ["priority_code", "record_codes", "served_scheme", "unit_code", "unit_names"]

PAGE = 1000


def unit_names(client: Client) -> dict[str, str]:
    """Every unit's code → name, read once per command."""
    cached: dict[str, str] | None = getattr(client, "_unit_names", None)
    if cached is not None:
        return cached
    request = tasks_pb2.ListUnitsRequest(page_size=PAGE)
    units = every(lambda r: client.call(client.tasks.ListUnits, r), request, lambda reply: reply.units)
    names = {u.id: u.name for u in units}
    client._unit_names = names  # type: ignore[attr-defined]
    return names


def unit_code(client: Client, text: str | None, *, what: str = "单位") -> str:
    """The unit's code from its code or its name; an unknown unit is refused (no empty answer for it)."""
    if not text:
        return ""
    names = unit_names(client)
    if text in names:
        return text
    codes = [code for code, name in names.items() if name == text]
    if len(codes) == 1:
        return codes[0]
    if codes:
        raise Refused(f"{what}「{text}」是多个单位的名称（{'、'.join(codes)}），请填写单位代码")
    raise Refused(f"没有{what}「{text}」；请填写单位代码或单位名称（kaohe units list 列出全部单位）")


_ZONES: list[tzinfo] = []


def scheme_zone(client: Client) -> tzinfo:
    """The served scheme's time zone, in which tasks' instants are shown: asked once per process."""
    if not _ZONES:
        _ZONES.append(served_scheme(client).tz)
    return _ZONES[0]


def served_scheme(client: Client) -> Scheme:
    """The scheme the services run with: its drop-downs, its names and its time zone."""
    reply: Any = client.call(client.scoring.GetScheme, scoring_pb2.GetSchemeRequest())
    return load_scheme(reply.scheme.toml)


def record_codes(client: Client, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A record's fields with each choice (较重, 国家级 …) and each unit (财政局) given as its code.

    The Excel 台账's table of columns (services/ledger_book/columns.py) says which fields are which; a text
    that is neither a code nor a label is passed on for the scoring service to refuse, naming the field.
    """
    sheet = SHEET_OF_TYPE.get(kind)
    if sheet is None:
        return fields
    choices = choices_of(served_scheme(client)) if any(c.kind == CHOICE for c in sheet.columns) else None
    out = dict(fields)
    for column in sheet.columns:
        value = out.get(column.field)
        if not isinstance(value, str):
            continue
        if column.kind == UNIT:
            out[column.field] = unit_code(client, value)
        elif column.kind == CHOICE and choices is not None:
            out[column.field] = code_of(choices.terms(column.choices), value) or value
    return out


def priority_code(client: Client, text: str | None) -> str:
    """The priority's code (normal, 一般 …) among the served scheme's; another one is refused."""
    if not text:
        return ""
    known = {code: PRIORITIES.get(code, code) for code in served_scheme(client).timeliness.priority_weights}
    code = code_of(known, text)
    if code is None:
        listed = "、".join(f"{label}（{code}）" if label != code else code for code, label in known.items())
        raise Refused(f"紧急程度「{text}」不在考核方案中；可选：{listed}")
    return code


def typed_instant(text: str | None, field: str) -> Timestamp | None:
    """An instant a person typed (RFC 3339 with an offset); refused as the service used to refuse it."""
    if not text:
        return None
    try:
        return instant(parse_instant(text, field=field))
    except InvalidArgument as exc:
        raise Refused(f"{status.LABELS['INVALID_ARGUMENT']}：{exc}") from None


def typed_code(enum: EnumDescriptor, code: str | None, field: str) -> int:
    """The enum value of a code for the request ("" none); an unknown one refused naming the field."""
    try:
        return enum_number(enum, code or "", field=field)
    except InvalidArgument as exc:
        raise Refused(f"{status.LABELS['INVALID_ARGUMENT']}：{exc}") from None
