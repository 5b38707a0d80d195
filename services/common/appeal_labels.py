"""The Chinese words of the appeal and 容错 workflow for the command line and the console."""

from __future__ import annotations

from collections.abc import Mapping

APPLICATION_STATES: Mapping[str, str] = {
    "pending": "待裁决",
    "exempt": "免责",
    "mitigate": "减轻",
    "refused": "不予容错",
}
APPLICATION_DECISIONS: Mapping[str, str] = {k: v for k, v in APPLICATION_STATES.items() if k != "pending"}
APPEAL_STATES: Mapping[str, str] = {"pending": "待裁决", "upheld": "成立", "rejected": "不成立"}
APPLICATION_TARGETS: Mapping[str, str] = {"task": "任务", "error_report": "差错通报"}
APPEAL_TARGETS: Mapping[str, str] = {"error_report": "差错通报", "accountability": "问责"}
EVENTS: Mapping[str, str] = {"filed": "提出", "decided": "裁决"}
ACTOR_ROLES: Mapping[str, str] = {
    "office": "考核办",
    "supervisor": "督查室",
    "department": "单位",
    "viewer": "查阅",
    "": "台账导入",
}


def outcome_label(outcome: str) -> str:
    """An event's outcome in Chinese: an application's decision or an appeal's."""
    return {**APPLICATION_STATES, **APPEAL_STATES}.get(outcome, outcome)


def actor_label(event: Mapping[str, str]) -> str:
    """Who did a step: 考核办, 单位 fgj, or 台账导入 for a ledger line."""
    role = ACTOR_ROLES.get(event["actor_role"], event["actor_role"])
    return f"{role} {event['actor_unit']}" if event["actor_unit"] else role
