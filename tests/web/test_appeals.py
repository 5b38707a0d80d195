"""容错 applications and appeals in a real browser: a department applies, the office decides, both see it."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.web.conftest import Console
from tests.web.test_console import login, shot, submit, text


def test_a_department_applies_for_tolerance_and_sees_the_offices_decision(
    browser: Any, console: Console
) -> None:
    driver = browser
    login(driver, console, "fgj1")
    driver.get(console.url + "/unit/appeals")
    options = {
        o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#application-target option")
    }
    # Its own tasks (lead T1, T2, T3, T4) and error report E1; nobody else's.
    assert {"task:T1", "task:T3", "error_report:E1"} <= options
    assert not {"task:T5", "error_report:E2"} & options
    Select(driver.find_element(By.ID, "application-target")).select_by_value("task:T3")
    driver.find_element(By.ID, "application-target-reason").send_keys("签约方临时变更，已及时报告")
    submit(driver, driver.find_element(By.XPATH, "//button[.='提交容错申请']"))
    assert "已提交容错申请 RC2025-001" in text(driver)
    row = driver.find_element(By.CSS_SELECTOR, 'tr[data-application="RC2025-001"]')
    assert row.get_attribute("data-state") == "pending" and "待裁决" in row.text
    assert "单位 发改局 提出" in row.text

    # No run is publicised yet: an appeal is refused, saying why.
    Select(driver.find_element(By.ID, "appeal-target")).select_by_value("error_report:E1")
    driver.find_element(By.ID, "appeal-target-reason").send_keys("口径一致")
    submit(driver, driver.find_element(By.XPATH, "//button[.='提交申诉']"))
    assert "尚未公示" in text(driver)
    shot(driver, "unit-appeals")

    # Another department sees none of it.
    login(driver, console, "czj1")
    driver.get(console.url + "/unit/appeals")
    assert driver.find_elements(By.CSS_SELECTOR, 'tr[data-application="RC2025-001"]') == []

    # The office: the pending application, decided by its button with a reason.
    login(driver, console, "office1")
    driver.get(console.url + "/office/tolerance")
    row = driver.find_element(By.CSS_SELECTOR, 'tr[data-application="RC2025-001"]')
    assert "签约方临时变更" in row.text
    driver.find_element(By.ID, "reason-RC2025-001").send_keys("客观原因，予以免责")
    shot(driver, "office-tolerance")
    submit(driver, row.find_element(By.XPATH, ".//button[.='免责']"))
    assert "已裁决容错申请 RC2025-001：免责" in text(driver)
    row = driver.find_element(By.CSS_SELECTOR, 'tr[data-application="RC2025-001"]')
    assert row.get_attribute("data-state") == "exempt"

    # The department sees the decision in its timeline.
    login(driver, console, "fgj1")
    driver.get(console.url + "/unit/appeals")
    row = driver.find_element(By.CSS_SELECTOR, 'tr[data-application="RC2025-001"]')
    events = [e.text for e in row.find_elements(By.CSS_SELECTOR, ".timeline li")]
    assert len(events) == 2 and "单位 发改局 提出" in events[0]
    assert "考核办 裁决：免责（客观原因，予以免责）" in events[1]
    shot(driver, "unit-appeals-decided")
