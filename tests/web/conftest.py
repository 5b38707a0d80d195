"""A real stack (tasks, scoring, a gateway with accounts) and the console on :0, driven by Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc

from services.common.scheme import Scheme
from services.web.__main__ import Running
from services.web.__main__ import create as create_web
from services.web.sessions import Sessions
from tests.conftest import ROOT, Stack, example_path, start_stack, stop_stack
from tests.web.stack import with_accounts

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORDS = {"office1": "office-password-1", "fgj1": "fgj-password-1", "czj1": "czj-password-1"}


class Clock:
    """The console's clock, moved forward by a test to expire sessions."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        import time

        return time.time() + self.offset


@dataclass
class Console:
    stack: Stack
    gateway: str
    web: Running
    clock: Clock
    url: str


@dataclass
class Chromium:
    driver: Any
    first_size: dict[str, int]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, example_scheme: Scheme) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("web")
    stack = start_stack(
        tasks_db=f"sqlite:///{tmp / 'tasks.db'}",
        scoring_db=f"sqlite:///{tmp / 'scoring.db'}",
        scheme=example_scheme,
        tmp=tmp,
    )
    try:
        stack.import_ledger(example_path("ledger.jsonl").read_bytes())
        with with_accounts(stack, f"sqlite:///{tmp / 'gateway.db'}") as gateway:
            accounts = accounts_pb2_grpc.AccountsServiceStub(stack.channel(gateway))
            for username, role, unit in (
                ("office1", "office", ""),
                ("fgj1", "department", "fgj"),
                ("czj1", "department", "czj"),
            ):
                accounts.AddAccount(
                    accounts_pb2.AddAccountRequest(
                        username=username,
                        role=accounts_pb2.Role.Value(f"ROLE_{role.upper()}"),
                        unit=unit,
                        name=f"{username} 测试",
                        password=PASSWORDS[username],
                    ),
                    metadata=stack.metadata("office"),
                )
            web = create_web(host="127.0.0.1", port=0, gateway_address=gateway, gateway_ca=stack.tls.ca)
            clock = Clock()
            web.console.sessions = Sessions(clock=clock)
            web.serve()
            try:
                yield Console(stack, gateway, web, clock, f"http://127.0.0.1:{web.port}")
            finally:
                web.stop()
    finally:
        stop_stack(stack)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    """Debian's Chromium, headless, through its chromedriver (no download: the system's own); one for
    this pytest worker, handed to each module by `browser` as a fresh one."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(
            f"the browser tests need {', '.join(missing)}: "
            "apt-get install -y chromium chromium-driver fonts-noto-cjk"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--lang=zh-CN",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield Chromium(driver, driver.get_window_size())
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def browser(chromium: Chromium) -> Any:
    """The worker's Chromium as a new one would be for this module: one blank window of the first size,
    no cookie (cookies ignore the port: another module's console set them) and nothing cached."""
    driver = chromium.driver
    for handle in driver.window_handles[1:]:
        driver.switch_to.window(handle)
        driver.close()
    driver.switch_to.window(driver.window_handles[0])
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.set_window_size(chromium.first_size["width"], chromium.first_size["height"])
    return driver
