"""考核记录, 申诉与容错 and 延期申请 in a real browser: records searched by unit and year, fifty a page
with the search kept from page to page, a wrong search refused naming its field, and every page of the
desk fitting a 390 px phone (no sideways scrolling, table rows as cards)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.conftest import example_path
from tests.web.conftest import Console
from tests.web.test_console import login, settled, shot, submit, text

ADDED = 55  # 财政局's added 2025 readings: with the example's, more than one page of fifty
RECORD_KINDS = ("error_report", "metric_reading", "incentive", "accountability", "target")


@pytest.fixture(scope="module")
def desk(console: Console) -> Console:
    """The example ledger and ADDED more 指标值 readings of 财政局 (czj), one a day from 2025-04-01."""
    lines = [
        {
            "type": "metric_reading",
            "unit": "czj",
            "metric": "court_appearance_rate",
            "period": f"2025-{month:02d}-{day:02d}",
            "numerator": 1,
            "denominator": 1,
        }
        for month, day in [(4, d) for d in range(1, 31)] + [(5, d) for d in range(1, ADDED - 29)]
    ]
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
    console.stack.import_ledger(data)
    return console


def example_readings(unit: str) -> int:
    lines = example_path("ledger.jsonl").read_text(encoding="utf-8").splitlines()
    return sum(
        1
        for line in map(json.loads, filter(str.strip, lines))
        if line["type"] == "metric_reading" and line["unit"] == unit
    )


def units_shown(driver: Any) -> list[str]:
    """The 单位 of every record the list shows."""
    cells = "main tbody td[data-label='单位']"
    return settled(driver, lambda d: [c.text for c in d.find_elements(By.CSS_SELECTOR, cells)])


def test_records_are_searched_by_unit_and_year_fifty_a_page(browser: Any, desk: Console) -> None:
    login(browser, desk, "office1")
    browser.get(desk.url + "/office/records/metric_reading")
    Select(browser.find_element(By.ID, "search-unit")).select_by_visible_text("财政局")
    browser.find_element(By.ID, "search-year").send_keys("2025")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#records-search button"))
    first = units_shown(browser)
    assert first == ["财政局"] * 50
    # The search stays in the form and in the link to the next page.
    assert Select(browser.find_element(By.ID, "search-unit")).first_selected_option.text == "财政局"
    assert browser.find_element(By.ID, "search-year").get_attribute("value") == "2025"
    submit(browser, browser.find_element(By.CSS_SELECTOR, "a[rel=next]"))
    rest = units_shown(browser)
    assert rest and set(rest) == {"财政局"}
    assert len(first) + len(rest) == ADDED + example_readings("czj")
    assert not browser.find_elements(By.CSS_SELECTOR, "a[rel=next]")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "a[rel=first]"))
    assert units_shown(browser) == first

    # A unit may be named in the address too; another unit's readings are not mixed in.
    browser.get(desk.url + "/office/records/metric_reading?unit=%E5%8F%91%E6%94%B9%E5%B1%80")  # 发改局
    assert set(units_shown(browser)) == {"发改局"}
    browser.get(desk.url + "/office/records/metric_reading?year=2019")
    assert "（无）" in text(browser)

    # A wrong search is refused, naming the field and the rule; the list is shown unfiltered.
    browser.get(desk.url + "/office/records/metric_reading?year=20x5")
    assert "年度：“20x5”不是年份，应为四位数字，如 2025" in text(browser)
    assert len(units_shown(browser)) == 50
    browser.get(desk.url + "/office/records/error_report?unit=nosuch")
    assert "单位：没有“nosuch”这个单位" in text(browser)


def fits_a_phone(driver: Any, path: str) -> None:
    width = settled(driver, lambda d: d.execute_script("return document.documentElement.scrollWidth"))
    assert width <= 390, (path, width)
    display = driver.execute_script(
        "const row = document.querySelector('main tbody tr');"
        "return row ? getComputedStyle(row).display : 'no table';"
    )
    assert display == "block", (path, display)
    shot(driver, "phone" + path.replace("/", "-"))


def test_the_records_desk_fits_a_phone(browser: Any, desk: Console) -> None:
    login(browser, desk, "fgj1")
    browser.set_window_size(390, 844)
    try:
        # A pending 容错 application: its row carries a timeline and an upload form, the office's a
        # decision form with a reason and three buttons — the widest rows these pages have.
        browser.get(desk.url + "/unit/appeals")
        Select(browser.find_element(By.ID, "application-target")).select_by_value("task:T3")
        browser.find_element(By.ID, "application-target-reason").send_keys("签约方临时变更，已及时报告")
        submit(browser, browser.find_element(By.XPATH, "//button[.='提交容错申请']"))
        assert "已提交容错申请" in text(browser)
        for path in ("/unit/appeals", "/unit/extensions"):
            browser.get(desk.url + path)
            fits_a_phone(browser, path)

        login(browser, desk, "office1")
        paths = ["/office/tolerance", "/office/appeals", "/office/extensions"]
        paths += [f"/office/records/{kind}" for kind in RECORD_KINDS]
        for path in paths:
            browser.get(desk.url + path)
            fits_a_phone(browser, path)
        browser.get(desk.url + "/office/tolerance")
        pending = browser.find_element(By.CSS_SELECTOR, "tr[data-state='pending']")
        assert pending.find_elements(By.CSS_SELECTOR, "form button[name=decision]")
        # The unit by its name (the row keeps its code for scripts).
        assert pending.find_element(By.CSS_SELECTOR, "td[data-label='单位']").text == "发改局"
        assert pending.get_attribute("data-unit") == "fgj"
    finally:
        browser.set_window_size(1280, 1000)
