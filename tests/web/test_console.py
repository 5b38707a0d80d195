"""The web console in a real browser (Debian's Chromium): both desks, their buttons, and the refusals."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kaohe.gateway.v1 import accounts_pb2, accounts_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from openpyxl import load_workbook
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from services.common.result_wire import result_to_json_dict
from tests.web.conftest import PASSWORDS, SCREENSHOTS, Console

UNITS = {"fgj", "czj", "sfj", "jyj", "cgz", "mxz"}


def login(driver: Any, console: Console, username: str, password: str | None = None) -> None:
    driver.delete_all_cookies()
    driver.get(console.url + "/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password or PASSWORDS[username])
    submit(driver, driver.find_element(By.CSS_SELECTOR, "form.login button"))


T = TypeVar("T")


def submit(driver: Any, element: Any) -> None:
    """Clicks a submit button (or a link) and waits for the next page to replace this one and load."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 60).until(lambda _: replaced(page))
    WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")


def replaced(node: Any) -> bool:
    """Whether the page that held node has gone. Under load chromedriver may say so not as a stale
    reference but as the inspector's "node does not belong to the document": the same answer."""
    try:
        node.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def settled(driver: Any, read: Callable[[Any], T]) -> T:
    """read(driver) on a loaded page; read again (every element found anew) when a node under it was
    replaced meanwhile — a page still arriving under load, a chart drawing — instead of failing stale."""
    found: T = WebDriverWait(driver, 60, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: (d.execute_script("return document.readyState") == "complete" and [read(d)]) or None
    )[0]
    return found


def shot(driver: Any, name: str) -> None:
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def units_shown(driver: Any) -> set[str]:
    return attribute_of_all(driver, "[data-unit]", "data-unit")


def attribute_of_all(driver: Any, css: str, name: str) -> set[str]:
    """The attribute name of every element css finds, found anew if the page replaced one meanwhile."""
    return settled(driver, lambda d: {e.get_attribute(name) for e in d.find_elements(By.CSS_SELECTOR, css)})


def trend_units(driver: Any) -> set[str]:
    """The units of the overdue trend on this page, once its chart is drawn."""
    WebDriverWait(driver, 30).until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, '.chart[data-drawn="1"][data-chart*="trend"]')
        )
    )
    return attribute_of_all(driver, "details.trend tr[data-unit]", "data-unit")


def text(driver: Any) -> str:
    return settled(driver, lambda d: str(d.find_element(By.TAG_NAME, "body").text))


def run_document(console: Console, run: str, role: str = "office", unit: str | None = None) -> dict[str, Any]:
    scoring = scoring_pb2_grpc.ScoringServiceStub(console.stack.channel(console.gateway))
    reply = scoring.GetRun(
        scoring_pb2.GetRunRequest(id=run), metadata=console.stack.metadata(role, unit), timeout=60
    ).run
    return dict(result_to_json_dict(reply.result))


def click_in_row(driver: Any, run: str, label: str) -> None:
    """公示 / 定档 by the run's button, then confirmed on the page that says what will happen."""
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-run="{run}"]')
    submit(driver, next(b for b in row.find_elements(By.TAG_NAME, "button") if b.text == label))
    confirm(driver, f"{label}考核运行 {run}")


def confirm(driver: Any, says: str) -> None:
    """The confirmation page: it says what will happen (says), and its 确认 button goes on."""
    assert says in driver.find_element(By.CSS_SELECTOR, ".notice[role=alert]").text
    submit(driver, driver.find_element(By.ID, "confirm"))


def fetch(
    console: Console, path: str, *, cookies: list[dict[str, Any]] | None = None, token: str = ""
) -> Any:
    request = urllib.request.Request(console.url + path)
    if cookies:
        request.add_header("Cookie", "; ".join(f"{c['name']}={c['value']}" for c in cookies))
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_the_office_and_a_department_do_the_years_work(browser: Any, console: Console) -> None:
    driver = browser
    # The office: the county's overview, every unit, charts drawn from the vendored ECharts.
    login(driver, console, "office1")
    assert driver.current_url.endswith("/office")
    assert units_shown(driver) == UNITS
    WebDriverWait(driver, 30).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, '.chart[data-drawn="1"]'))
    )
    assert trend_units(driver) == UNITS  # the overdue trend: a line (and a table row) per unit
    shot(driver, "office-overview")
    trend = driver.find_element(By.CSS_SELECTOR, '.chart[data-chart*="trend"]')
    driver.execute_script("arguments[0].scrollIntoView()", trend)
    shot(driver, "office-overdue-trend")
    # By week-ends: the same units, a point a week (at least as many as month-ends, whatever the date).
    months = len(driver.find_elements(By.CSS_SELECTOR, "details.trend thead th"))
    submit(driver, driver.find_element(By.LINK_TEXT, "按周末查看"))
    WebDriverWait(driver, 30).until(expected_conditions.url_contains("trend=week"))
    assert trend_units(driver) == UNITS
    assert len(driver.find_elements(By.CSS_SELECTOR, "details.trend thead th")) >= months
    assert "逾期事项趋势（每周末）" in text(driver)

    # A run computed, then 公示 by its button.
    driver.get(console.url + "/office/runs")
    driver.find_element(By.ID, "run-year").send_keys("2025")
    submit(driver, driver.find_element(By.XPATH, "//button[contains(., '计算一次考核')]"))
    assert "已计算" in text(driver)
    run = (
        driver.find_element(By.CSS_SELECTOR, 'tr[data-run] .state[data-state="draft"]')
        .find_element(By.XPATH, "./ancestor::tr")
        .get_attribute("data-run")
    )
    click_in_row(driver, run, "公示")
    assert f"{run}：公示中" in text(driver)
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-run="{run}"] .state')
    assert row.get_attribute("data-state") == "publicised"
    shot(driver, "office-runs")

    # The run's result: every total exactly as the result document gives it.
    document = run_document(console, run)
    driver.get(console.url + f"/office/runs/{run}")
    rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-unit][data-total]")
    assert {r.get_attribute("data-unit") for r in rows} == UNITS
    totals = {u["unit"]: u["total"] for u in document["units"]}
    for r in rows:
        assert r.get_attribute("data-total") == json.dumps(totals[r.get_attribute("data-unit")])
    shot(driver, "office-run-result")
    driver.get(console.url + "/office/ranking?year=2025")
    assert {
        r.get_attribute("data-unit") for r in driver.find_elements(By.CSS_SELECTOR, "tr[data-total]")
    } == UNITS
    shot(driver, "office-ranking")

    # The department: its own unit only, its total as published, every point explained; it appeals E1.
    login(driver, console, "fgj1")
    assert driver.current_url.endswith("/unit")
    assert units_shown(driver) == {"fgj"}
    mine = run_document(console, run, "department", "fgj")
    assert [u["unit"] for u in mine["units"]] == ["fgj"]
    summary = driver.find_element(By.CSS_SELECTOR, ".summary[data-total]")
    assert (
        summary.get_attribute("data-total")
        == json.dumps(mine["units"][0]["total"])
        == json.dumps(totals["fgj"])
    )
    assert "得分率" in text(driver) and "指标" in text(driver) and "E1" in text(driver)
    history = driver.find_elements(By.CSS_SELECTOR, 'tr[data-unit="fgj"][data-total]')
    assert [h.get_attribute("data-total") for h in history] == [json.dumps(totals["fgj"])]
    assert trend_units(driver) == {"fgj"}
    shot(driver, "department-home")
    driver.set_window_size(390, 844)
    shot(driver, "department-home-phone")
    driver.set_window_size(1280, 1000)

    status, headers, body = fetch(console, f"/unit/export?run={run}", cookies=driver.get_cookies())
    assert status == 200 and "spreadsheetml" in headers["Content-Type"]
    cells = {
        str(c)
        for ws in load_workbook(io.BytesIO(body)).worksheets
        for r in ws.iter_rows(values_only=True)
        for c in r
    }
    assert "fgj" in cells and not (UNITS - {"fgj"}) & cells

    driver.find_element(By.ID, "reason-E1").send_keys("材料口径以市统计局通知为准，并无不一致")
    submit(driver, driver.find_element(By.CSS_SELECTOR, "form.appeal button"))
    assert "已提交对 E1 的申诉" in text(driver)
    # Another unit's pages are not the department's.
    driver.get(console.url + "/office")
    assert "您的角色不能打开这个页面" in text(driver)

    # The office sees the appeal, decides it, and 定档 by the button.
    login(driver, console, "office1")
    driver.get(console.url + "/office/appeals")
    appeal = driver.find_element(By.XPATH, "//tr[@data-unit='fgj'][td[3][.='E1']]")
    assert "材料口径" in appeal.text
    shot(driver, "office-appeals")
    appeal_id = appeal.get_attribute("data-appeal")
    driver.find_element(By.ID, f"why-{appeal_id}").send_keys("口径不一致属实")
    submit(driver, appeal.find_element(By.XPATH, ".//button[.='裁决']"))
    assert f"已裁决申诉 {appeal_id}" in text(driver)
    assert "不成立" in driver.find_element(By.CSS_SELECTOR, f'tr[data-appeal="{appeal_id}"]').text

    driver.get(console.url + "/office/runs")
    click_in_row(driver, run, "定档")
    state = driver.find_element(By.CSS_SELECTOR, f'tr[data-run="{run}"] .state').get_attribute("data-state")
    errors = driver.find_elements(By.CSS_SELECTOR, ".notice.error")
    if errors:
        # A scoring service that holds 定档 until the appeal window closes says so on the page.
        assert state == "publicised" and ("申诉" in errors[0].text or "appeal" in errors[0].text)
    else:
        assert state == "final" and f"{run}：已定档" in text(driver)
    shot(driver, "office-runs-after")


def test_a_wrong_password_is_refused(browser: Any, console: Console) -> None:
    login(browser, console, "czj1", "not-the-password")
    assert "/login" in browser.current_url
    assert "用户名或密码错误" in text(browser)
    assert not [c for c in browser.get_cookies() if c["name"] == "kaohe_session"]
    shot(browser, "login-refused")
    login(browser, console, "czj1")
    assert units_shown(browser) == {"czj"}


def test_an_expired_session_is_refused(browser: Any, console: Console) -> None:
    login(browser, console, "fgj1")
    assert browser.current_url.endswith("/unit")
    cookie = next(c for c in browser.get_cookies() if c["name"] == "kaohe_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    console.clock.offset += 31 * 60
    browser.get(console.url + "/unit")
    assert "/login?expired=1" in browser.current_url
    assert "会话已过期" in text(browser)
    status, _, _ = fetch(console, "/api/overview", cookies=[cookie])
    assert status == 401


def test_a_forged_csrf_token_is_refused(browser: Any, console: Console) -> None:
    login(browser, console, "office1")
    browser.get(console.url + "/office/accounts")
    shot(browser, "office-accounts")
    browser.execute_script(
        "document.querySelectorAll('input[name=csrf]').forEach(function (e) { e.value = 'forged'; });"
    )
    browser.find_element(By.ID, "username").send_keys("intruder")
    browser.find_element(By.ID, "password").send_keys("intruder-password")
    submit(browser, browser.find_element(By.XPATH, "//form[@action='/office/accounts']//button"))
    assert "CSRF 校验失败" in text(browser)
    stub = accounts_pb2_grpc.AccountsServiceStub(console.stack.channel(console.gateway))
    listed = stub.ListAccounts(
        accounts_pb2.ListAccountsRequest(), metadata=console.stack.metadata("office"), timeout=60
    )
    assert "intruder" not in {a.username for a in listed.accounts}
    # With the real token the same form works.
    browser.get(console.url + "/office/accounts")
    browser.find_element(By.ID, "username").send_keys("viewer1")
    browser.find_element(By.ID, "password").send_keys("viewer-password")
    submit(browser, browser.find_element(By.XPATH, "//form[@action='/office/accounts']//button"))
    assert "已新增账号 viewer1" in text(browser)


def test_a_bad_ledger_is_refused_line_by_line(browser: Any, console: Console, tmp_path: Path) -> None:
    login(browser, console, "office1")
    browser.get(console.url + "/office/import")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"type":"unit","id":"new1","name":"新单位","category":"department"}\n'
        '{"type":"task","id":"X1"}\nnot json\n',
        encoding="utf-8",
    )
    browser.find_element(By.ID, "ledger").send_keys(str(bad))
    browser.find_element(By.XPATH, "//form[@action='/office/import']//button").click()
    WebDriverWait(browser, 60).until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, '#import-progress[data-phase="refused"]')
        )
    )
    items = browser.find_elements(By.CSS_SELECTOR, "#import-result ul.violations li")
    shot(browser, "office-import-refused")
    assert items and "台账未导入" in text(browser), text(browser)
    assert all("line" in i.text or "行" in i.text for i in items), [i.text for i in items]


def test_the_ledger_uploads_with_its_progress_and_rate(browser: Any, console: Console) -> None:
    login(browser, console, "office1")
    browser.get(console.url + "/office/import")
    ledger = Path(__file__).resolve().parents[1] / "data" / "ledger.jsonl"
    lines = len(ledger.read_text(encoding="utf-8").splitlines())
    browser.find_element(By.ID, "ledger").send_keys(str(ledger))
    browser.find_element(By.XPATH, "//form[@action='/office/import']//button").click()
    WebDriverWait(browser, 60).until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, '#import-progress[data-phase="done"]')
        )
    )
    bar = browser.find_element(By.ID, "import-bar")
    # Every byte of the file went up before the import's answer came back.
    assert float(bar.get_attribute("value")) == float(bar.get_attribute("max")) >= ledger.stat().st_size
    result = browser.find_element(By.ID, "import-result").text
    assert f"已导入：共 {lines} 行" in result and "每秒" in result, result
    assert f"完成：共 {lines} 行" in browser.find_element(By.ID, "import-status").text
    assert "/office/import" in browser.current_url  # the page stayed; no reload
    shot(browser, "office-import-done")
    # A forged form token: refused before the import, said on the page.
    browser.execute_script("document.querySelector('#import-form input[name=csrf]').value = 'forged';")
    browser.find_element(By.XPATH, "//form[@action='/office/import']//button").click()
    WebDriverWait(browser, 60).until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, '#import-progress[data-phase="failed"]')
        )
    )
    assert "未导入（HTTP 403）" in browser.find_element(By.ID, "import-status").text


def test_the_json_api_answers_with_the_gateways_authorisation(console: Console) -> None:
    stub = accounts_pb2_grpc.AccountsServiceStub(console.stack.channel(console.gateway))
    token = stub.Login(accounts_pb2.LoginRequest(username="fgj1", password=PASSWORDS["fgj1"])).token
    status, _, body = fetch(console, "/api/overview?year=2025", token=token)
    assert status == 200 and {u["unit"] for u in json.loads(body)["units"]} == {"fgj"}
    status, _, body = fetch(console, "/api/tasks?year=2025", token=token)
    assert status == 200 and json.loads(body)["tasks"]
    status, _, body = fetch(console, "/api/units", token=token)
    assert status == 200 and {u["id"] for u in json.loads(body)["units"]} >= UNITS
    assert fetch(console, "/api/overview")[0] == 401
    assert fetch(console, "/api/overview", token="forged.token.value")[0] == 401
    status, _, body = fetch(console, "/api/openapi.json")
    spec = json.loads(body)
    assert status == 200 and spec["openapi"].startswith("3.")
    assert {"/api/overview", "/api/runs", "/api/runs/{run}", "/api/tasks", "/api/units"} <= set(spec["paths"])
    # The overdue trend: a department's own line only, one count per month-end of 2025.
    assert "/api/overdue-trend" in spec["paths"]
    status, _, body = fetch(console, "/api/overdue-trend?year=2025", token=token)
    trend = json.loads(body)
    assert status == 200 and [u["unit"] for u in trend["units"]] == ["fgj"]
    assert len(trend["points"]) == len(trend["units"][0]["overdue"]) >= 1
    status, _, body = fetch(console, "/api/overdue-trend?year=2025&unit=czj", token=token)
    assert status == 403 and json.loads(body)["code"] == "PERMISSION_DENIED"
