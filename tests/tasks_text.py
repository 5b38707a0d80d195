"""The tasks contract's typed messages as the tests wrote and read them: codes and RFC 3339 text.

`typed(Request, state="reported", as_of="2025-05-12T18:00:00+08:00")` builds a request whose enum fields
take a code or its label and whose Timestamp fields take RFC 3339 text, read by the console's edge
(services/web/edge.py);
`text(message)` reads a reply as the strings it used to carry (services/common/wire_text.py), instants in
the county's zone.
"""

from __future__ import annotations

from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from google.protobuf.message import Message

from services.common.wire_text import as_text
from services.web.edge import typed_code, typed_instant

COUNTY = ZoneInfo("Asia/Shanghai")
TIMESTAMP = "google.protobuf.Timestamp"

M = TypeVar("M", bound=Message)


def typed(kind: type[M], **fields: Any) -> M:
    """A request from codes and RFC 3339 text where its fields are enums and Timestamps."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        field = kind.DESCRIPTOR.fields_by_name[name]
        if isinstance(value, str) and field.enum_type is not None:
            out[name] = typed_code(field.enum_type, value, name)
        elif (
            isinstance(value, str)
            and field.message_type is not None
            and field.message_type.full_name == TIMESTAMP
        ):
            out[name] = typed_instant(value, name)
        else:
            out[name] = value
    return kind(**out)


def text(message: Message) -> Any:
    """The message read as text: enums as codes ("" none), instants RFC 3339 in the county's zone."""
    return as_text(message, COUNTY)


# The RPCs whose replies carry the contract's enums and Timestamps (the attachments' and the internal ones
# are left as they come).
TEXT_REPLIES = frozenset(
    {
        "GetTask",
        "ListTasks",
        "CreateTask",
        "AssignTask",
        "AcceptTask",
        "ReportProgress",
        "ReportTask",
        "VerifyTask",
        "RejectTask",
        "CloseTask",
        "CancelTask",
        "FileExtension",
        "DecideExtension",
        "ListExtensions",
        "SummarizeTasks",
        "GetOverdueTrend",
        "ListPersons",
    }
)


class TextStub:
    """A TasksService stub whose typed replies are read as text (see text)."""

    def __init__(self, stub: Any) -> None:
        self._stub = stub

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)
        if name not in TEXT_REPLIES:
            return method
        return lambda *args, **kwargs: text(method(*args, **kwargs))
