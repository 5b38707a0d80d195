"""A run's result on a page: the table of units (data-unit, data-total) and one unit's points explained."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from markupsafe import Markup

from services.results.breakdown import breakdown_of
from services.web.layout import category_label, num
from services.web.replies import part
from services.web.templating import fragment


def result_rows(units: list[dict[str, Any]], *, link: str = "") -> list[dict[str, Any]]:
    """The units ranked, as a result table shows them; link (with {unit}) makes a name link to its detail."""
    rows = []
    for u in sorted(units, key=lambda u: (u["rank"], u["unit"])):
        rows.append(
            u
            | {
                "href": link.replace("{unit}", part(u["unit"])) if link else "",
                "timeliness": f"{num(u['timeliness_earned'])}/{num(u['timeliness_max'])}",
                "metrics": f"{num(u['metrics_earned'])}/{num(u['metrics_max'])}",
            }
        )
    return rows


def result_tables(document: dict[str, Any], *, link: str = "") -> Markup:
    """The result by category, each with its table."""
    by_category: dict[str, list[dict[str, Any]]] = {}
    for unit in document.get("units", []):
        by_category.setdefault(unit["category"], []).append(unit)
    return fragment(
        "office/results.html",
        interim=bool(document.get("interim")),
        as_of=document.get("as_of", ""),
        categories=[(category_label(c), result_rows(units, link=link)) for c, units in by_category.items()],
    )


def distribution_chart(document: dict[str, Any]) -> Markup:
    """The totals of each category, as points on one axis per category."""
    series: dict[str, list[list[Any]]] = {}
    for unit in document.get("units", []):
        series.setdefault(category_label(unit["category"]), []).append([unit["total"], unit["name"]])
    return fragment("office/chart.html", kind="distribution", data={"series": series}, label="各类别总分分布")


def indicator_chart(indicators: list[dict[str, Any]]) -> Markup:
    """A unit's indicators: its value against the target."""
    shown = [m for m in indicators if m.get("value") is not None and m.get("target") is not None]
    if not shown:
        return Markup("")
    data = {
        "names": [m.get("name") or m["metric"] for m in shown],
        "values": [m["value"] for m in shown],
        "targets": [m["target"] for m in shown],
    }
    return fragment("office/chart.html", kind="indicators", data=data, label="指标完成值与目标值对比")


def explained(unit: dict[str, Any], *, appeal_form: Callable[[dict[str, Any]], str] | None = None) -> Markup:
    """Every point of a unit's total: tasks, indicators, deductions and bonuses.

    appeal_form, when given, makes the form a department files an appeal with, per error report (its
    HTML, made by the department's page).
    """
    rows = breakdown_of(unit)
    errors = {e["id"]: e for e in (unit.get("breakdown") or {}).get("errors", [])}
    records = []
    for line in rows.records:
        error = line.kind == "error_report"
        form = appeal_form(errors[line.id]) if error and appeal_form is not None and not line.voided else ""
        records.append(
            {
                "label": line.label,
                "id": line.id,
                "date": line.date,
                "item": line.item_label + ("（已撤销）" if error and line.voided else ""),
                "points": ("+" if line.sign > 0 else "-") + num(line.points),
                "form": Markup(form),  # the department page's own form, escaped there
            }
        )
    metrics = [
        {
            "name": m.name,
            "value": "" if m.value is None else f"{m.value:.4g}",
            "target": m.target,
            "status_label": m.status_label,
            "earned": m.earned,
            "max": m.max,
        }
        for m in rows.metrics
    ]
    return fragment(
        "office/explained.html",
        unit=unit,
        tasks=rows.tasks,
        metrics=metrics,
        records=records,
        indicator_chart=indicator_chart((unit.get("breakdown") or {}).get("metrics", [])),
    )
