"""Every page of the console, as the office and as a department, on a desktop (1440×900) and a phone
(390×844): each opens without an error, with the menu, fits the phone's width (tables become cards), and is
kept as a screenshot in var/screenshots/ for people to look at.

The pages are read from the route table itself, so a page added later is opened here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from services.web.records import FORMS
from services.web.routes import desk_routes
from tests.web.conftest import SCREENSHOTS, Console
from tests.web.test_console import login

SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
# Answers that are files, not pages (a workbook, a Word document, a CSV, an attachment).
DOWNLOADS = ("/export", "/download", "/notice", "/excellent", "/letter", "attachments/")
# Refused on purpose: a county department has no 村 to dispatch to, so 立项 tells it so.
REFUSED = {("department", "/tasks/new")}


def loaded(driver: Any) -> bool:
    return bool(driver.execute_script("return document.readyState") == "complete")


def _unused(*_: Any) -> Any:
    raise AssertionError("not called: the table is only read")


def pages(role: str, ids: dict[str, str]) -> Iterator[str]:
    """Every GET page the role may open, each {name} given an id of the worked example."""
    for method, path, _, roles, _ in desk_routes(change_password=_unused, disable_account=_unused):
        if method != "GET" or any(d in path for d in DOWNLOADS):
            continue
        if role not in roles or (role, path) in REFUSED:
            continue
        if "{kind}" in path:
            yield from (path.replace("{kind}", kind) for kind in FORMS)
            continue
        filled = re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "?"), path)
        if "?" not in filled:
            yield filled


@pytest.fixture(scope="module")
def run_id(console: Console) -> str:
    scoring = scoring_pb2_grpc.ScoringServiceStub(console.stack.channel(console.gateway))
    run = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025), metadata=console.stack.metadata("office"), timeout=120
    ).run
    return str(run.id)


@pytest.mark.parametrize(("username", "role"), [("office1", "office"), ("fgj1", "department")])
def test_every_page_opens_and_fits_a_phone(
    browser: Any, console: Console, run_id: str, username: str, role: str
) -> None:
    ids = {"task": "T1", "run": run_id, "unit": "fgj", "application": "", "appeal": ""}
    opened = list(pages(role, ids))
    assert len(opened) >= (12 if role == "office" else 5), opened
    login(browser, console, username)
    for size, (width, height) in SIZES.items():
        browser.set_window_size(width, height)
        for path in opened:
            browser.get(console.url + path)
            WebDriverWait(browser, 60).until(
                lambda d: d.execute_script("return document.readyState") == "complete"
            )
            body = browser.find_element(By.TAG_NAME, "body").text
            assert "出错了" not in body, (path, body[:300])
            assert browser.find_elements(By.CSS_SELECTOR, "nav[aria-label='主菜单'] a"), path  # the menu
            if size == "phone":
                overflow = browser.execute_script(
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 1, (path, overflow)
            slug = re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "home"
            browser.save_screenshot(str(SCREENSHOTS / f"page-{role}-{slug}-{size}.png"))
