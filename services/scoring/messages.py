"""Records, appeals and 容错 applications as the scoring service answers them: codes become enums, the
views' RFC 3339 instants Timestamps and an appeal's day a google.type.Date; requests' enums become codes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import EnumDescriptor
from kaohe.scoring.v1 import scoring_pb2

from services.common.errors import InvalidArgument
from services.common.protoenum import enum_code, enum_number
from services.common.wiretime import instant, wire_date
from services.scoring.views import AppealView, ApplicationView, RecordView

RECORD_KIND = scoring_pb2.RecordKind.DESCRIPTOR
APPLICATION_STATE = scoring_pb2.ApplicationState.DESCRIPTOR
APPLICATION_TARGET = scoring_pb2.ApplicationTargetType.DESCRIPTOR
APPEAL_STATE = scoring_pb2.AppealState.DESCRIPTOR
APPEAL_TARGET = scoring_pb2.AppealTargetType.DESCRIPTOR


def code(enum: EnumDescriptor, number: int) -> str:
    """A request's enum as the use cases take it: its code, "" for unspecified (refused where required)."""
    return enum_code(enum, number)


def _number(enum: EnumDescriptor, text: str, field: str) -> Any:
    return enum_number(enum, text, field=field)


def _instant(text: str) -> Any:
    return instant(datetime.fromisoformat(text)) if text else None


def record_message(view: RecordView) -> scoring_pb2.Record:
    fields = struct_pb2.Struct()
    fields.update(view.fields)
    return scoring_pb2.Record(
        kind=_number(RECORD_KIND, view.kind, "kind"),
        id=view.id,
        unit=view.unit,
        fields=fields,
        voided=view.voided,
        void_reason=view.void_reason,
        created_at=_instant(view.created_at),
        etag=view.etag,
    )


def struct_fields(message: struct_pb2.Struct) -> dict[str, Any]:
    """A record's fields as sent; a NaN or an Infinity (no JSON number) is refused naming them."""
    try:
        return dict(json_format.MessageToDict(message))
    except ValueError:
        raise InvalidArgument("fields", "含有非有限数（NaN 或 Infinity）") from None


def timeline_message(event: dict[str, str]) -> scoring_pb2.TimelineEvent:
    return scoring_pb2.TimelineEvent(
        event=_number(scoring_pb2.TimelineEventKind.DESCRIPTOR, event["event"], "event"),
        at=_instant(event["at"]),
        actor=event["actor"],
        actor_role=event["actor_role"],
        actor_unit=event["actor_unit"],
        outcome=_number(scoring_pb2.TimelineOutcome.DESCRIPTOR, event["outcome"], "outcome"),
        reason=event["reason"],
    )


def application_message(view: ApplicationView) -> scoring_pb2.Application:
    return scoring_pb2.Application(
        id=view.id,
        unit=view.unit,
        year=view.year,
        target_type=_number(APPLICATION_TARGET, view.target_type, "target_type"),
        target=view.target,
        reason=view.reason,
        state=_number(APPLICATION_STATE, view.state, "state"),
        filed_at=_instant(view.filed_at),
        decided_at=_instant(view.decided_at),
        decision_reason=view.decision_reason,
        timeline=[timeline_message(e) for e in view.timeline],
        etag=view.etag,
    )


def appeal_message(view: AppealView) -> scoring_pb2.Appeal:
    return scoring_pb2.Appeal(
        id=view.id,
        unit=view.unit,
        target_type=_number(APPEAL_TARGET, view.target_type, "target_type"),
        target=view.target,
        date=wire_date(date.fromisoformat(view.date) if view.date else None),
        reason=view.reason,
        state=_number(APPEAL_STATE, view.state, "state"),
        decision_reason=view.decision_reason,
        timeline=[timeline_message(e) for e in view.timeline],
        voided=view.voided,
    )


__all__ = [
    "appeal_message",
    "application_message",
    "code",
    "record_message",
    "struct_fields",
    "timeline_message",
]
