"""延期申请 in a real browser: the lead unit asks on its task's page, the office approves after a confirmation
step, the unit sees the new due instant and the timeline; the office's page lists reports awaiting 核查."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from selenium.webdriver.common.by import By

from tests.tasks_text import TextStub, typed
from tests.web.conftest import Console
from tests.web.test_console import fetch, login, shot, submit, text

ZONE = ZoneInfo("Asia/Shanghai")


def tasks_stub(console: Console) -> Any:
    return TextStub(tasks_pb2_grpc.TasksServiceStub(console.stack.channel(console.gateway)))


def post_json(console: Console, path: str, body: dict[str, str], *, cookies: list[dict[str, Any]]) -> int:
    request = urllib.request.Request(console.url + path, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Cookie", "; ".join(f"{c['name']}={c['value']}" for c in cookies))
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_a_unit_asks_for_an_extension_and_the_office_approves_it(browser: Any, console: Console) -> None:
    driver = browser
    due = (datetime.now(ZONE) + timedelta(days=4)).replace(microsecond=0)
    task = (
        tasks_stub(console)
        .CreateTask(
            typed(
                tasks_pb2.CreateTaskRequest,
                title="全县冬季供暖保障检查",
                task_type="leader_directive",
                lead_unit="fgj",
                due_at=due.isoformat(),
                assign_now=True,
            ),
            metadata=console.stack.metadata("office"),
            timeout=60,
        )
        .task
    )
    asked = (due + timedelta(days=10)).date()
    page = "/tasks/" + quote(task.id, safe="")

    login(driver, console, "fgj1")
    driver.get(console.url + page)
    driver.find_element(By.ID, "extension-due").send_keys(f"{asked:%Y年%m月%d日}")
    driver.find_element(By.ID, "extension-reason").send_keys("需等待省级审批，预计下旬批复")
    shot(driver, "unit-extension-form")
    submit(driver, driver.find_element(By.CSS_SELECTOR, "button[data-step=extension]"))
    assert "已提出延期申请 YQ" in text(driver) and "待考核办审批" in text(driver)
    row = driver.find_element(By.CSS_SELECTOR, "tr[data-extension]")
    ext_id = row.get_attribute("data-extension")
    assert (
        row.get_attribute("data-state") == "pending"
        and f"{asked.year}年{asked.month}月{asked.day}日 23:59" in row.text
    )
    # One request at a time: the form is gone while it waits.
    assert driver.find_elements(By.ID, "extension-form") == []
    # Another unit sees none of it, in the console or the API.
    login(driver, console, "czj1")
    status, _, body = fetch(console, "/api/extensions", cookies=driver.get_cookies())
    assert status == 200 and json.loads(body) == {"extensions": []}
    assert post_json(console, "/api/extensions", {"task_id": task.id}, cookies=driver.get_cookies()) == 403

    login(driver, console, "office1")
    driver.get(console.url + "/office/extensions")
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-extension="{ext_id}"]')
    assert "需等待省级审批" in row.text and "待审批" in row.text
    submit(
        driver, driver.find_element(By.CSS_SELECTOR, f'tr[data-extension="{ext_id}"] a[data-decide=approved]')
    )
    # The confirmation step: what is asked, and the due to grant (the asked one unless changed).
    assert "确认批准" in text(driver) and "需等待省级审批" in text(driver)
    assert driver.find_element(By.ID, "decide-due").get_attribute("value") == f"{asked.isoformat()} 23:59:59"
    driver.find_element(By.ID, "decide-reason").send_keys("理由充分，同意延期")
    shot(driver, "office-extension-confirm")
    submit(driver, driver.find_element(By.ID, "confirm-decision"))
    assert f"已批准延期申请 {ext_id}" in text(driver)
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-extension="{ext_id}"]')
    assert row.get_attribute("data-state") == "approved"
    # The office's page: reports awaiting 核查, oldest first, each a link to its task.
    driver.get(console.url + "/office")
    waiting = driver.find_elements(By.CSS_SELECTOR, "tr[data-awaiting]")
    assert waiting and "待核查的反馈" in text(driver)
    shown = [w.find_element(By.TAG_NAME, "td").text for w in waiting]
    assert shown == sorted(shown, key=lambda t: [int(n) for n in re.findall(r"\d+", t)])  # oldest first
    reported = tasks_stub(console).ListTasks(
        typed(tasks_pb2.ListTasksRequest, state="reported", page_size=5000),
        metadata=console.stack.metadata("office"),
        timeout=60,
    )
    assert {w.get_attribute("data-awaiting") for w in waiting} == {t.id for t in reported.tasks}

    login(driver, console, "fgj1")
    driver.get(console.url + page)
    assert f"{asked.year}年{asked.month}月{asked.day}日 23:59" in text(driver)  # 应办结: the granted due
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-extension="{ext_id}"]')
    steps = [li.text for li in row.find_elements(By.CSS_SELECTOR, ".timeline li")]
    assert len(steps) == 2 and "单位 发改局 申请延期" in steps[0] and "需等待省级审批" in steps[0]
    assert "考核办 审批：已批准" in steps[1] and "理由充分，同意延期" in steps[1]
    assert "延期至" in text(driver)  # the extend event in the task's history
    shot(driver, "unit-extension-approved")
    stored = (
        tasks_stub(console)
        .GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=console.stack.metadata("office"), timeout=60)
        .task
    )
    assert stored.due_at == f"{asked.isoformat()}T23:59:59+08:00" and stored.history[-1].kind == "extend"


def api_post(console: Console, path: str, body: dict[str, str], token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(console.url + path, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return int(reply.status), json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def test_the_json_api_files_and_decides_with_bearer_tokens(console: Console) -> None:
    due = (datetime.now(ZONE) + timedelta(days=5)).replace(microsecond=0)
    task = (
        tasks_stub(console)
        .CreateTask(
            typed(
                tasks_pb2.CreateTaskRequest,
                title="接口申请延期",
                task_type="leader_directive",
                lead_unit="czj",
                due_at=due.isoformat(),
                assign_now=True,
            ),
            metadata=console.stack.metadata("office"),
            timeout=60,
        )
        .task
    )
    unit, office = console.stack.token("department", "czj"), console.stack.token("office")
    status, made = api_post(
        console, "/api/extensions", {"task_id": task.id, "due_at": "明天", "reason": "x"}, unit
    )
    assert status == 422 and made["code"] == "INVALID_ARGUMENT" and "due_at" in made["error"]
    asked = (due + timedelta(days=3)).strftime("%Y-%m-%d %H:%M")
    status, made = api_post(
        console, "/api/extensions", {"task_id": task.id, "due_at": asked, "reason": "设备到货延迟"}, unit
    )
    assert status == 201 and made["state"] == "pending" and made["unit"] == "czj"
    path = f"/api/extensions/{quote(made['id'], safe='')}/decide"
    status, refused = api_post(console, path, {"decision": "approved"}, unit)
    assert status == 403 and refused["code"] == "PERMISSION_DENIED"
    status, decided = api_post(console, path, {"decision": "refused", "reason": "不符合延期条件"}, office)
    assert (
        status == 200 and decided["state"] == "refused" and decided["timeline"][1]["actor_role"] == "office"
    )
    status, _, body = fetch(console, f"/api/extensions?task_id={quote(task.id)}", token=unit)
    assert status == 200 and [e["state"] for e in json.loads(body)["extensions"]] == ["refused"]
    status, _, body = fetch(console, "/api/openapi.json")
    assert "/api/extensions/{extension}/decide" in json.loads(body)["paths"]
