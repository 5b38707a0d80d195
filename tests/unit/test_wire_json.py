"""The CLI's JSON of the typed gateway messages is the JSON of the old string fields, key order included:
enums as codes, instants as RFC 3339 text in the reader's zone, "" for none."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp
from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import accounts_pb2, gateway_pb2

from services.common.wire_json import county_plain, in_utc, in_zone, lenient_number, utc_text, wire_plain

DUE = 1747065599  # 2025-05-12T23:59:59+08:00


def test_an_account_reads_as_before() -> None:
    account = accounts_pb2.Account(
        username="clerk", role=accounts_pb2.ROLE_DEPARTMENT, unit="fgj", created_at=Timestamp(seconds=DUE)
    )
    # Set fields by number, then (printing every field) the unset ones: as proto JSON wrote the strings.
    assert json.dumps(
        wire_plain(account, instant=in_utc, always_print_fields_with_no_presence=True)
    ) == json.dumps(
        {
            "username": "clerk",
            "role": "department",
            "unit": "fgj",
            "created_at": "2025-05-12T15:59:59+00:00",
            "name": "",
            "disabled": False,
            "last_login_at": "",
            "must_change_password": False,
        }
    )
    assert wire_plain(accounts_pb2.Account(username="x"), instant=in_utc) == {"username": "x"}
    assert utc_text(account, "last_login_at") == "" and utc_text(account, "created_at").endswith("+00:00")


def test_a_dashboard_reads_in_the_countys_zone_without_its_zone() -> None:
    item = gateway_pb2.OpenItem(
        task="T5",
        state=common_pb2.TASK_STATE_ACCEPTED,
        color=common_pb2.TASK_COLOR_RED,
        due_at=Timestamp(seconds=DUE),
    )
    reply = gateway_pb2.GetDashboardResponse(open_items=[item], time_zone="Asia/Shanghai")
    data = county_plain(reply, reply.time_zone)
    assert list(data) == ["open_items", "as_of", "below", "etag"]
    assert data["as_of"] == ""
    assert data["open_items"][0]["state"] == "accepted" and data["open_items"][0]["color"] == "red"
    assert data["open_items"][0]["due_at"] == "2025-05-12T23:59:59+08:00"
    assert data["open_items"][0]["progress_overdue_since"] == ""
    assert list(data["open_items"][0])[:5] == ["task", "state", "color", "due_at", "title"]
    assert in_zone(ZoneInfo("Asia/Shanghai"))(Timestamp(seconds=DUE)) == "2025-05-12T23:59:59+08:00"


def test_an_unknown_code_from_a_form_is_the_zero_value() -> None:
    assert lenient_number(accounts_pb2.Role.DESCRIPTOR, "viewer") == accounts_pb2.ROLE_VIEWER
    assert lenient_number(accounts_pb2.Role.DESCRIPTOR, "boss") == 0
