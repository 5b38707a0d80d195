"""The JSON API on the real stack: its OpenAPI document generated from the routes' types, every answer of the
type the document names, and who may call it (a Bearer token, or a session that is not a one-time one)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi.routing import APIRoute
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2
from pydantic import BaseModel

from services.web import api
from services.web import api_models as models
from services.web.sessions import COOKIE
from tests.tasks_text import typed
from tests.web.conftest import Console
from tests.web.test_console import fetch
from tests.web.test_extensions import ZONE, api_post, tasks_stub


def spec_of(console: Console) -> dict[str, Any]:
    status, headers, body = fetch(console, "/api/openapi.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    found: dict[str, Any] = json.loads(body)
    return found


def test_the_openapi_document_lists_every_route_with_its_answers_schema(console: Console) -> None:
    spec = spec_of(console)
    routes = [r for r in api.router.routes if isinstance(r, APIRoute)]
    assert {(r.path, m.lower()) for r in routes for m in r.methods} == {
        (path, method) for path, item in spec["paths"].items() for method in item
    }
    assert {r.path for r in routes} >= {
        "/api/overview",
        "/api/dashboard",
        "/api/runs",
        "/api/runs/{run}",
        "/api/tasks",
        "/api/units",
        "/api/overdue-trend",
        "/api/extensions",
        "/api/extensions/{extension}/decide",
    }
    schemas = spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            ok = operation["responses"]["201" if (path, method) == ("/api/extensions", "post") else "200"]
            ref = ok["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in schemas, (path, method)
            assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ApiError"
            }
    overview = spec["paths"]["/api/overview"]["get"]
    assert overview["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Overview"
    }
    assert [(p["name"], p["in"], p["schema"]["type"]) for p in overview["parameters"]] == [
        ("year", "query", "integer")
    ]
    shape = schemas["Overview"]
    assert {"year", "as_of", "scheme", "units"} <= set(shape["properties"])
    assert shape["properties"]["units"]["items"] == {"$ref": "#/components/schemas/UnitStanding"}
    assert schemas["UnitStanding"]["properties"]["overdue"]["type"] == "integer"
    assert schemas["OverdueTrend"]["properties"]["period"]["enum"] == ["month", "week"]
    decide = spec["paths"]["/api/extensions/{extension}/decide"]["post"]
    body = decide["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["decision"]["enum"] == ["approved", "refused"]
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "session"}


def answer(console: Console, path: str, model: type[BaseModel], token: str) -> Any:
    """The API's answer at path, checked against the type the OpenAPI document gives for it (strictly)."""
    status, _, body = fetch(console, path, token=token)
    assert status == 200, (path, body)
    data = json.loads(body)
    model.model_validate(data, strict=True)
    return data


def test_every_answer_is_of_its_documented_type(console: Console) -> None:
    office, unit = console.stack.token("office"), console.stack.token("department", "czj")
    due = (datetime.now(ZONE) + timedelta(days=6)).replace(microsecond=0)
    task = (
        tasks_stub(console)
        .CreateTask(
            typed(
                tasks_pb2.CreateTaskRequest,
                title="接口类型核对",
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
    overview = answer(console, "/api/overview?year=2025", models.Overview, office)
    assert overview["year"] == 2025 and len(overview["units"]) > 1
    dashboard = answer(console, "/api/dashboard?year=2025", models.Dashboard, unit)
    assert dashboard["standing"]["unit"] == "czj"
    assert answer(console, "/api/tasks?year=2025", models.Tasks, office)["tasks"]
    assert answer(console, "/api/units", models.Units, office)["units"]
    trend = answer(console, "/api/overdue-trend?year=2025&period=week", models.OverdueTrend, office)
    assert trend["period"] == "week" and trend["units"]
    asked = (due + timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    status, filed = api_post(
        console, "/api/extensions", {"task_id": task.id, "due_at": asked, "reason": "核对"}, unit
    )
    assert status == 201
    models.Extension.model_validate(filed, strict=True)
    listed = answer(console, f"/api/extensions?task_id={quote(task.id)}", models.Extensions, unit)
    assert [e["id"] for e in listed["extensions"]] == [filed["id"]]
    scoring = scoring_pb2_grpc.ScoringServiceStub(console.stack.channel(console.gateway))
    made = scoring.CreateRun(
        scoring_pb2.CreateRunRequest(year=2025), metadata=console.stack.metadata("office"), timeout=120
    ).run
    runs = answer(console, "/api/runs?year=2025", models.Runs, office)["runs"]
    assert made.id in [r["id"] for r in runs]
    result = answer(console, f"/api/runs/{quote(made.id, safe='')}", models.Result, office)
    assert result["run"] == made.id and result["units"]


def test_callers_and_malformed_queries_are_refused_in_chinese(console: Console) -> None:
    office = console.stack.token("office")
    status, _, body = fetch(console, f"/api/overview?year={quote('二〇二五')}", token=office)
    assert status == 400 and json.loads(body) == {"error": "year 须为不小于 0 的整数"}
    status, _, body = fetch(console, "/api/tasks?color=purple", token=office)
    refused = json.loads(body)
    assert status == 422 and refused["code"] == "INVALID_ARGUMENT" and "color" in refused["error"]
    status, _, body = fetch(console, "/api/units")
    assert status == 401 and json.loads(body)["code"] == "UNAUTHENTICATED"
    # A session signed in with a one-time password reaches nothing until the password is changed.
    session = console.web.console.sessions.start(
        token=office,
        role="office",
        unit="",
        username="office-temporary",
        name="临时",
        token_expiry=0,
        must_change=True,
    )
    cookie = [{"name": COOKIE, "value": session.id}]
    status, _, body = fetch(console, "/api/units", cookies=cookie)
    assert status == 403 and json.loads(body) == {"error": "请先修改一次性密码", "code": "PERMISSION_DENIED"}
    console.web.console.sessions.end(session.id)


def test_head_answers_as_get_without_the_body(console: Console) -> None:
    office = console.stack.token("office")
    for path in ("/api/overview", "/api/units", "/api/openapi.json", "/login"):
        got_status, got_headers, got_body = fetch(console, path, token=office)
        request = urllib.request.Request(console.url + path, method="HEAD")
        request.add_header("Authorization", f"Bearer {office}")
        with urllib.request.urlopen(request, timeout=60) as reply:
            assert (reply.status, reply.read()) == (got_status, b""), path
            assert reply.headers["Content-Type"] == got_headers["Content-Type"], path
            assert reply.headers["Content-Length"] == str(len(got_body)), path
    # Not signed in: the same refusal as GET, headers only.
    request = urllib.request.Request(console.url + "/api/overview", method="HEAD")
    try:
        urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as refused:
        assert refused.code == 401 and refused.read() == b""
    else:
        raise AssertionError("HEAD without a token was answered")
