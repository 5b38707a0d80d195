"""延期申请 in the JSON API: list, file, decide — the gateway authorises each call as it does the CLI's."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Path, Query
from kaohe.tasks.v1 import tasks_pb2
from starlette.responses import Response

from services.common.paging import every
from services.common.wire_text import text_data
from services.web import api_models as models
from services.web.api_caller import ERRORS, Body, Caller, Gw, Writer, router
from services.web.edge import typed_code
from services.web.layout import LOCAL
from services.web.replies import as_json

WRITE_ERRORS: dict[int | str, dict[str, Any]] = {409: ERRORS[404] | {"description": "状态不允许"}}


def _extension(message: tasks_pb2.Extension) -> dict[str, Any]:
    return text_data(message, LOCAL)


@router.get(
    "/extensions", response_model=models.Extensions, summary="延期申请列表（单位只见本单位的），每项带经过"
)
def list_extensions(
    gw: Gw,
    session: Caller,
    unit: Annotated[str, Query(description="单位代码（空：全部，或单位自己的）")] = "",
    state: Annotated[str, Query(description="状态代码或名称（如 pending、待审批）")] = "",
    task_id: Annotated[str, Query(description="事项编号")] = "",
    year: Annotated[int, Query(ge=0, description="年度（0：全部）")] = 0,
) -> Response:
    request_ = tasks_pb2.ListExtensionsRequest(
        unit=unit,
        state=typed_code(tasks_pb2.ExtensionState.DESCRIPTOR, state, "state"),
        task_id=task_id,
        year=year,
        page_size=1000,
    )
    found = every(
        lambda r: gw.call(gw.tasks.ListExtensions, r, session.token), request_, lambda r: r.extensions
    )
    return as_json({"extensions": [_extension(e) for e in found]})


@router.post(
    "/extensions",
    status_code=201,
    response_model=models.Extension,
    responses=WRITE_ERRORS,
    summary="牵头单位申请延期：task_id、due_at（如 2026-12-20 18:00）、reason；会话调用须带 X-CSRF-Token",
    openapi_extra=models.body_of(models.FileExtension),
)
def file_extension(gw: Gw, session: Writer, data: Body) -> Response:
    made = gw.call(
        gw.tasks.FileExtension,
        tasks_pb2.FileExtensionRequest(
            request_id=data.get("request_id", "") or secrets.token_hex(16),
            task_id=data.get("task_id", ""),
            due_at=data.get("due_at", ""),
            reason=data.get("reason", ""),
            id=data.get("id", ""),
        ),
        session.token,
    ).extension
    return as_json(_extension(made), 201)


@router.post(
    "/extensions/{extension}/decide",
    response_model=models.Extension,
    responses=WRITE_ERRORS,
    summary="考核办审批：decision（approved｜refused）、due_at（批准延至，默认按申请）、reason（不予批准必填）",
    openapi_extra=models.body_of(models.DecideExtension),
)
def decide_extension(
    gw: Gw, session: Writer, data: Body, extension: Annotated[str, Path(description="申请编号")]
) -> Response:
    made = gw.call(
        gw.tasks.DecideExtension,
        tasks_pb2.DecideExtensionRequest(
            request_id=data.get("request_id", "") or secrets.token_hex(16),
            id=extension,
            decision=data.get("decision", ""),
            due_at=data.get("due_at", ""),
            reason=data.get("reason", ""),
        ),
        session.token,
    ).extension
    return as_json(_extension(made))
