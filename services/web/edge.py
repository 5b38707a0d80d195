"""What people type in the console, as the typed fields of the requests it sends.

An instant typed as RFC 3339 with an offset becomes a google.protobuf.Timestamp, a closed set's code an
enum value; what cannot be read is refused here with the words the services used for it (the field named),
and app.py shows that refusal as it shows the gateway's.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.protoenum import enum_number
from services.common.timeutil import parse_instant
from services.common.vocabulary import COLOURS, EXTENSION_STATES, TASK_STATES, Terms, code_of
from services.common.wiretime import instant


def typed_instant(text: str, field: str) -> Timestamp | None:
    """The instant typed ("" none: the service's default)."""
    text = text.strip()
    return instant(parse_instant(text, field=field)) if text else None


# The Chinese labels a closed set's code may be typed as (services/common/vocabulary.py).
LABELS: dict[str, Terms] = {
    "kaohe.common.v1.TaskState": TASK_STATES,
    "kaohe.common.v1.TaskColor": COLOURS,
    "kaohe.tasks.v1.ExtensionState": EXTENSION_STATES,
}


def typed_code(enum: EnumDescriptor, text: str, field: str) -> Any:
    """The enum value of a code or its Chinese label ("" none); an unknown one refused naming the field."""
    text = text.strip()
    code = code_of(LABELS.get(enum.full_name, {}), text) or text
    return enum_number(enum, code, field=field)
