"""The office's charts with 40 more units, in a real browser: the trend draws the ten units with most
overdue tasks and finds any other by name, every unit stays in its table; the overview's bars draw the
fifteen with most to do, never 逾期 stacked on 红 (the same tasks twice); counts only, never a ratio."""

from __future__ import annotations

import json
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.conftest import Console
from tests.web.test_console import UNITS, attribute_of_all, login, settled, shot, submit

MANY = 40


def _name(n: int) -> str:
    return f"测试单位{n:02d}"


@pytest.fixture(scope="module")
def crowded(console: Console) -> Console:
    """40 more units, the nth with n tasks left open since March 2025 (so unit 40 has most overdue)."""
    lines: list[dict[str, Any]] = []
    for n in range(1, MANY + 1):
        lines.append({"type": "unit", "id": f"t{n:02d}", "name": _name(n), "category": "department"})
        lines += [
            {
                "type": "task",
                "id": f"C{n:02d}-{k:02d}",
                "title": f"图表测试第{n:02d}-{k:02d}项",
                "task_type": "leader_directive",
                "lead_unit": f"t{n:02d}",
                "assigned_at": "2025-03-03T09:00:00+08:00",
            }
            for k in range(1, n + 1)
        ]
    console.stack.import_ledger("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode())
    return console


def _chart(driver: Any, kind: str) -> dict[str, Any]:
    """The data a drawn chart of this kind was given (its data-chart), once ECharts has drawn it."""
    css = f'.chart[data-drawn="1"][data-chart*="\\"kind\\": \\"{kind}\\""]'
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, css + " svg"))
    found: dict[str, Any] = settled(
        driver, lambda d: json.loads(d.find_element(By.CSS_SELECTOR, css).get_attribute("data-chart"))
    )
    return found


def _series_stacks(driver: Any, kind: str) -> dict[str, Any]:
    return dict(
        driver.execute_script(
            f"var el = document.querySelector('.chart[data-chart*=\"{kind}\"]');"
            "return echarts.getInstanceByDom(el).getOption().series.map(function (s) {"
            " return [s.name, s.stack || null]; });"
        )
    )


def _counts(values: list[Any]) -> bool:
    return all(isinstance(v, int) and v >= 0 for v in values)


def test_the_trend_draws_the_ten_with_most_overdue_and_finds_the_others(
    browser: Any, crowded: Console
) -> None:
    login(browser, crowded, "office1")
    browser.get(crowded.url + "/office?year=2025")
    trend = _chart(browser, "trend")
    drawn = [line["name"] for line in trend["lines"]]
    assert drawn == [_name(n) for n in range(MANY, MANY - 10, -1)]  # most overdue first
    assert all(_counts(line["values"]) for line in trend["lines"])  # counts, one axis of them
    assert (
        browser.execute_script(
            "return echarts.getInstanceByDom(document.querySelector('.chart[data-chart*=\"trend\"]'))"
            ".getOption().yAxis.length"
        )
        == 1
    )
    assert "图中为逾期事项最多的 10 个单位（共 46 个）" in browser.find_element(By.TAG_NAME, "body").text
    # The table under the chart keeps every unit's line.
    every = UNITS | {f"t{n:02d}" for n in range(1, MANY + 1)}
    assert attribute_of_all(browser, "details.trend tr[data-unit]", "data-unit") == every
    browser.execute_script("document.querySelector('.levels, .trend-search').scrollIntoView()")
    shot(browser, "office-trend-forty-units")

    # A unit not among the ten, found by its name: its line alone, the year kept.
    browser.find_element(By.ID, "trend-q").send_keys(_name(7))
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form.trend-search button"))
    assert "year=2025" in browser.current_url and "trend_q=" in browser.current_url
    found = _chart(browser, "trend")
    assert [line["name"] for line in found["lines"]] == [_name(7)]
    assert found["lines"][0]["values"][-1] == 7
    assert attribute_of_all(browser, "details.trend tr[data-unit]", "data-unit") == {"t07"}
    # Nothing of that name: said so, in Chinese, and no line drawn.
    browser.get(crowded.url + "/office?year=2025&trend_q=没有这个单位")
    assert "没有名称含“没有这个单位”的单位。" in browser.find_element(By.ID, "trend-none").text
    assert _chart(browser, "trend")["lines"] == []


def test_the_overview_bars_draw_the_fifteen_with_most_to_do_and_never_overdue_on_red(
    browser: Any, crowded: Console
) -> None:
    login(browser, crowded, "office1")
    browser.get(crowded.url + "/office?year=2025")
    bars = _chart(browser, "bars")
    assert bars["names"] == [_name(n) for n in range(MANY, MANY - 15, -1)]
    assert set(bars["series"]) == {"逾期", "红", "黄"} and all(_counts(v) for v in bars["series"].values())
    stack_of = _series_stacks(browser, "bars")
    # 红 and 黄 are different open tasks (one stack); 逾期 are red tasks counted again: a bar of their own.
    assert stack_of["红"] == stack_of["黄"] and stack_of["逾期"] not in (stack_of["红"], None)
    assert (
        "图中为逾期与红黄事项最多的 15 个单位（共 46 个）" in browser.find_element(By.TAG_NAME, "body").text
    )
    # Every unit is still in the overview's table.
    every = UNITS | {f"t{n:02d}" for n in range(1, MANY + 1)}
    assert attribute_of_all(browser, "tr[data-unit][data-total]", "data-unit") == every
