"""What a new clerk hit, in a real browser: 排名 from the menu, pages of 50 and a title search, instants as
people write them, the menu on error pages, the favicon, cards on a phone, charts that neither stack the
same tasks twice nor put a unit's name into the page as HTML nor break the CSP."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.conftest import Console
from tests.web.test_console import UNITS, attribute_of_all, fetch, login, settled, shot, submit, text

HOSTILE_NAME = '<img id="injected" src="x">局'
INSTANT = re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}$")


@pytest.fixture(scope="module")
def more(console: Console) -> Console:
    """55 more tasks (titles 分页测试第NN项), 40 more 指标值 readings and a unit whose name is markup."""
    lines = [{"type": "unit", "id": "xss", "name": HOSTILE_NAME, "category": "department"}]
    lines += [
        {
            "type": "task",
            "id": f"P{n:02d}",
            "title": f"分页测试第{n:02d}项",
            "task_type": "leader_directive",
            "lead_unit": "xss",
            "assigned_at": "2025-03-03T09:00:00+08:00",
        }
        for n in range(1, 56)
    ]
    lines += [
        {
            "type": "metric_reading",
            "unit": "czj",
            "metric": "court_appearance_rate",
            "period": f"2025-{month:02d}-{day:02d}",
            "numerator": 1,
            "denominator": 1,
        }
        for month, day in [(2, d) for d in range(1, 29)] + [(3, d) for d in range(1, 13)]
    ]
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
    console.stack.import_ledger(data)
    return console


def test_ranking_from_the_menu_opens_the_latest_runs_ranking(browser: Any, more: Console) -> None:
    login(browser, more, "office1")
    submit(browser, browser.find_element(By.LINK_TEXT, "排名"))
    assert "出错了" not in text(browser) and "还没有考核运行" in text(browser)
    scoring = scoring_pb2_grpc.ScoringServiceStub(more.stack.channel(more.gateway))
    run = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025), metadata=more.stack.metadata("office"), timeout=120
    ).run
    submit(browser, browser.find_element(By.LINK_TEXT, "排名"))
    assert f"考核运行 {run.id}" in text(browser)
    assert attribute_of_all(browser, "tr[data-total]", "data-unit") == UNITS | {"xss"}

    # 公示 asks first, saying what happens; 取消 leaves the run a draft.
    browser.get(more.url + "/office/runs")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-run="{run.id}"]')
    submit(browser, row.find_element(By.XPATH, ".//button[.='公示']"))
    assert "申诉期随即开始" in text(browser)
    shot(browser, "confirm-publish")
    submit(browser, browser.find_element(By.ID, "cancel"))
    state = browser.find_element(By.CSS_SELECTOR, f'tr[data-run="{run.id}"] .state')
    assert state.get_attribute("data-state") == "draft"


def test_tasks_come_fifty_a_page_with_a_title_search_and_readable_instants(
    browser: Any, more: Console
) -> None:
    login(browser, more, "office1")
    browser.get(more.url + "/tasks")
    first = attribute_of_all(browser, "main tbody tr td:first-child a", "href")
    assert len(first) == 50
    due = settled(
        browser, lambda d: [c.text for c in d.find_elements(By.CSS_SELECTOR, "td[data-label='应办结']")]
    )
    assert due and all(INSTANT.match(d) for d in due if d), due
    submit(browser, browser.find_element(By.CSS_SELECTOR, "a[rel=next]"))
    second = attribute_of_all(browser, "main tbody tr td:first-child a", "href")
    assert second and not first & second

    browser.get(more.url + "/tasks")
    browser.find_element(By.NAME, "title").send_keys("分页测试第07")
    submit(browser, browser.find_element(By.XPATH, "//form[@action='/tasks']//button"))
    assert attribute_of_all(browser, "main tbody tr td:first-child a", "href") == {more.url + "/tasks/P07"}
    browser.get(more.url + "/tasks?title=%25")  # a literal "%", not a wildcard
    assert "（无）" in text(browser)


def test_indicator_values_come_fifty_a_page(browser: Any, more: Console) -> None:
    login(browser, more, "office1")
    browser.get(more.url + "/office/records/metric_reading")
    count = settled(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "main tbody tr")))
    assert count == 50
    submit(browser, browser.find_element(By.CSS_SELECTOR, "a[rel=next]"))
    # The example's 20 readings and the 40 added: 10 on the second page, and a way back.
    assert settled(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "main tbody tr"))) == 10
    assert browser.find_elements(By.CSS_SELECTOR, "a[rel=first]")


def test_error_pages_keep_the_menu_and_the_favicon_is_there(browser: Any, more: Console) -> None:
    login(browser, more, "fgj1")
    browser.get(more.url + "/tasks/no-such-task")
    assert "出错了" in text(browser)
    assert attribute_of_all(browser, "nav[aria-label='主菜单'] a", "href") >= {more.url + "/tasks"}
    status, headers, body = fetch(more, "/favicon.ico")
    assert status == 200 and headers["Content-Type"] == "image/svg+xml" and body.startswith(b"<svg")
    icon = browser.find_element(By.CSS_SELECTOR, "link[rel=icon]").get_attribute("href")
    assert icon.endswith("/static/favicon.svg")


@pytest.mark.parametrize(
    ("who", "paths"),
    [
        (
            "office1",
            (
                "/office",
                "/tasks",
                "/office/records/metric_reading",
                "/office/runs",
                "/office/accounts",
            ),
        ),
        ("fgj1", ("/unit", "/unit/appeals", "/tasks")),
    ],
)
def test_on_a_phone_tables_become_cards(
    browser: Any, more: Console, who: str, paths: tuple[str, ...]
) -> None:
    login(browser, more, who)
    browser.set_window_size(390, 844)
    try:
        for path in paths:
            browser.get(more.url + path)
            width = settled(
                browser, lambda d: d.execute_script("return document.documentElement.scrollWidth")
            )
            assert width <= 390, (path, width)
            display = browser.execute_script(
                "return getComputedStyle(document.querySelector('main tbody tr')).display"
            )
            assert display == "block"
            shot(browser, "phone" + path.replace("/", "-"))
    finally:
        browser.set_window_size(1280, 1000)


def test_the_overview_chart_escapes_names_and_keeps_to_the_csp(browser: Any, more: Console) -> None:
    login(browser, more, "office1")
    WebDriverWait(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, '.chart[data-drawn="1"][data-chart*="bars"] svg')
    )
    browser.execute_script(
        "window.violations = [];"
        "document.addEventListener('securitypolicyviolation', function (e) {"
        " window.violations.push(e.violatedDirective); });"
    )
    stacks = browser.execute_script(
        "var el = document.querySelector('.chart[data-chart*=\"bars\"]');"
        "return echarts.getInstanceByDom(el).getOption().series"
        ".map(function (s) { return [s.name, s.stack]; });"
    )
    stack_of = dict(stacks)
    assert stack_of["红"] == stack_of["黄"] and stack_of["逾期"] != stack_of["红"]
    names = browser.execute_script(
        "var el = document.querySelector('.chart[data-chart*=\"bars\"]');"
        "return JSON.parse(el.getAttribute('data-chart')).names;"
    )
    where = names.index(HOSTILE_NAME)
    browser.execute_script(
        "var chart = echarts.getInstanceByDom(document.querySelector('.chart[data-chart*=\"bars\"]'));"
        f"chart.dispatchAction({{type: 'showTip', seriesIndex: 0, dataIndex: {where}}});"
    )
    tip = WebDriverWait(browser, 30).until(
        lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, ".chart div") if HOSTILE_NAME in e.text]
    )
    assert tip and browser.find_elements(By.ID, "injected") == []
    # A violation of our own, made last: reports come in order, so once it is in, any of the chart's is.
    browser.execute_script("document.body.insertAdjacentHTML('beforeend', '<i style=\"color:red\"></i>');")
    reported = WebDriverWait(browser, 30).until(lambda d: d.execute_script("return window.violations"))
    assert reported == ["style-src-attr"]
