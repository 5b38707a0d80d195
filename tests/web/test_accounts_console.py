"""Accounts in the console, at the WSGI level against a recording gateway: a one-time password is changed
first, a changed password or a disabled account ends the sessions, ids stay one path segment."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.type.date_pb2 import Date
from kaohe.gateway.v1 import accounts_pb2, gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from starlette.testclient import TestClient

from services.web import appeals
from services.web.app import Console
from services.web.sessions import Session, Sessions


class Refused(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@dataclass
class Accounts:
    """The gateway's accounts as the console sees them: one person with a one-time password."""

    passwords: dict[str, str] = field(default_factory=lambda: {"admin": "one-time-1", "fgj1": "fgj-pass-1"})
    temporary: set[str] = field(default_factory=lambda: {"admin"})
    calls: list[tuple[str, Any, str]] = field(default_factory=list)

    def Login(self, request: Any, token: str) -> Any:
        if self.passwords.get(request.username) != request.password:
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, "wrong username or password")
        return accounts_pb2.LoginResponse(
            token=f"token-of-{request.username}",
            account=accounts_pb2.Account(username=request.username, role=accounts_pb2.ROLE_OFFICE),
            must_change_password=request.username in self.temporary,
        )

    def ChangePassword(self, request: Any, token: str) -> Any:
        user = token.removeprefix("token-of-")
        if self.passwords[user] != request.current_password:
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, "wrong password")
        self.passwords[user] = request.new_password
        self.temporary.discard(user)
        return accounts_pb2.ChangePasswordResponse(account=accounts_pb2.Account(username=user))

    def DisableAccount(self, request: Any, token: str) -> Any:
        return accounts_pb2.DisableAccountResponse(
            account=accounts_pb2.Account(username=request.username, disabled=True)
        )


class RecordingGateway:
    """Stands where services/web/gateway.Gateway does: the console's calls, answered and recorded."""

    def __init__(self) -> None:
        self.accounts_held = Accounts()
        names = ("Login", "ChangePassword", "DisableAccount")
        self.accounts = SimpleNamespace(**{n: self._recorded(n) for n in names})
        self.gateway = SimpleNamespace(WhoAmI=self._who)

    def _recorded(self, name: str) -> Callable[[Any, str], Any]:
        def method(request: Any, token: str) -> Any:
            self.accounts_held.calls.append((name, request, token))
            return getattr(self.accounts_held, name)(request, token)

        return method

    @staticmethod
    def _who(request: Any, token: str) -> Any:
        expires_at = Timestamp(seconds=int(time.time() + 3600))
        return gateway_pb2.WhoAmIResponse(subject=token, role=accounts_pb2.ROLE_OFFICE, expires_at=expires_at)

    def call(self, method: Callable[..., Any], request: Any, token: str = "", timeout: float = 60) -> Any:
        return method(request, token)

    def login(self, request: Any, timeout: float = 60) -> Any:
        return self.accounts.Login(request, "")

    def close(self) -> None:
        return None


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    cookies: list[str]
    body: str


class Browser:
    """Requests straight into the ASGI app (Starlette's test client), its cookies kept as a browser would."""

    def __init__(self, console: Console) -> None:
        self.client = TestClient(console, follow_redirects=False)

    def go(self, method: str, path: str, form: dict[str, str] | None = None) -> Answer:
        got = self.client.request(method, path, data=form or {} if method == "POST" else None)
        cookies = got.headers.get_list("set-cookie")
        return Answer(got.status_code, got.headers, cookies, got.text)

    def csrf(self, page: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found, page
        return found.group(1)

    def login(self, username: str, password: str) -> Answer:
        form = self.go("GET", "/login")
        return self.go(
            "POST", "/login", {"csrf": self.csrf(form.body), "username": username, "password": password}
        )


@pytest.fixture
def gateway() -> RecordingGateway:
    return RecordingGateway()


@pytest.fixture
def console(gateway: RecordingGateway) -> Console:
    made = Console(gateway, sessions=Sessions(), oidc=None)  # type: ignore[arg-type]
    made.oidc = None
    return made


def test_a_one_time_password_leads_to_changing_it_before_anything_else(
    console: Console, gateway: RecordingGateway
) -> None:
    person = Browser(console)
    signed_in = person.login("admin", "one-time-1")
    assert signed_in.status == 303 and signed_in.headers["Location"] == "/account/password"
    for path in ("/office", "/office/accounts", "/tasks"):
        held = person.go("GET", path)
        assert (held.status, held.headers["Location"]) == (303, "/account/password")
    form = person.go("GET", "/account/password")
    assert "一次性密码" in form.body and 'name="new_password"' in form.body
    csrf = person.csrf(form.body)

    mismatch = person.go(
        "POST",
        "/account/password",
        {"csrf": csrf, "current_password": "one-time-1", "new_password": "my-own-9x", "repeat_password": "x"},
    )
    assert mismatch.status == 422 and "两次输入的新密码不一致" in mismatch.body
    wrong = person.go(
        "POST",
        "/account/password",
        {
            "csrf": csrf,
            "current_password": "nope",
            "new_password": "my-own-9x",
            "repeat_password": "my-own-9x",
        },
    )
    assert wrong.status == 403 and "当前密码不正确" in wrong.body

    changed = person.go(
        "POST",
        "/account/password",
        {
            "csrf": csrf,
            "current_password": "one-time-1",
            "new_password": "my-own-9x",
            "repeat_password": "my-own-9x",
        },
    )
    assert changed.status == 303 and changed.headers["Location"] == "/login?changed=1"
    assert "密码已修改" in person.go("GET", "/login?changed=1").body
    # The old session ended with the password; the new password signs in straight to the desk.
    assert person.go("GET", "/account/password").headers["Location"] == "/login?expired=1"
    again = person.login("admin", "my-own-9x")
    assert again.headers["Location"] == "/office"


def test_a_password_chosen_by_its_owner_logs_straight_in(console: Console) -> None:
    assert Browser(console).login("fgj1", "fgj-pass-1").headers["Location"] == "/office"


def test_disabling_an_account_ends_its_sessions_after_a_confirmation(
    console: Console, gateway: RecordingGateway
) -> None:
    office, other = Browser(console), Browser(console)
    gateway.accounts_held.temporary.clear()
    office.login("admin", "one-time-1")
    other.login("fgj1", "fgj-pass-1")
    assert other.go("GET", "/account/password").status == 200
    csrf = office.csrf(office.go("GET", "/account/password").body)

    asked = office.go("POST", "/office/accounts/fgj1/disable", {"csrf": csrf})
    assert asked.status == 200 and "停用账号 fgj1：该账号立即不能再登录" in asked.body
    assert not [c for c in gateway.accounts_held.calls if c[0] == "DisableAccount"]
    assert other.go("GET", "/account/password").status == 200

    done = office.go("POST", "/office/accounts/fgj1/disable", {"csrf": csrf, "confirmed": "yes"})
    assert done.status == 303
    assert other.go("GET", "/account/password").headers["Location"] == "/login?expired=1"
    # An id with a "/" (encoded or not) is no account's: no page, and nothing reaches the gateway.
    before = len(gateway.accounts_held.calls)
    refused = office.go("POST", "/office/accounts/a%2F..%2Fb/disable", {"csrf": csrf, "confirmed": "yes"})
    assert refused.status == 404 and "没有这个页面" in refused.body
    assert len(gateway.accounts_held.calls) == before


def test_an_appeal_id_is_one_encoded_segment_of_the_decide_form() -> None:
    session = Session("s", "t", "office", "", "o", "", "c", 0, 0)
    hostile = "A/../../accounts/view1/disable?"
    appeal = scoring_pb2.Appeal(
        id=hostile, state=scoring_pb2.APPEAL_STATE_PENDING, unit="fgj", target="E1",
        target_type=scoring_pb2.APPEAL_TARGET_TYPE_ERROR_REPORT, date=Date(year=2025, month=12, day=1),
        reason="r",
    )  # fmt: skip
    html = appeals.appeals_table([appeal], session, decide=True)
    assert 'action="/office/appeals/A%2F..%2F..%2Faccounts%2Fview1%2Fdisable%3F/decide"' in html
    application = scoring_pb2.Application(
        id=hostile, state=scoring_pb2.APPLICATION_STATE_PENDING, unit="fgj", target="E1",
        target_type=scoring_pb2.APPLICATION_TARGET_TYPE_ERROR_REPORT, reason="r", year=2025,
    )  # fmt: skip
    html = appeals.applications_table([application], session, decide=True)
    assert 'action="/office/tolerance/A%2F..%2F..%2Faccounts%2Fview1%2Fdisable%3F/decide"' in html
