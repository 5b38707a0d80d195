"""The supervision ledger and the assessment records in a real browser: the office 立项/交办, the
department 承办/反馈, the office 核查/销号 — the closed loop with no terminal — a department held to its
own tasks, and 差错通报 recorded and voided by the office's forms."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote, unquote

from docx import Document
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from services.common.protoenum import enum_number
from tests.tasks_text import TextStub
from tests.web.conftest import Console
from tests.web.test_console import confirm, fetch, login, shot, submit, text

TITLE = "全县冬季安全生产大检查"


def step(driver: Any, name: str, note: str = "") -> None:
    form = driver.find_element(By.CSS_SELECTOR, f"button[data-step={name}]").find_element(By.XPATH, "./..")
    if note:
        form.find_element(By.NAME, "note").send_keys(note)
    submit(driver, form.find_element(By.CSS_SELECTOR, f"button[data-step={name}]"))
    if name in ("close", "cancel"):
        confirm(driver, "督办事项")


def steps_offered(driver: Any) -> set[str]:
    return {b.get_attribute("data-step") for b in driver.find_elements(By.CSS_SELECTOR, "button[data-step]")}


def stored(console: Console, task_id: str) -> Any:
    stub = TextStub(tasks_pb2_grpc.TasksServiceStub(console.stack.channel(console.gateway)))
    return stub.GetTask(
        tasks_pb2.GetTaskRequest(id=task_id), metadata=console.stack.metadata("office"), timeout=60
    ).task


def test_the_closed_loop_in_the_browser(browser: Any, console: Console) -> None:
    driver = browser
    login(driver, console, "office1")
    driver.get(console.url + "/tasks/new")
    driver.find_element(By.ID, "title").send_keys(TITLE)
    Select(driver.find_element(By.ID, "lead_unit")).select_by_value("fgj")
    driver.find_element(By.ID, "source").send_keys("督办〔2026〕12号")
    shot(driver, "office-new-task")
    submit(driver, driver.find_element(By.XPATH, "//form[@action='/tasks']//button"))
    assert "已立项" in text(driver) and "已交办" in text(driver)
    task_id = driver.current_url.rsplit("/tasks/", 1)[1].split("?")[0]
    task = stored(console, unquote(task_id))
    assert (task.title, task.lead_unit, task.state, task.source) == (
        TITLE,
        "fgj",
        "assigned",
        "督办〔2026〕12号",
    )
    # The office may not take the department's steps, so it is not offered them.
    assert steps_offered(driver) == {"cancel"}

    login(driver, console, "fgj1")
    driver.get(console.url + "/tasks")
    assert TITLE in text(driver)
    driver.find_element(By.LINK_TEXT, task.id).click()
    # Open and not yet due: the lead unit may also ask for an extension (申请延期).
    assert steps_offered(driver) == {"accept", "progress", "report", "extension"}
    step(driver, "accept")
    assert "已承办" in text(driver)
    step(driver, "report", note="已完成全县 37 家企业检查，整改隐患 12 处")
    assert "已办结反馈" in text(driver)
    shot(driver, "department-task-reported")
    assert stored(console, task.id).state == "reported"

    login(driver, console, "office1")
    driver.get(console.url + "/tasks/" + task_id)
    assert steps_offered(driver) == {"verify", "reject", "close", "cancel"}
    step(driver, "verify")
    step(driver, "close")
    final = stored(console, task.id)
    assert (final.state, final.outcome) == ("closed", "on_time")
    history = text(driver)
    for label in ("立项", "交办", "承办", "反馈", "核查", "销号", "已完成全县 37 家企业检查"):
        assert label in history
    shot(driver, "office-task-closed")


def test_a_department_sees_only_its_own_tasks(browser: Any, console: Console) -> None:
    login(browser, console, "czj1")
    browser.get(console.url + "/tasks")
    listed = {a.text for a in browser.find_elements(By.CSS_SELECTOR, "table a")}
    stub = TextStub(tasks_pb2_grpc.TasksServiceStub(console.stack.channel(console.gateway)))
    own = stub.ListTasks(
        tasks_pb2.ListTasksRequest(page_size=5000, unit="czj"),
        metadata=console.stack.metadata("office"),
        timeout=60,
    )
    assert listed == {t.id for t in own.tasks} and listed
    # Another unit's task is not shown on its page, even by a typed address: it is answered as one that
    # does not exist, so a department cannot even learn which ids are taken.
    others = stub.ListTasks(
        tasks_pb2.ListTasksRequest(page_size=5000, unit="fgj"),
        metadata=console.stack.metadata("office"),
        timeout=60,
    )
    foreign = next(t for t in others.tasks if "czj" not in {t.lead_unit, *t.co_units})
    status, _, body = fetch(console, "/tasks/" + quote(foreign.id, safe=""), cookies=browser.get_cookies())
    assert status == 404 and foreign.title.encode() not in body


def test_a_step_submitted_twice_is_taken_once(browser: Any, console: Console) -> None:
    login(browser, console, "office1")
    browser.get(console.url + "/tasks/new")
    browser.find_element(By.ID, "title").send_keys("重复提交的立项")
    Select(browser.find_element(By.ID, "lead_unit")).select_by_value("czj")
    form = browser.find_element(By.XPATH, "//form[@action='/tasks']")
    # The same form posted twice (a double click): one task.
    browser.execute_script(
        "const f = arguments[0]; const body = new URLSearchParams(new FormData(f));"
        "return fetch('/tasks', {method: 'POST', body: body, redirect: 'manual'})"
        ".then(() => fetch('/tasks', {method: 'POST', body: body, redirect: 'manual'}));",
        form,
    )
    stub = TextStub(tasks_pb2_grpc.TasksServiceStub(console.stack.channel(console.gateway)))
    made = [
        t
        for t in stub.ListTasks(
            tasks_pb2.ListTasksRequest(page_size=5000, unit="czj"),
            metadata=console.stack.metadata("office"),
            timeout=60,
        ).tasks
        if t.title == "重复提交的立项"
    ]
    assert len(made) == 1


def records_of(console: Console, kind: str) -> dict[str, Any]:
    stub = scoring_pb2_grpc.ScoringServiceStub(console.stack.channel(console.gateway))
    reply = stub.ListRecords(
        scoring_pb2.ListRecordsRequest(
            kind=enum_number(scoring_pb2.RecordKind.DESCRIPTOR, kind), include_voided=True, page_size=5000
        ),
        metadata=console.stack.metadata("office"),
        timeout=60,
    )
    return {r.id: r for r in reply.records}


def test_the_office_records_an_error_report_and_voids_it_in_the_browser(
    browser: Any, console: Console
) -> None:
    login(browser, console, "office1")
    browser.get(console.url + "/office/records/error_report")
    record_id = browser.find_element(By.ID, "error_report-id").get_attribute("value")
    assert record_id.startswith("CW")
    Select(browser.find_element(By.ID, "error_report-unit")).select_by_value("czj")
    Select(browser.find_element(By.ID, "error_report-severity")).select_by_value("serious")
    browser.find_element(By.ID, "error_report-description").send_keys("会议通知漏发两个乡镇")
    shot(browser, "office-records")
    submit(browser, browser.find_element(By.XPATH, "//form[@action='/office/records/error_report']//button"))
    assert f"已保存差错通报 {record_id}" in text(browser)
    made = records_of(console, "error_report")[record_id]
    assert (made.unit, made.fields["severity"], made.voided) == ("czj", "serious", False)

    row = browser.find_element(By.XPATH, f"//tr[td[1][text()='{record_id}']]")
    row.find_element(By.NAME, "reason").send_keys("重复录入")
    submit(browser, row.find_element(By.TAG_NAME, "button"))
    confirm(browser, f"作废差错通报 {record_id}（理由：重复录入）：该记录不再计入考核")
    assert f"已作废 {record_id}" in text(browser)
    assert records_of(console, "error_report")[record_id].void_reason == "重复录入"


def test_an_accountability_names_its_person_and_deciding_body_and_the_deduction_is_the_schemes(
    browser: Any, console: Console
) -> None:
    login(browser, console, "office1")
    browser.get(console.url + "/office/records/accountability")
    assert "单位扣分（本方案规定）" in text(browser)
    record_id = browser.find_element(By.ID, "accountability-id").get_attribute("value")
    Select(browser.find_element(By.ID, "accountability-unit")).select_by_value("czj")
    browser.find_element(By.ID, "accountability-reason").send_keys("民生资金拨付滞后")
    browser.find_element(By.ID, "accountability-person").send_keys("李四")
    browser.find_element(By.ID, "accountability-decided_by").send_keys("县纪委监委")
    submit(
        browser, browser.find_element(By.XPATH, "//form[@action='/office/records/accountability']//button")
    )
    assert f"已保存问责 {record_id}" in text(browser)
    made = records_of(console, "accountability")[record_id]
    assert (made.fields["person"], made.fields["decided_by"]) == ("李四", "县纪委监委")
    row = browser.find_element(By.XPATH, f"//tr[td[1][text()='{record_id}']]").text
    assert "李四" in row and "县纪委监委" in row
    # Voided again: the console's other tests see the example's standing.
    scoring_pb2_grpc.ScoringServiceStub(console.stack.channel(console.gateway)).VoidRecord(
        scoring_pb2.VoidRecordRequest(
            request_id=f"void-{record_id}",
            kind=scoring_pb2.RECORD_KIND_ACCOUNTABILITY,
            id=record_id,
            reason="测试",
        ),
        metadata=console.stack.metadata("office"),
        timeout=60,
    )


def test_a_bad_record_is_refused_naming_the_field_and_nothing_is_stored(
    browser: Any, console: Console
) -> None:
    login(browser, console, "office1")
    browser.get(console.url + "/office/records/metric_reading")
    before = set(records_of(console, "metric_reading"))
    browser.find_element(By.ID, "metric_reading-period").send_keys("去年")
    browser.find_element(By.ID, "metric_reading-value").send_keys("3")
    submit(
        browser, browser.find_element(By.XPATH, "//form[@action='/office/records/metric_reading']//button")
    )
    assert "period" in text(browser)
    assert set(records_of(console, "metric_reading")) == before


def test_the_office_downloads_the_bulletin_and_a_department_may_not(browser: Any, console: Console) -> None:
    login(browser, console, "office1")
    browser.get(console.url + "/office/bulletin")
    assert "2025年全年" in text(browser)
    status, headers, body = fetch(
        console, "/office/bulletin/download?period=2025", cookies=browser.get_cookies()
    )
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    document = Document(io.BytesIO(body))
    paragraphs = "\n".join(p.text for p in document.paragraphs)
    assert "2025" in paragraphs and "督查" in paragraphs
    login(browser, console, "fgj1")
    status, _, _ = fetch(console, "/office/bulletin/download?period=2025", cookies=browser.get_cookies())
    assert status == 403
