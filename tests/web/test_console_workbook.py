"""The console's import takes the Excel 台账 too: imported like JSON lines, refusals named by cell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from services.ledger_book.columns import choices_of
from services.ledger_book.write import ledger_workbook
from tests.conftest import example_path
from tests.web.conftest import Console
from tests.web.test_console import login, shot


def _upload(browser: Any, path: Path, phase: str) -> None:
    browser.find_element(By.ID, "ledger").send_keys(str(path))
    browser.find_element(By.XPATH, "//form[@action='/office/import']//button").click()
    WebDriverWait(browser, 60).until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, f'#import-progress[data-phase="{phase}"]')
        )
    )


def test_a_workbook_is_imported_and_a_bad_cell_named(browser: Any, console: Console, tmp_path: Path) -> None:
    scheme = console.stack.scheme
    lines = example_path("ledger.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    book = tmp_path / "台账.xlsx"
    book.write_bytes(ledger_workbook(records, choices=choices_of(scheme), tz=scheme.tz, title="台账"))
    login(browser, console, "office1")
    browser.get(console.url + "/office/import")
    assert ".xlsx" in browser.find_element(By.ID, "ledger").get_attribute("accept")
    _upload(browser, book, "done")
    # The fixture imported the same ledger as JSON lines: the workbook's 73 records are all known.
    assert f"已导入：共 {len(records)} 行" in browser.find_element(By.ID, "import-result").text

    sheets = load_workbook(book)
    sheets["差错通报"]["E3"] = "很严重"
    sheets.save(book)
    browser.get(console.url + "/office/import")
    _upload(browser, book, "refused")
    items = [i.text for i in browser.find_elements(By.CSS_SELECTOR, "#import-result ul.violations li")]
    shot(browser, "office-import-workbook-refused")
    assert items == [items[0]] and items[0].startswith("工作表「差错通报」第 3 行「严重程度」"), items
