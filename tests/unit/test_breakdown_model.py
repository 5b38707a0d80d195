"""The one presentation model of a unit's breakdown: labels, signs, reasons and one order for all."""

from __future__ import annotations

from typing import Any

from services.results.breakdown import breakdown_of


def _unit() -> dict[str, Any]:
    tolerance = {"id": "R1", "decision": "exempt"}
    return {
        "unit": "fgj",
        "name": "发改局",
        "timeliness_max": 40.0,
        "breakdown": {
            "tasks": [
                {
                    "task": "T1",
                    "role": "lead",
                    "priority": "key",
                    "weight": 1.0,
                    "due_at": "2025-05-12T23:59:59+08:00",
                    "reported_at": None,
                    "late_working_days": None,
                    "credit": 1.0,
                    "tolerance": tolerance,
                    "points": 20.0,
                },
                {
                    "task": "T2",
                    "role": "co",
                    "priority": "normal",
                    "weight": 1.0,
                    "due_at": "2025-06-12T23:59:59+08:00",
                    "reported_at": "2025-06-13T09:00:00+08:00",
                    "late_working_days": 1,
                    "credit": 0.9,
                    "tolerance": None,
                    "points": 18.0,
                },
            ],
            "metrics": [
                {
                    "metric": "m1",
                    "kind": "ratio",
                    "value": None,
                    "target": 0.5,
                    "status": "missing",
                    "earned": 0.0,
                    "max": 10.0,
                }
            ],
            "errors": [
                {
                    "id": "E2",
                    "date": "2025-05-01",
                    "category": "meeting",
                    "severity": "serious",
                    "voided": True,
                    "deduction": 1.0,
                    "tolerance": None,
                    "points": 0.0,
                },
                {
                    "id": "E1",
                    "date": "2025-04-01",
                    "category": "drafting",
                    "severity": "general",
                    "voided": False,
                    "deduction": 0.5,
                    "tolerance": None,
                    "points": 0.5,
                },
            ],
            "incentives": [{"id": "I1", "date": "2025-09-01", "level": "county", "points": 4.0}],
            "accountability": [
                {
                    "id": "A1",
                    "date": "2025-07-01",
                    "kind": "interview",
                    "voided": False,
                    "veto": True,
                    "points": 1.0,
                }
            ],
            "caps": {"incentives": {"sum": 4.0, "cap": 3.0, "applied": 3.0}},
        },
    }


def test_records_in_one_order_with_chinese_labels_and_signs() -> None:
    rows = breakdown_of(_unit())
    assert [(r.label, r.id, r.item_label, r.sign) for r in rows.records] == [
        ("差错通报", "E1", "一般", -1),
        ("差错通报", "E2", "较重", -1),
        ("激励", "I1", "县级", +1),
        ("问责", "A1", "约谈", -1),
    ]
    assert rows.records[1].voided and rows.records[1].note == "申诉成立已撤销"
    assert rows.records[3].note == "一票否决"


def test_a_cap_takes_back_what_it_cuts_off_and_tolerances_come_last() -> None:
    lines = breakdown_of(_unit()).lines
    assert [line.kind for line in lines] == [
        "error_report",
        "error_report",
        "incentive",
        "cap",
        "accountability",
        "tolerance",
    ]
    cap = lines[3]
    assert (cap.label, cap.points, cap.sign, cap.note) == ("激励", 1.0, -1, "合计4分，按上限3分计")
    assert lines[-1].what == "任务 T1 办理时效" and lines[-1].points is None


def test_tasks_and_metrics() -> None:
    rows = breakdown_of(_unit())
    first, second = rows.tasks
    assert (first.role_label, first.tolerance_label, first.lost) == ("牵头", "免责", 0.0)
    assert first.note == "截至考核时点未反馈，容错免责（R1）"
    assert (second.role_label, second.late_working_days, second.lost) == ("协办", 1, 2.0)
    (metric,) = rows.metrics
    assert (metric.name, metric.status_label, metric.value) == ("m1", "缺报", None)
