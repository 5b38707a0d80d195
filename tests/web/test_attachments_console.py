"""附件 in the console: a department (or a 村) uploads a PDF on its task's page, the office (and the
村's 乡镇) see and download it, another unit cannot; no PDF under a .pdf name is refused in Chinese."""

from __future__ import annotations

import http.client
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.web.conftest import Console
from tests.web.test_console import fetch, login, submit, text
from tests.web.test_people_console import PASSWORD, county  # noqa: F401 (the fixture)

PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 40 + b"%%EOF\n"


def upload(driver: Any, path: Path) -> None:
    driver.find_element(By.ID, "attachment-file").send_keys(str(path))
    submit(driver, driver.find_element(By.CSS_SELECTOR, "button[data-action=attach]"))


def too_large(console: Console, cookies: list[dict[str, Any]]) -> int:
    """The status of an upload announcing 21 MB, its body never sent."""
    host, port = console.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("POST", "/tasks/T1/attachments")
        connection.putheader("Cookie", "; ".join(f"{c['name']}={c['value']}" for c in cookies))
        connection.putheader("Content-Type", "multipart/form-data; boundary=x")
        connection.putheader("Content-Length", str(21 << 20))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def big_pdf(path: Path, size: int) -> Path:
    """A PDF of size bytes, written in pieces (the test itself never holds it whole)."""
    tail = b"%%EOF\n"
    with path.open("wb") as out:
        out.write(b"%PDF-1.7\n")
        left = size - len(b"%PDF-1.7\n") - len(tail)
        while left > 0:
            piece = min(left, 1 << 20)
            out.write(b"0 0 obj << >> endobj\n" * (piece // 21) + b" " * (piece % 21))
            left -= piece
        out.write(tail)
    return path


def refusal_of_too_large(console: Console, cookies: list[dict[str, Any]]) -> tuple[int, str]:
    """The status and page of an upload announcing 21 MB, its body never sent."""
    host, port = console.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("POST", "/tasks/T1/attachments")
        connection.putheader("Cookie", "; ".join(f"{c['name']}={c['value']}" for c in cookies))
        connection.putheader("Content-Type", "multipart/form-data; boundary=x")
        connection.putheader("Content-Length", str(21 << 20))
        connection.endheaders()
        reply = connection.getresponse()
        return reply.status, reply.read().decode()
    finally:
        connection.close()


def test_a_large_upload_streams_through_the_console_in_bounded_memory_and_over_20_mb_is_refused(
    browser: Any, console: Console, tmp_path: Path
) -> None:
    """15 MB through the browser, the console and the gateway to the tasks service (all in this process):
    Python's allocations peak far below the file's size (spooled to disk, passed on in pieces)."""
    stub = tasks_pb2_grpc.TasksServiceStub(console.stack.channel(console.gateway))
    task = stub.CreateTask(
        tasks_pb2.CreateTaskRequest(
            title="附件测试：全年台账扫描",
            task_type="leader_directive",
            lead_unit="fgj",
            due_at=(datetime.now(UTC) + timedelta(days=4)).replace(microsecond=0),
            assign_now=True,
        ),
        metadata=console.stack.metadata("office"),
        timeout=60,
    ).task
    size = 15 << 20
    scan = big_pdf(tmp_path / "全年台账扫描件.pdf", size)
    login(browser, console, "fgj1")
    browser.get(console.url + "/tasks/" + quote(task.id, safe=""))
    tracemalloc.start()
    try:
        upload(browser, scan)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "已上传附件 全年台账扫描件.pdf" in text(browser)
    assert peak < size // 3, f"the upload's allocations peaked at {peak / (1 << 20):.1f} MB"
    row = browser.find_element(By.XPATH, "//tr[@data-attachment][contains(., '全年台账扫描件.pdf')]")
    href = row.find_element(By.TAG_NAME, "a").get_attribute("href").removeprefix(console.url)
    status, headers, _ = fetch(console, href, cookies=browser.get_cookies())
    assert (status, headers["Content-Length"]) == (200, str(size))

    # One byte over 20 MB, read by the console and refused by the service, in Chinese; nothing stored.
    over = big_pdf(tmp_path / "超大扫描件.pdf", (20 << 20) + 1)
    upload(browser, over)
    assert "每个附件不得超过 20 MB" in text(browser) and "超大扫描件.pdf" not in text(browser)
    # Announced larger than the form of one 20 MB file: refused before a byte of it is read.
    status, page = refusal_of_too_large(console, browser.get_cookies())
    assert status == 413 and "上传的内容太大" in page


def test_a_department_attaches_a_pdf_the_office_sees_it_another_unit_cannot(
    browser: Any, console: Console, tmp_path: Path
) -> None:
    driver = browser
    report = tmp_path / "用地保障报告.pdf"
    report.write_bytes(PDF)
    fake = tmp_path / "伪装.pdf"
    fake.write_bytes(b"MZ\x90\x00" + bytes(500))

    login(driver, console, "fgj1")
    driver.get(console.url + "/tasks/T1")
    upload(driver, fake)
    assert "文件类型不被接受" in text(driver)
    upload(driver, report)
    assert "已上传附件 用地保障报告.pdf" in text(driver) and "附件：用地保障报告.pdf" in text(driver)
    link = driver.find_element(By.CSS_SELECTOR, "tr[data-attachment] a")
    href = link.get_attribute("href").removeprefix(console.url)
    status, headers, body = fetch(console, href, cookies=driver.get_cookies())
    assert (status, body, headers["Content-Type"]) == (200, PDF, "application/pdf")
    # Streamed through the console, its length told up front from the record.
    assert headers["Content-Length"] == str(len(PDF)) and "attachment;" in headers["Content-Disposition"]

    # More than 20 MB is refused before the console reads it (a header alone says so).
    assert too_large(console, driver.get_cookies()) == 413

    login(driver, console, "office1")
    driver.get(console.url + "/tasks/T1")
    assert "用地保障报告.pdf" in text(driver)
    assert fetch(console, href, cookies=driver.get_cookies())[2] == PDF

    login(driver, console, "czj1")
    status, _, body = fetch(console, href, cookies=driver.get_cookies())
    assert status == 404 and PDF not in body
    driver.get(console.url + "/tasks/T1")
    assert "用地保障报告.pdf" not in text(driver)


def test_a_village_reports_with_a_pdf_its_township_and_the_office_see_it_another_township_cannot(
    browser: Any,
    county: Console,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    driver = browser
    report = tmp_path / "东关村整治报告.pdf"
    report.write_bytes(PDF)
    login(driver, county, "dg1", PASSWORD)
    driver.get(county.url + "/tasks/P1.1")
    upload(driver, report)
    assert "附件：东关村整治报告.pdf" in text(driver)
    href = driver.find_element(By.CSS_SELECTOR, "tr[data-attachment] a").get_attribute("href")
    href = href.removeprefix(county.url)
    for user, seen in (("cgz1", True), ("office1", True), ("mxz1", False)):
        login(driver, county, user, PASSWORD)
        status, _, body = fetch(county, href, cookies=driver.get_cookies())
        assert (status == 200 and body == PDF) is seen, user
        driver.get(county.url + "/tasks/P1.1")
        assert ("东关村整治报告.pdf" in text(driver)) is seen, user


def test_a_township_dispatches_a_part_its_village_reports_it_with_a_pdf_and_only_they_and_the_office_see_it(
    browser: Any,
    county: Console,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """Issue 18's whole flow in one browser: 乡镇 → 村 dispatch, the 村's report with its PDF, who sees it."""
    driver = browser
    report = tmp_path / "东关村走访记录.pdf"
    report.write_bytes(PDF)
    login(driver, county, "cgz1", PASSWORD)
    driver.get(county.url + "/tasks/P1")
    submit(driver, driver.find_element(By.PARTIAL_LINK_TEXT, "分解"))
    driver.find_element(By.ID, "title").send_keys("逐户核对台账")
    submit(driver, driver.find_element(By.XPATH, "//button[contains(., '立项')]"))
    part = driver.current_url.rsplit("/tasks/", 1)[1].split("?")[0]

    login(driver, county, "dg1", PASSWORD)
    driver.get(county.url + f"/tasks/{part}")
    submit(driver, driver.find_element(By.CSS_SELECTOR, 'button[data-step="accept"]'))
    upload(driver, report)
    assert "附件：东关村走访记录.pdf" in text(driver)
    driver.find_element(By.ID, "note-report").send_keys("已逐户核对，见附件")
    submit(driver, driver.find_element(By.CSS_SELECTOR, 'button[data-step="report"]'))
    assert "已办结反馈" in text(driver)
    href = driver.find_element(By.CSS_SELECTOR, "tr[data-attachment] a").get_attribute("href")
    href = href.removeprefix(county.url)

    for user, seen in (("cgz1", True), ("office1", True), ("mxz1", False)):
        login(driver, county, user, PASSWORD)
        status, _, body = fetch(county, href, cookies=driver.get_cookies())
        assert (status == 200 and body == PDF) is seen, user
        driver.get(county.url + f"/tasks/{part}")
        page = text(driver)
        assert ("东关村走访记录.pdf" in page and "已反馈" in page) is seen, user


def test_a_tolerance_application_carries_a_pdf_the_office_sees_it_another_unit_cannot(
    browser: Any, console: Console, tmp_path: Path
) -> None:
    """附件 on a 容错 application (scoring keeps them): the filing unit adds, the office reads, no other."""
    driver = browser
    report = tmp_path / "情况说明.pdf"
    report.write_bytes(PDF)
    login(driver, console, "fgj1")
    driver.get(console.url + "/unit/appeals")
    Select(driver.find_element(By.ID, "application-target")).select_by_value("task:T2")
    driver.find_element(By.ID, "application-target-reason").send_keys("上级政策调整，已及时报告")
    submit(driver, driver.find_element(By.XPATH, "//button[.='提交容错申请']"))
    row = driver.find_element(By.XPATH, "//tr[@data-application][contains(., '上级政策调整')]")
    app_id = row.get_attribute("data-application")
    driver.find_element(By.ID, f"file-application-{app_id}").send_keys(str(report))
    submit(driver, row.find_element(By.CSS_SELECTOR, "button[data-action=attach]"))
    assert f"已上传附件 情况说明.pdf（{app_id}）" in text(driver)
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-application="{app_id}"]')
    href = (
        row.find_element(By.CSS_SELECTOR, "a[data-attachment]")
        .get_attribute("href")
        .removeprefix(console.url)
    )
    assert href.startswith("/record-attachments/")

    login(driver, console, "office1")
    driver.get(console.url + "/office/tolerance")
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-application="{app_id}"]')
    assert "情况说明.pdf" in row.text
    status, headers, body = fetch(console, href, cookies=driver.get_cookies())
    assert (status, body, headers["Content-Type"]) == (200, PDF, "application/pdf")

    login(driver, console, "czj1")
    assert fetch(console, href, cookies=driver.get_cookies())[0] == 404
    driver.get(console.url + "/unit/appeals")
    assert driver.find_elements(By.CSS_SELECTOR, f'tr[data-application="{app_id}"]') == []


def test_an_extension_request_carries_a_file_on_the_units_page_and_the_offices(
    browser: Any, console: Console, tmp_path: Path
) -> None:
    """附件 on an extension request (tasks keeps them): added on /unit/extensions, read by the office."""
    stub = tasks_pb2_grpc.TasksServiceStub(console.stack.channel(console.gateway))
    due = (datetime.now(UTC) + timedelta(days=4)).replace(microsecond=0)
    task = stub.CreateTask(
        tasks_pb2.CreateTaskRequest(
            title="附件测试：冬季供暖检查",
            task_type="leader_directive",
            lead_unit="fgj",
            due_at=due,
            assign_now=True,
        ),
        metadata=console.stack.metadata("office"),
        timeout=60,
    ).task
    asked = (due + timedelta(days=10)).date().isoformat()
    made = stub.FileExtension(
        tasks_pb2.FileExtensionRequest(task_id=task.id, due_at=asked, reason="设备到货延迟，已完成八成"),
        metadata=console.stack.metadata("department", "fgj"),
        timeout=60,
    ).extension
    report = tmp_path / "到货证明.pdf"
    report.write_bytes(PDF)
    login(browser, console, "fgj1")
    browser.get(console.url + "/unit/extensions")
    browser.find_element(By.ID, f"file-extension-{made.id}").send_keys(str(report))
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-extension="{made.id}"]')
    submit(browser, row.find_element(By.CSS_SELECTOR, "button[data-action=attach]"))
    assert f"已上传附件 到货证明.pdf（{made.id}）" in text(browser)

    login(browser, console, "office1")
    browser.get(console.url + "/office/extensions")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-extension="{made.id}"]')
    link = row.find_element(By.CSS_SELECTOR, "a[data-attachment]")
    assert link.text == "到货证明.pdf"
    status, _, body = fetch(
        console, link.get_attribute("href").removeprefix(console.url), cookies=browser.get_cookies()
    )
    assert (status, body) == (200, PDF)
