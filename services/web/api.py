"""The JSON HTTP API under /api/ for the office's other tools: read-only, authorised by the gateway."""

from __future__ import annotations

from typing import Any

from kaohe.common.v1 import common_pb2
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.common.paging import every
from services.common.protojson import plain
from services.common.result_wire import result_to_json_dict
from services.common.wire_json import county_plain
from services.common.wire_text import as_text, text_data
from services.web.edge import typed_code, typed_instant
from services.web.extensions_api import PATHS as EXTENSION_PATHS
from services.web.gateway import Gateway
from services.web.layout import LOCAL, run_state, run_time
from services.web.replies import Refused, as_json
from services.web.sessions import Session


def _int(request: Request, name: str) -> int:
    text = request.query_params.get(name, "")
    if text and not text.isdigit():
        raise Refused(400, f"{name} must be a whole number")
    return int(text or 0)


def _all(message: Any) -> dict[str, Any]:
    return plain(message, always_print_fields_with_no_presence=True)


def _run(run: Any) -> dict[str, Any]:
    """A listed run with its state's code and its instants in the county's time ("" when none)."""
    data = _all(run)
    data["state"] = run_state(run)
    for field in ("as_of", "created_at", "published_at", "finalized_at", "appeal_deadline"):
        data[field] = run_time(run, field)
    return data


def overview(gw: Gateway, session: Session, request: Request) -> Response:
    reply = gw.call(
        gw.gateway.GetOverview, gateway_pb2.GetOverviewRequest(year=_int(request, "year")), session.token
    )
    return as_json(county_plain(reply, reply.time_zone))


def dashboard(gw: Gateway, session: Session, request: Request) -> Response:
    unit = request.query_params.get("unit", "") or session.unit
    reply = gw.call(
        gw.gateway.GetDashboard,
        gateway_pb2.GetDashboardRequest(unit=unit, year=_int(request, "year")),
        session.token,
    )
    return as_json(county_plain(reply, reply.time_zone))


def runs(gw: Gateway, session: Session, request: Request) -> Response:
    request_ = scoring_pb2.ListRunsRequest(year=_int(request, "year"), page_size=500)
    found = every(lambda r: gw.call(gw.scoring.ListRuns, r, session.token), request_, lambda r: r.runs)
    return as_json({"runs": [_run(item) for item in found]})


def run(gw: Gateway, session: Session, request: Request) -> Response:
    """The result document exactly as `kaohe assess show --json` prints it."""
    reply = gw.call(
        gw.scoring.GetRun,
        scoring_pb2.GetRunRequest(id=request.path_params["run"], unit=request.query_params.get("unit", "")),
        session.token,
    ).run
    return as_json(result_to_json_dict(reply.result) if reply.HasField("result") else {})


def tasks(gw: Gateway, session: Session, request: Request) -> Response:
    request_ = tasks_pb2.ListTasksRequest(
        unit=request.query_params.get("unit", ""),
        state=typed_code(common_pb2.TaskState.DESCRIPTOR, request.query_params.get("state", ""), "state"),
        color=typed_code(common_pb2.TaskColor.DESCRIPTOR, request.query_params.get("color", ""), "color"),
        year=_int(request, "year"),
        page_size=5000,
    )
    found = every(lambda r: gw.call(gw.tasks.ListTasks, r, session.token), request_, lambda r: r.tasks)
    return as_json({"tasks": [text_data(t, LOCAL) for t in found]})


def units(gw: Gateway, session: Session, request: Request) -> Response:
    request_ = tasks_pb2.ListUnitsRequest(page_size=5000)
    found = every(lambda r: gw.call(gw.tasks.ListUnits, r, session.token), request_, lambda r: r.units)
    return as_json({"units": [_all(item) for item in found]})


def overdue_trend(gw: Gateway, session: Session, request: Request) -> Response:
    """Per unit, the overdue open tasks at each month-end (period=week: each week-end) of the year so far."""
    reply = gw.call(
        gw.tasks.GetOverdueTrend,
        tasks_pb2.GetOverdueTrendRequest(
            year=_int(request, "year"),
            period=typed_code(
                tasks_pb2.TrendPeriod.DESCRIPTOR, request.query_params.get("period", ""), "period"
            ),
            unit=request.query_params.get("unit", ""),
            as_of=typed_instant(request.query_params.get("as_of", ""), "as_of"),
        ),
        session.token,
    )
    trend = as_text(reply, LOCAL)
    return as_json(
        {
            "year": trend.year,
            "period": trend.period,
            "as_of": trend.as_of,
            "points": list(trend.points),
            "units": [
                {"unit": s.unit, "name": s.name, "overdue": [int(v) for v in s.overdue]} for s in reply.units
            ],
        }
    )


def _get(summary: str, params: list[tuple[str, str, str]], ref: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": [
                {"name": n, "in": where, "required": where == "path", "schema": {"type": kind}}
                for n, where, kind in params
            ],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref}}}},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"},
            },
        }
    }


OBJECT = {"type": "object", "additionalProperties": True}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "考核 Kaohe API",
        "version": "1",
        "description": "Read-only views of the gateway, authorised as the gateway authorises the same calls.",
    },
    "security": [{"bearer": []}, {"session": []}],
    "paths": {
        "/api/overview": _get(
            "每个单位的实时态势", [("year", "query", "integer")], "#/components/schemas/Overview"
        ),
        "/api/dashboard": _get(
            "一个单位的实时态势与在办事项",
            [("unit", "query", "string"), ("year", "query", "integer")],
            "#/components/schemas/Dashboard",
        ),
        "/api/runs": _get("考核运行列表", [("year", "query", "integer")], "#/components/schemas/Runs"),
        "/api/runs/{run}": _get(
            "一次考核的结果文档（与 kaohe assess show --json 相同）",
            [("run", "path", "string"), ("unit", "query", "string")],
            "#/components/schemas/Result",
        ),
        "/api/tasks": _get(
            "事项列表",
            [
                ("unit", "query", "string"),
                ("state", "query", "string"),
                ("color", "query", "string"),
                ("year", "query", "integer"),
            ],
            "#/components/schemas/Tasks",
        ),
        "/api/units": _get("单位列表", [], "#/components/schemas/Units"),
        "/api/overdue-trend": _get(
            "各单位每月末（或每周末）的逾期在办事项数",
            [
                ("year", "query", "integer"),
                ("period", "query", "string"),
                ("unit", "query", "string"),
                ("as_of", "query", "string"),
            ],
            "#/components/schemas/OverdueTrend",
        ),
        **EXTENSION_PATHS,
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "kaohe login 给出的令牌"},
            "session": {"type": "apiKey", "in": "cookie", "name": "kaohe_session"},
        },
        "responses": {
            "Error": {
                "description": "Refused",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
                        }
                    }
                },
            }
        },
        "schemas": {
            "Overview": {
                "type": "object",
                "properties": {
                    "year": {"type": "integer"},
                    "as_of": {"type": "string"},
                    "scheme": {"type": "string"},
                    "units": {"type": "array", "items": OBJECT},
                },
            },
            "Dashboard": {
                "type": "object",
                "properties": {"standing": OBJECT, "open_items": {"type": "array", "items": OBJECT}},
            },
            "Runs": {"type": "object", "properties": {"runs": {"type": "array", "items": OBJECT}}},
            "Result": {
                "type": "object",
                "properties": {
                    "run": {"type": "string"},
                    "state": {"type": "string"},
                    "year": {"type": "integer"},
                    "units": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "unit": {"type": "string"},
                                "name": {"type": "string"},
                                "total": {"type": "number"},
                                "rank": {"type": "integer"},
                                "grade": {"type": "string"},
                            },
                        },
                    },
                },
            },
            "Tasks": {"type": "object", "properties": {"tasks": {"type": "array", "items": OBJECT}}},
            "Units": {"type": "object", "properties": {"units": {"type": "array", "items": OBJECT}}},
            "OverdueTrend": {
                "type": "object",
                "properties": {
                    "year": {"type": "integer"},
                    "period": {"type": "string", "enum": ["month", "week"]},
                    "as_of": {"type": "string"},
                    "points": {"type": "array", "items": {"type": "string"}},
                    "units": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "unit": {"type": "string"},
                                "name": {"type": "string"},
                                "overdue": {"type": "array", "items": {"type": "integer"}},
                            },
                        },
                    },
                },
            },
        },
    },
}
