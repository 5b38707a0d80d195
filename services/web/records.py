"""The assessment records in the browser (考核记录): 差错通报, 指标值, 激励, 问责 and 目标责任, one form each.

The office enters what it would otherwise type into a ledger file: the fields are FORMATS.md's, the
choices come from the scheme and the shared vocabulary, and the scoring service validates the record
exactly as it validates an imported line (its refusal names the field). A record is corrected by voiding
it with a reason, which keeps it visible, struck through, in the list.
"""

from __future__ import annotations

import secrets
import tomllib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from google.protobuf import json_format, struct_pb2
from kaohe.scoring.v1 import scoring_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.common.vocabulary import (
    ACCOUNTABILITY_KINDS,
    ERROR_CATEGORIES,
    INCENTIVE_LEVELS,
    RECORD_KIND_LABELS,
    SEVERITIES,
    label_of,
)
from services.common.wire_json import lenient_number
from services.web.confirm import confirm_first
from services.web.gateway import Gateway
from services.web.replies import Refused, form_of, part, redirect
from services.web.sessions import Session
from services.web.supervision import unit_names
from services.web.templating import render

ZONE = ZoneInfo("Asia/Shanghai")
OFFICE = frozenset({"office"})
# Rows a page: a county's year of 指标值 runs to thousands, and one page of them all took seconds to draw.
PAGE_SIZE = 50


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    control: str = "text"  # text date number textarea, or a choice list: units metrics categories …
    required: bool = True


FORMS: dict[str, tuple[Field, ...]] = {
    "error_report": (
        Field("id", "编号"),
        Field("unit", "单位", "units"),
        Field("date", "日期", "date"),
        Field("category", "差错类别", "error_categories"),
        Field("severity", "严重程度", "severities"),
        Field("description", "差错情形", "textarea"),
    ),
    "metric_reading": (
        Field("unit", "单位", "units"),
        Field("metric", "指标", "metrics"),
        Field("period", "期间（2026、2026-03 或 2026-03-31）"),
        Field("value", "数值（数值型指标）", "number", required=False),
        Field("numerator", "分子（比率型指标）", "number", required=False),
        Field("denominator", "分母（比率型指标）", "number", required=False),
    ),
    "incentive": (
        Field("id", "编号"),
        Field("unit", "单位", "units"),
        Field("date", "日期", "date"),
        Field("level", "表彰级别", "incentive_levels"),
        Field("reason", "事由", "textarea"),
    ),
    "accountability": (
        Field("id", "编号"),
        Field("unit", "单位", "units"),
        Field("date", "日期", "date"),
        Field("kind", "问责方式", "accountability_kinds"),
        Field("reason", "事由", "textarea"),
        Field("person", "当事人（人员代码或姓名，可不填）", required=False),
        Field("decided_by", "决定机关（按照管理权限，可不填）", required=False),
    ),
    "target": (
        Field("unit", "单位", "units"),
        Field("metric", "指标", "metrics"),
        Field("year", "年度", "number"),
        Field("target", "本单位目标", "number"),
        Field("floor", "保底值（线性计分的指标）", "number", required=False),
    ),
}
NUMBERS = frozenset({"value", "numerator", "denominator", "target", "floor"})
PREFIX = {"error_report": "CW", "incentive": "JL", "accountability": "WZ"}


def _choices(gw: Gateway, session: Session) -> dict[str, dict[str, str]]:
    scheme = tomllib.loads(
        gw.call(gw.scoring.GetScheme, scoring_pb2.GetSchemeRequest(), session.token).scheme.toml
    )
    kinds = scheme.get("accountability", {}).get("kinds", {})
    return {
        "units": unit_names(gw, session),
        "metrics": {m["id"]: m.get("name", m["id"]) for m in scheme.get("metrics", [])},
        "error_categories": dict(ERROR_CATEGORIES),
        "severities": dict(SEVERITIES),
        "incentive_levels": dict(INCENTIVE_LEVELS),
        "accountability_kinds": {k: label_of(ACCOUNTABILITY_KINDS, k) for k in kinds},
        "accountability_deductions": {
            label_of(ACCOUNTABILITY_KINDS, k): f"扣{v.get('deduction', 0):g}分"
            + ("，一票否决" if v.get("veto") else "")
            for k, v in kinds.items()
        },
    }


def _deductions(choices: dict[str, dict[str, str]]) -> str:
    """The unit deduction of each kind of 问责, named as what it is: the scheme's choice (宁强 20)."""
    return "；".join(f"{kind}{points}" for kind, points in choices["accountability_deductions"].items())


def _control(field: Field, choices: dict[str, dict[str, str]], kind: str) -> dict[str, Any]:
    """One of the form's controls, as records/records.html draws it: a choice list, a textarea or an input."""
    return {
        "ident": f"{kind}-{field.name}",
        "name": field.name,
        "label": field.label,
        "control": field.control,
        "options": choices.get(field.control),
        "required": field.required,
        "value": _default(field, kind),
    }


def _default(field: Field, kind: str) -> str:
    today = datetime.now(ZONE).date()
    if field.name == "id":
        return f"{PREFIX.get(kind, 'JL')}{today:%Y%m%d}-{secrets.token_hex(2)}"
    if field.name == "date":
        return today.isoformat()
    if field.name == "year":
        return str(today.year)
    return ""


def records_page(gw: Gateway, session: Session, request: Request) -> Response:
    """One kind of record: its list (with 作废), PAGE_SIZE a page, and the office's form that adds one."""
    kind = request.path_params.get("kind", "error_report")
    if kind not in FORMS:
        raise Refused(404, f"没有“{kind}”这类考核记录")
    choices = _choices(gw, session)
    search, wrong = _search(request, choices["units"])
    if wrong:
        return redirect(f"/office/records/{kind}", error=wrong)
    current = request.query_params.get("page", "")
    reply = gw.call(
        gw.scoring.ListRecords,
        scoring_pb2.ListRecordsRequest(
            kind=_kind(kind),
            unit=search.get("unit", ""),
            year=int(search.get("year", "0")),
            include_voided=True,
            page_size=PAGE_SIZE,
            page_token=current,
        ),
        session.token,
    )
    office = session.role == "office"
    shown = [f for f in FORMS[kind] if f.name not in ("id", "unit")]
    return render(
        request,
        "records/records.html",
        title="考核记录",
        tabs=[
            {"href": _list_url(k, {}), "label": RECORD_KIND_LABELS[k], "current": k == kind} for k in FORMS
        ],
        here=_list_url(kind, {}),
        caption=RECORD_KIND_LABELS[kind],
        headers=["编号", "单位", *[f.label for f in shown], ""],
        rows=[_row(kind, record, shown, choices, office=office) for record in reply.records],
        deductions=_deductions(choices) if kind == "accountability" else None,
        search=search,
        units=choices["units"],
        pages=_pages(kind, search, current, reply.next_page_token),
        form={
            "request_id": secrets.token_hex(16),
            "controls": [_control(f, choices, kind) for f in FORMS[kind]],
        }
        if office
        else None,
    )


def _row(
    kind: str, record: Any, shown: list[Field], choices: dict[str, dict[str, str]], *, office: bool
) -> dict[str, Any]:
    """A record's cells (编号, 单位, then its fields as people read them) and its 作废 form or void reason."""
    fields = json_format.MessageToDict(record.fields)
    return {
        "cells": [
            record.id,
            choices["units"].get(record.unit, record.unit),
            *[_shown(f, fields.get(f.name), choices) for f in shown],
        ],
        "voided": record.voided,
        "void_reason": record.void_reason,
        "void_action": f"/office/records/{kind}/{part(record.id)}/void" if office else "",
        "request_id": secrets.token_hex(16),
    }


def _search(request: Request, units: dict[str, str]) -> tuple[dict[str, str], str]:
    """The search (单位 by code or name, 年度) as a query, or what is wrong with it, naming the field."""
    unit = request.query_params.get("unit", "").strip()
    year = request.query_params.get("year", "").strip()
    search = {}
    if unit:
        by_name = {name: code for code, name in units.items()}
        if unit not in units and unit not in by_name:
            return {}, f"单位：没有“{unit}”这个单位"
        search["unit"] = unit if unit in units else by_name[unit]
    if year:
        if not (year.isdigit() and len(year) == 4):
            return {}, f"年度：“{year}”不是年份，应为四位数字，如 2025"
        search["year"] = year
    return search, ""


def _pages(kind: str, search: dict[str, str], current: str, following: str) -> list[dict[str, str]]:
    """第一页 / 下一页 links under a list of PAGE_SIZE records, keeping its search."""
    links = []
    if current:
        links.append({"rel": "first", "href": _list_url(kind, search), "label": "第一页"})
    if following:
        following_url = _list_url(kind, {**search, "page": following})
        links.append({"rel": "next", "href": following_url, "label": "下一页"})
    return links


def _list_url(kind: str, query: dict[str, str]) -> str:
    return f"/office/records/{part(kind)}" + (f"?{urlencode(query)}" if query else "")


def _shown(field: Field, value: Any, choices: dict[str, dict[str, str]]) -> str:
    if value is None:
        return ""
    if field.control in choices:
        return choices[field.control].get(str(value), str(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def add_record(gw: Gateway, session: Session, request: Request) -> Response:
    kind = request.path_params["kind"]
    if kind not in FORMS:
        raise Refused(404, f"没有“{kind}”这类考核记录")
    values: dict[str, Any] = {}
    for field in FORMS[kind]:
        text = form_of(request).get(field.name, "").strip()
        if not text:
            continue
        values[field.name] = _number(field.label, text) if field.name in NUMBERS else text
    if "year" in values:
        values["year"] = int(_number("年度", str(values["year"])))
    fields = struct_pb2.Struct()
    fields.update(values)
    made = gw.call(
        gw.scoring.CreateRecord,
        scoring_pb2.CreateRecordRequest(
            request_id=form_of(request).get("request_id", "") or secrets.token_hex(16),
            kind=_kind(kind),
            fields=fields,
        ),
        session.token,
    ).record
    return redirect(f"/office/records/{kind}", ok=f"已保存{RECORD_KIND_LABELS[kind]} {made.id}")


def _kind(code: str) -> Any:
    """A record kind's code (a form's, a path's) as the enum; an unknown one is sent unspecified, which
    the scoring service refuses naming the field."""
    return lenient_number(scoring_pb2.RecordKind.DESCRIPTOR, code)


def _number(label: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise Refused(422, f"{label}：“{text}”不是数字") from None


def void_record(gw: Gateway, session: Session, request: Request) -> Response:
    kind, rid = request.path_params["kind"], request.path_params["record"]
    reason = form_of(request).get("reason", "").strip()
    if not reason:
        return redirect(f"/office/records/{kind}", error="作废需要写明理由")
    label = RECORD_KIND_LABELS.get(kind, kind)
    asked = confirm_first(
        request,
        session,
        title="确认作废",
        consequence=f"作废{label} {rid}（理由：{reason}）：该记录不再计入考核，"
        "仍留在列表中划线显示；作废不能撤销。",
        button="确认作废",
        back=f"/office/records/{kind}",
    )
    if asked is not None:
        return asked
    gw.call(
        gw.scoring.VoidRecord,
        scoring_pb2.VoidRecordRequest(
            request_id=form_of(request).get("request_id", "") or secrets.token_hex(16),
            kind=_kind(kind),
            id=rid,
            reason=reason,
        ),
        session.token,
    )
    return redirect(f"/office/records/{kind}", ok=f"已作废 {rid}")
