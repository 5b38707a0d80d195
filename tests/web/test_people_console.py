"""People, levels and 结果运用 in the browser: a 乡镇 dispatches to its 村; no other 乡镇 sees it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from docx import Document
from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from services.common.result_wire import result_to_json_dict
from services.common.scheme import Scheme
from services.web.__main__ import create as create_web
from tests.conftest import example_path, start_stack, stop_stack
from tests.web.conftest import Console
from tests.web.stack import with_accounts
from tests.web.test_console import fetch, login, shot, submit, text

ACCOUNTS = {
    "office1": ("office", ""),
    "cgz1": ("department", "cgz"),
    "mxz1": ("department", "mxz"),
    "dg1": ("department", "cgz-dg"),
}
PASSWORD = "people-password-1"
LEVELS = [
    {"type": "unit", "id": "cgz-dg", "name": "东关村", "category": "village", "parent": "cgz"},
    {"type": "unit", "id": "mxz-hs", "name": "红山村", "category": "village", "parent": "mxz"},
    {
        "type": "person",
        "id": "p-dg",
        "name": "赵六",
        "unit": "cgz-dg",
        "post": "村支书",
        "mobile": "13900000011",
    },
    {"type": "person", "id": "p-cgz", "name": "钱七", "unit": "cgz", "post": "镇长", "mobile": "13900000012"},
    {"type": "person", "id": "p-ld", "name": "孙八", "unit": "fgj", "post": "副县长", "leader": True},
    {
        "type": "task",
        "id": "P1",
        "title": "人居环境整治",
        "task_type": "leader_directive",
        "lead_unit": "cgz",
        "assigned_at": "2025-07-01T09:00:00+08:00",
        "responsible": "p-cgz",
        "leader": "p-ld",
    },
    {
        "type": "task",
        "id": "P1.1",
        "title": "东关村整治",
        "task_type": "leader_directive",
        "lead_unit": "cgz-dg",
        "assigned_at": "2025-07-01T09:00:00+08:00",
        "responsible": "p-dg",
        "parent": "P1",
    },
]


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory, example_scheme: Scheme) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("people")
    stack = start_stack(
        tasks_db=f"sqlite:///{tmp / 'tasks.db'}",
        scoring_db=f"sqlite:///{tmp / 'scoring.db'}",
        scheme=example_scheme,
        tmp=tmp,
    )
    try:
        ledger = example_path("ledger.jsonl").read_bytes()
        stack.import_ledger(
            ledger + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in LEVELS).encode()
        )
        with with_accounts(stack, f"sqlite:///{tmp / 'gateway.db'}") as gateway:
            accounts = accounts_pb2_grpc.AccountsServiceStub(stack.channel(gateway))
            for username, (role, unit) in ACCOUNTS.items():
                accounts.AddAccount(
                    accounts_pb2.AddAccountRequest(
                        username=username,
                        role=accounts_pb2.Role.Value(f"ROLE_{role.upper()}"),
                        unit=unit,
                        name=username,
                        password=PASSWORD,
                    ),
                    metadata=stack.metadata("office"),
                )
            web = create_web(host="127.0.0.1", port=0, gateway_address=gateway, gateway_ca=stack.tls.ca)
            web.serve()
            try:
                yield Console(stack, gateway, web, None, f"http://127.0.0.1:{web.port}")  # type: ignore[arg-type]
            finally:
                web.stop()
    finally:
        stop_stack(stack)


def test_a_township_dispatches_to_its_village_which_reports_and_no_other_township_sees_it(
    browser: Any, county: Console
) -> None:
    driver = browser
    login(driver, county, "cgz1", PASSWORD)
    driver.get(county.url + "/tasks/P1")
    driver.find_element(By.PARTIAL_LINK_TEXT, "分解").click()
    assert driver.find_element(By.ID, "parent").get_attribute("value") == "P1"
    # Only its own 村 to choose from.
    leads = Select(driver.find_element(By.ID, "lead_unit"))
    assert [o.get_attribute("value") for o in leads.options] == ["cgz-dg"]
    driver.find_element(By.ID, "title").send_keys("入户走访")
    submit(driver, driver.find_element(By.XPATH, "//button[contains(., '立项')]"))
    assert "已立项" in text(driver) and "上级任务" in text(driver)
    task = driver.current_url.rsplit("/tasks/", 1)[1].split("?")[0]
    shot(driver, "township-dispatched")

    login(driver, county, "dg1", PASSWORD)
    driver.get(county.url + f"/tasks/{task}")
    submit(driver, driver.find_element(By.CSS_SELECTOR, 'button[data-step="accept"]'))
    driver.find_element(By.ID, "note-report").send_keys("已完成走访 36 户")
    submit(driver, driver.find_element(By.CSS_SELECTOR, 'button[data-step="report"]'))
    assert "已办结反馈" in text(driver)

    login(driver, county, "cgz1", PASSWORD)
    driver.get(county.url + f"/tasks/{task}")
    assert "已反馈" in text(driver)
    # The 乡镇 checks its 村's report.
    submit(driver, driver.find_element(By.CSS_SELECTOR, 'button[data-step="verify"]'))
    assert "已核查通过" in text(driver)

    login(driver, county, "office1", PASSWORD)
    driver.get(county.url + f"/tasks/{task}")
    assert "已核查" in text(driver)

    login(driver, county, "mxz1", PASSWORD)
    cookies = driver.get_cookies()
    status, _, _ = fetch(county, f"/tasks/{task}", cookies=cookies)
    assert status == 404
    assert fetch(county, "/tasks/new", cookies=cookies)[0] == 200  # mxz has its own 村
    assert fetch(county, "/persons?unit=cgz-dg", cookies=cookies)[2].decode().count("赵六") == 0


def test_a_task_page_shows_its_people_and_parts_and_a_persons_page_their_tasks(
    browser: Any, county: Console
) -> None:
    driver = browser
    login(driver, county, "office1", PASSWORD)
    driver.get(county.url + "/tasks/P1")
    page = text(driver)
    assert "责任人" in page and "钱七" in page and "包保领导" in page and "孙八" in page
    parts = driver.find_elements(By.CSS_SELECTOR, "tr[data-unit='cgz-dg']")
    assert any("P1.1" in p.text for p in parts)
    shot(driver, "task-with-parts")
    driver.find_element(By.LINK_TEXT, "孙八").click()
    assert "P1" in text(driver) and "包保领导" in text(driver)
    driver.get(county.url + "/persons")
    assert "13900000011" in text(driver)  # the office sees mobiles
    # The overview by level: county departments, then each 乡镇 with its 村 under it.
    driver.get(county.url + "/office")
    assert "县直部门" in text(driver) and "乡镇（含所辖村、社区）" in text(driver)
    order = [
        r.get_attribute("data-unit")
        for r in driver.find_elements(By.CSS_SELECTOR, "tr[data-unit][data-total]")
    ]
    assert order.index("cgz-dg") == order.index("cgz") + 1 and order.index("fgj") < order.index("cgz")
    village = driver.find_element(By.CSS_SELECTOR, "tr[data-unit='cgz-dg'][data-total] td")
    assert village.text.startswith("└")
    shot(driver, "office-overview-by-level")
    # A department: its own people only, with their load on its desk.
    login(driver, county, "cgz1", PASSWORD)
    driver.get(county.url + "/unit")
    assert "钱七" in text(driver) and "孙八" not in text(driver)
    driver.get(county.url + "/persons?unit=cgz-dg")
    assert "赵六" in text(driver) and "13900000011" not in text(driver)


def test_a_publicised_runs_notice_letters_and_excellent_list_download(county: Console, browser: Any) -> None:
    scoring = scoring_pb2_grpc.ScoringServiceStub(county.stack.channel(county.gateway))
    md = county.stack.metadata()
    run = scoring.CreateRun(scoring_pb2.CreateRunRequest(year=2025), metadata=md, timeout=60).run
    login(browser, county, "office1", PASSWORD)
    cookies = browser.get_cookies()
    assert fetch(county, f"/office/runs/{run.id}/notice", cookies=cookies)[0] == 409  # a draft
    scoring.PublishRun(scoring_pb2.PublishRunRequest(id=run.id), metadata=md, timeout=30)
    status, headers, body = fetch(county, f"/office/runs/{run.id}/notice", cookies=cookies)
    assert status == 200 and "wordprocessingml" in headers["Content-Type"]
    assert "考核结果的通报" in "\n".join(p.text for p in Document(io.BytesIO(body)).paragraphs)
    status, _, body = fetch(county, f"/office/runs/{run.id}/excellent", cookies=cookies)
    assert status == 200 and "单位代码" in body.decode("utf-8-sig")
    units = {u["unit"]: u for u in result_to_json_dict(run.result)["units"]}
    # A unit's page in the run: its result across the years, with this publicised run's year.
    browser.get(county.url + f"/office/runs/{run.id}/units/fgj")
    assert "历年考核结果" in text(browser) and "2025" in text(browser)
    status, _, body = fetch(county, f"/office/runs/{run.id}/letters/fgj", cookies=cookies)
    assert status == 200
    assert f"总分{units['fgj']['total']:.2f}分" in "\n".join(
        p.text for p in Document(io.BytesIO(body)).paragraphs
    )
    # A department: its own letter from its desk.
    login(browser, county, "cgz1", PASSWORD)
    status, _, body = fetch(county, f"/unit/letter?run={run.id}", cookies=browser.get_cookies())
    assert status == 200 and "城关镇" in "\n".join(p.text for p in Document(io.BytesIO(body)).paragraphs)
    assert fetch(county, f"/office/runs/{run.id}/notice", cookies=browser.get_cookies())[0] == 403


def _trend_rows(html: bytes) -> list[str]:
    """The units of the trend's data table, in order (a 村 row marked by its └)."""
    table = html.decode().split('<details class="trend">', 1)[1].split("</details>", 1)[0]
    rows = []
    for part in table.split("<tr")[1:]:
        if 'data-unit="' in part:
            unit = part.split('data-unit="', 1)[1].split('"', 1)[0]
            rows.append(("└" if "└" in part.split("</td>", 1)[0] else "") + unit)
    return rows


def test_the_trend_goes_by_level_and_a_township_sees_its_villages_only(browser: Any, county: Console) -> None:
    driver = browser
    login(driver, county, "office1", PASSWORD)
    office = driver.get_cookies()
    _, _, every = fetch(county, "/office", cookies=office)
    rows = _trend_rows(every)
    # County departments first, then each 乡镇 with its 村 under it.
    assert rows.index("└cgz-dg") == rows.index("cgz") + 1 and rows.index("└mxz-hs") == rows.index("mxz") + 1
    assert rows.index("fgj") < rows.index("cgz")
    assert 'data-level="cgz"' in every.decode() and 'data-level="county"' in every.decode()
    # One 乡镇's lines: it and its 村; the county departments' lines: no 乡镇 nor 村.
    assert _trend_rows(fetch(county, "/office?level=cgz", cookies=office)[2]) == ["cgz", "└cgz-dg"]
    county_only = _trend_rows(fetch(county, "/office?level=county", cookies=office)[2])
    assert "fgj" in county_only and not {"cgz", "cgz-dg", "mxz", "mxz-hs"} & set(county_only)

    # A 乡镇's own page: its line and its 村's, never another 乡镇's; and the other way round.
    # Its live standing too: its own cards, then its 村's (GetDashboard's below).
    for account, own, village, other in (
        ("cgz1", "cgz", "cgz-dg", "mxz-hs"),
        ("mxz1", "mxz", "mxz-hs", "cgz-dg"),
    ):
        login(driver, county, account, PASSWORD)
        desk = fetch(county, "/unit", cookies=driver.get_cookies())[2]
        assert _trend_rows(desk) == [own, "└" + village]
        cards = [
            part.split('"', 1)[0] for part in desk.decode().split('aria-label="实时态势" data-unit="')[1:]
        ]
        assert cards == [own, village] and other not in desk.decode()
    login(driver, county, "dg1", PASSWORD)
    assert _trend_rows(fetch(county, "/unit", cookies=driver.get_cookies())[2]) == ["cgz-dg"]
