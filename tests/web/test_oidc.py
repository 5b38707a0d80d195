"""统一身份认证登录 in a real browser: the console, the gateway and a provider on loopback, all over HTTP."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from services.common.scheme import Scheme
from services.common.settings import ConfigError
from services.common.tokens import OidcVerifier
from services.web.__main__ import Running
from services.web.__main__ import create as create_web
from services.web.oidc import OidcError, OidcLogin, oidc_login_from_env
from tests.conftest import Stack, example_path, start_stack, stop_stack
from tests.web.oidc_provider import Grant, Provider
from tests.web.test_console import UNITS, shot, text, units_shown

CLIENT = "kaohe-console"


@dataclass
class Setup:
    stack: Stack
    provider: Provider
    web: Running
    url: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, example_scheme: Scheme) -> Iterator[Setup]:
    from services.gateway.__main__ import create as create_gateway

    tmp = tmp_path_factory.mktemp("oidc")
    provider = Provider(CLIENT).start()
    stack = start_stack(
        tasks_db=f"sqlite:///{tmp / 'tasks.db'}",
        scoring_db=f"sqlite:///{tmp / 'scoring.db'}",
        scheme=example_scheme,
        tmp=tmp,
    )
    try:
        stack.import_ledger(example_path("ledger.jsonl").read_bytes())
        gateway = create_gateway(
            address="127.0.0.1:0",
            keys=stack.keys,
            tls=stack.tls.config("gateway"),
            tasks_addr=stack.tasks_addr,
            scoring_addr=stack.scoring_addr,
            audit_path=stack.audit_path,
            accounts_db_url=f"sqlite:///{tmp / 'gateway.db'}",
            # The id_token goes to the gateway: its audience is the console's client id.
            oidc=OidcVerifier(
                provider.issuer,
                f"{provider.issuer}/jwks",
                CLIENT,
                role_map={"kh-office": "office", "kh-dept": "department"},
            ),
        )
        gateway.server.start()
        web = create_web(
            host="127.0.0.1",
            port=0,
            gateway_address=f"127.0.0.1:{gateway.port}",
            gateway_ca=stack.tls.ca,
        )
        web.console.oidc = OidcLogin(provider.issuer, CLIENT)
        web.serve()
        try:
            yield Setup(stack, provider, web, f"http://127.0.0.1:{web.port}")
        finally:
            web.stop()
            gateway.server.stop(0).wait()
            gateway.backends.tasks.close()
            gateway.backends.scoring.close()
    finally:
        stop_stack(stack)
        provider.stop()


def sign_in(driver: Any, setup: Setup, person: dict[str, Any], *, lands: str) -> None:
    """From the login page by its 统一身份认证登录 button, through the provider, to the page `lands`."""
    setup.provider.person = person
    setup.provider.sign_with_rogue_key = False
    driver.delete_all_cookies()
    driver.get(setup.url + "/login")
    driver.find_element(By.ID, "oidc-login").click()
    WebDriverWait(driver, 60).until(expected_conditions.url_contains(lands))


def test_a_department_signs_in_through_the_provider(browser: Any, setup: Setup) -> None:
    person = {"sub": "u-1001", "name": "张三", "roles": ["kh-dept"], "kaohe_unit": "fgj"}
    sign_in(browser, setup, person, lands="/unit")
    assert browser.current_url.endswith("/unit")
    WebDriverWait(browser, 30).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[data-unit]"))
    )
    assert units_shown(browser) == {"fgj"}
    assert "张三" in text(browser)
    shot(browser, "oidc-department-home")
    # The authorization request: code flow, PKCE S256, a state and a nonce, back to the console's callback.
    asked = setup.provider.seen[-1]
    assert asked["response_type"] == "code" and asked["code_challenge_method"] == "S256"
    assert len(asked["code_challenge"]) == 43 and asked["state"] and asked["nonce"]
    assert asked["redirect_uri"] == setup.url + "/login/oidc/callback"
    assert "openid" in asked["scope"].split()
    session = next(c for c in browser.get_cookies() if c["name"] == "kaohe_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"


def test_the_office_signs_in_through_the_provider(browser: Any, setup: Setup) -> None:
    sign_in(browser, setup, {"sub": "u-2001", "name": "考核办 李四", "roles": ["kh-office"]}, lands="/office")
    assert units_shown(browser) == UNITS
    assert "李四" in text(browser)


def test_a_token_the_gateway_does_not_trust_is_refused(browser: Any, setup: Setup) -> None:
    setup.provider.person = {"sub": "u-3001", "roles": ["kh-office"]}
    setup.provider.sign_with_rogue_key = True
    browser.delete_all_cookies()
    browser.get(setup.url + "/login")
    browser.find_element(By.ID, "oidc-login").click()
    WebDriverWait(browser, 60).until(expected_conditions.url_contains("/login/oidc/callback"))
    assert "统一身份认证的令牌未被接受" in text(browser)
    assert not [c for c in browser.get_cookies() if c["name"] == "kaohe_session"]
    shot(browser, "oidc-refused")


def test_a_forged_callback_is_refused(browser: Any, setup: Setup) -> None:
    browser.delete_all_cookies()
    browser.get(setup.url + "/login/oidc/callback?code=made-up&state=forged")
    assert "登录状态不符" in text(browser)
    assert not [c for c in browser.get_cookies() if c["name"] == "kaohe_session"]


def _authorize(url: str) -> str:
    """The provider's answer to an authorization URL: the code in its redirect (not followed)."""

    class Stop(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        urllib.request.build_opener(Stop).open(url, timeout=30)
    except urllib.error.HTTPError as exc:
        location = exc.headers["Location"]
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))["code"]
    raise AssertionError("the provider did not redirect")


def test_the_code_is_exchanged_only_with_its_pkce_verifier_and_state_once(setup: Setup) -> None:
    login = OidcLogin(setup.provider.issuer, CLIENT)
    setup.provider.person = {"sub": "u-4001", "roles": ["kh-office"]}
    setup.provider.sign_with_rogue_key = False
    url, state = login.start("http://127.0.0.1:1")
    code = _authorize(url)
    pending = login.take(state, state)
    with pytest.raises(OidcError):
        login.take(state, state)  # a state serves once
    forged = type(pending)("x" * 43, pending.nonce, pending.redirect_uri, pending.started)
    with pytest.raises(OidcError, match="HTTP 400"):
        login.exchange(code, forged)
    assert setup.provider.refused[-1] == "PKCE verifier"
    url, state = login.start("http://127.0.0.1:1")
    code = _authorize(url)
    pending = login.take(state, state)
    assert login.exchange(code, pending).username == "u-4001"
    # An id_token minted for another sign-in (its nonce) is refused, though the code and verifier are right.
    url, state = login.start("http://127.0.0.1:1")
    code = _authorize(url)
    pending = login.take(state, state)
    other = type(pending)(pending.verifier, "another-sign-in", pending.redirect_uri, pending.started)
    with pytest.raises(OidcError, match="nonce"):
        login.exchange(code, other)


def test_the_console_reads_its_provider_from_the_environment() -> None:
    assert oidc_login_from_env({}) is None
    assert oidc_login_from_env({"KAOHE_OIDC_ISSUER": "https://id.example"}) is None
    login = oidc_login_from_env(
        {
            "KAOHE_OIDC_ISSUER": "https://id.example/",
            "KAOHE_OIDC_CLIENT_ID": "kaohe",
            "KAOHE_OIDC_REDIRECT_URI": "https://kaohe.example/login/oidc/callback",
            "KAOHE_OIDC_SCOPES": "profile",
        }
    )
    assert login is not None and login.issuer == "https://id.example" and login.scopes == "openid profile"
    assert login.callback_uri("http://ignored") == "https://kaohe.example/login/oidc/callback"
    with pytest.raises(ConfigError):
        oidc_login_from_env(
            {"KAOHE_OIDC_ISSUER": "https://id", "KAOHE_OIDC_CLIENT_ID": "k", "KAOHE_OIDC_WEB_TOKEN": "code"}
        )


def test_a_confidential_client_authenticates_at_the_token_endpoint() -> None:
    provider = Provider("kaohe-confidential", client_secret="s3cret:with/odd=chars").start()
    try:
        provider.person = {"sub": "u-5001", "roles": ["kh-office"]}
        for secret, works in (("wrong", False), (provider.client_secret, True)):
            login = OidcLogin(provider.issuer, provider.client_id, client_secret=secret)
            url, state = login.start("http://127.0.0.1:1")
            code = _authorize(url)
            if works:
                assert login.exchange(code, login.take(state, state)).username == "u-5001"
            else:
                with pytest.raises(OidcError, match="HTTP 400"):
                    login.exchange(code, login.take(state, state))
                assert provider.refused[-1] == "client authentication"
    finally:
        provider.stop()


def test_an_id_token_for_another_client_issuer_or_time_is_refused() -> None:
    """The console checks the id_token itself before the gateway sees it: the provider's key, its issuer,
    this client as audience, not expired, and this sign-in's nonce."""
    provider = Provider(CLIENT).start()
    try:
        login = OidcLogin(provider.issuer, CLIENT)

        def minted(**claims: Any) -> str:
            return provider.id_token(Grant(CLIENT, "", "", "nonce-1", {"sub": "u-7001", **claims}))

        assert login.id_token_claims(minted(), "nonce-1")["sub"] == "u-7001"
        for token, said in (
            (minted(aud="another-client"), "aud 不符"),
            (minted(iss="https://evil.example"), "iss 不符"),
            (minted(exp=int(time.time()) - 3600), "已过期"),
            (minted(), "nonce"),
        ):
            nonce = "another-sign-in" if said == "nonce" else "nonce-1"
            with pytest.raises(OidcError, match=said):
                login.id_token_claims(token, nonce)
        provider.sign_with_rogue_key = True
        with pytest.raises(OidcError, match="统一身份认证的令牌未被接受"):
            login.id_token_claims(minted(), "nonce-1")
    finally:
        provider.stop()


def test_a_sign_in_started_by_one_console_process_is_finished_by_another(
    browser: Any, setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several console processes (KAOHE_WEB_PROCESSES) share the sign-ins under way with their sessions:
    the provider's redirect back may reach another process than the one that sent the browser off."""
    monkeypatch.setenv("KAOHE_OIDC_ISSUER", setup.provider.issuer)
    monkeypatch.setenv("KAOHE_OIDC_CLIENT_ID", CLIENT)
    shared = tmp_path / "sessions.sqlite"
    consoles = [
        create_web(
            host="127.0.0.1",
            port=0,
            gateway_address=setup.web.console.gw.address,
            gateway_ca=setup.stack.tls.ca,
            sessions_file=shared,
        )
        for _ in range(2)
    ]
    first, second = consoles
    for web in consoles:
        assert web.console.oidc is not None
        web.console.oidc.redirect_uri = f"http://127.0.0.1:{second.port}/login/oidc/callback"
        web.serve()
    try:
        setup.provider.person = {"sub": "u-6001", "name": "王五", "roles": ["kh-dept"], "kaohe_unit": "czj"}
        setup.provider.sign_with_rogue_key = False
        browser.delete_all_cookies()
        browser.get(f"http://127.0.0.1:{first.port}/login")
        browser.find_element(By.ID, "oidc-login").click()
        WebDriverWait(browser, 60).until(expected_conditions.url_contains("/unit"))
        assert browser.current_url.startswith(f"http://127.0.0.1:{second.port}/")
        assert units_shown(browser) == {"czj"} and "王五" in text(browser)
        # The session the second process started is known to the first.
        browser.get(f"http://127.0.0.1:{first.port}/unit")
        assert units_shown(browser) == {"czj"}
    finally:
        for web in consoles:
            web.stop()
