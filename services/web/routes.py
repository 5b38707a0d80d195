"""The console's route table: every desk page, with the roles it admits and its back page.

A desk route is (method, path, view, roles, back): `back` is where a refused POST returns to with the
gateway's words (it may name the path's own parts, e.g. /tasks/{task}); "" shows the refusal as an error
page. Order matters: the router takes the first path that matches, so a fixed segment comes before a
{name} that would also match it.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from services.web import (
    accounts,
    appeals,
    bulletin,
    department,
    ledger_import,
    office,
    password,
    people,
    records,
    result_documents,
    supervision,
)
from services.web.attachments import DESK as ATTACHMENT_DESK
from services.web.extensions import DESK as EXTENSION_DESK
from services.web.gateway import Gateway
from services.web.item_attachments import DESK as ITEM_ATTACHMENT_DESK
from services.web.sessions import Session

READERS = frozenset({"office", "supervisor", "viewer"})
EVERYONE = READERS | {"department"}
DEPARTMENT = frozenset({"department"})
View = Callable[[Gateway, Session, Request], Response]
DeskRoute = tuple[str, str, View, frozenset[str], str]


def desk_routes(*, change_password: View, disable_account: View) -> list[DeskRoute]:
    """Every desk page in the order the router tries them; the two account views end sessions too."""
    return [
        *ATTACHMENT_DESK,  # first: /tasks/{task}/attachments is no step
        *ITEM_ATTACHMENT_DESK,
        *EXTENSION_DESK,  # first too: /tasks/{task}/extension before /tasks/{task}/{step}
        *_unit_desk(),
        *_office_desk(disable_account),
        *_task_desk(),
        ("GET", password.PATH, password.form, EVERYONE, ""),
        ("POST", password.PATH, change_password, EVERYONE, ""),
        *_people_and_documents(),
    ]


def _unit_desk() -> list[DeskRoute]:
    """A 单位's own pages: its scores, its appeals and its tolerance applications."""
    return [
        ("GET", "/unit", department.home, DEPARTMENT, ""),
        ("POST", "/unit/appeal", department.appeal, DEPARTMENT, "/unit"),
        ("GET", "/unit/export", department.export, DEPARTMENT, "/unit"),
        ("GET", "/unit/appeals", appeals.unit_page, DEPARTMENT, ""),
        ("POST", "/unit/appeals", appeals.file_appeal, DEPARTMENT, "/unit/appeals"),
        ("POST", "/unit/applications", appeals.file_application, DEPARTMENT, "/unit/appeals"),
    ]


def _office_desk(disable_account: View) -> list[DeskRoute]:
    """The office's pages: runs, appeals, tolerance, ranking, the ledger import and the accounts."""
    return [
        ("GET", "/office", office.overview, READERS, ""),
        ("GET", "/office/runs", office.runs, READERS, ""),
        ("POST", "/office/runs", office.create_run, READERS, "/office/runs"),
        ("GET", "/office/runs/{run}", office.run_detail, READERS, ""),
        ("GET", "/office/runs/{run}/units/{unit}", office.run_unit, READERS, ""),
        ("POST", "/office/runs/{run}/{action}", office.move_run, READERS, "/office/runs"),
        ("GET", "/office/appeals", appeals.office_appeals, READERS, ""),
        ("POST", "/office/appeals/{appeal}/decide", office.decide, READERS, "/office/appeals"),
        ("GET", "/office/tolerance", appeals.office_applications, READERS, ""),
        (
            "POST",
            "/office/tolerance/{application}/decide",
            appeals.decide_application,
            READERS,
            "/office/tolerance",
        ),
        ("GET", "/office/ranking", office.ranking, READERS, ""),
        ("GET", "/office/import", ledger_import.form, READERS, ""),
        ("POST", "/office/import", ledger_import.upload, READERS, ""),
        ("GET", "/office/export", office.export, READERS, "/office/runs"),
        ("GET", "/office/accounts", accounts.accounts, READERS, ""),
        ("POST", "/office/accounts", accounts.add_account, READERS, "/office/accounts"),
        ("POST", "/office/accounts/{username}/disable", disable_account, READERS, "/office/accounts"),
    ]


def _task_desk() -> list[DeskRoute]:
    """督办 tasks, the bulletin and the office's scoring records."""
    return [
        ("GET", "/tasks", supervision.task_list, EVERYONE, ""),
        ("GET", "/tasks/new", supervision.new_task_form, supervision.DISPATCHERS, ""),
        ("POST", "/tasks", supervision.create_task, supervision.DISPATCHERS, "/tasks/new"),
        ("GET", "/tasks/{task}", supervision.task_detail, EVERYONE, ""),
        ("POST", "/tasks/{task}/{step}", supervision.take_step, EVERYONE, "/tasks/{task}"),
        ("GET", "/office/bulletin", bulletin.bulletin_form, READERS, ""),
        ("GET", "/office/bulletin/download", bulletin.bulletin_download, READERS, "/office/bulletin"),
        ("GET", "/office/records", records.records_page, READERS, ""),
        ("GET", "/office/records/{kind}", records.records_page, READERS, ""),
        ("POST", "/office/records/{kind}", records.add_record, records.OFFICE, "/office/records/{kind}"),
        (
            "POST",
            "/office/records/{kind}/{record}/void",
            records.void_record,
            records.OFFICE,
            "/office/records/{kind}",
        ),
    ]


def _people_and_documents() -> list[DeskRoute]:
    """The persons' pages and a run's documents (notice, 优秀 list, each unit's letter)."""
    return [
        ("GET", "/persons", people.persons_page, EVERYONE, ""),
        ("GET", "/persons/{person}", people.person_page, EVERYONE, ""),
        ("GET", "/office/runs/{run}/notice", result_documents.notice, READERS, "/office/runs/{run}"),
        ("GET", "/office/runs/{run}/excellent", result_documents.excellent, READERS, "/office/runs/{run}"),
        ("GET", "/office/runs/{run}/letters/{unit}", result_documents.letter, READERS, "/office/runs/{run}"),
        ("GET", "/unit/letter", result_documents.own_letter, DEPARTMENT, "/unit"),
    ]
