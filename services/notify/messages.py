"""The bodies a reminder is POSTed as: plain JSON, or a WeCom / DingTalk group-robot markdown message."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from services.common.scheme import DEFAULT_TIMEZONE
from services.notify.delivery import Outcome, redact
from services.notify.planner import Delivery

LABELS = {"yellow": "黄色预警", "red": "红色预警", "progress_due": "进展催报"}
_HEADINGS = {"yellow": "临近到期", "red": "已超期未办结", "progress_due": "未按期报送进展"}
_ASKS = {"yellow": "请抓紧办理", "red": "请立即办理并报送结果", "progress_due": "请尽快报送进展"}
# A robot message is capped at 4096 bytes (WeCom); a ledger title is short, but not guaranteed to be.
_TITLE_CHARS = 200


def default_tz() -> tzinfo:
    """The zone reminders are written in when the caller gives none (the schemes' default)."""
    return ZoneInfo(DEFAULT_TIMEZONE)


def local_time(moment: datetime, tz: tzinfo) -> str:
    """An instant as people read it on a notice: 2026-11-30 23:59 in the local zone."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def span(seconds: float) -> str:
    """A duration in days and hours, e.g. 1天2小时; under an hour is 不足1小时."""
    days, rest = divmod(int(abs(seconds)), 86400)
    hours = rest // 3600
    if days:
        return f"{days}天{hours}小时"
    return f"{hours}小时" if hours else "不足1小时"


def time_left(*, due_at: datetime, now: datetime) -> str:
    """剩余 … before the due instant, 已超期 … after it."""
    seconds = (due_at - now).total_seconds()
    return f"剩余 {span(seconds)}" if seconds >= 0 else f"已超期 {span(seconds)}"


def unit_label(unit: str, name: str | None) -> str:
    """发改局（fgj） when the unit's name is known, the bare id otherwise."""
    return f"{name}（{unit}）" if name and name != unit else unit


def _title(title: str) -> str:
    return title if len(title) <= _TITLE_CHARS else title[: _TITLE_CHARS - 1] + "…"


def _situation(delivery: Delivery, tz: tzinfo) -> str:
    fact = delivery.fact
    if fact.progress_due_at is None:
        return _HEADINGS[fact.event]
    return f"应于 {local_time(fact.progress_due_at, tz)} 报送进展但尚未报送"


def tag(delivery: Delivery) -> str:
    """【红色预警】, 【红色预警·第2次催办】, or 【红色预警·提请督办】 for the supervisor's channel."""
    label = LABELS[delivery.fact.event]
    if delivery.escalation:
        return f"【{label}·提请督办】"
    return f"【{label}·第{delivery.occurrence}次催办】" if delivery.occurrence > 1 else f"【{label}】"


def _escalated(delivery: Delivery) -> str:
    if not delivery.escalation:
        return ""
    return f"，该单位已被催办{delivery.told}次仍未办结" if delivery.told else "，现提请督办"


def sentence(delivery: Delivery, *, unit_name: str | None, now: datetime, tz: tzinfo) -> str:
    """The reminder as one Chinese sentence: colour, unit, task, due time, time left or overdue."""
    fact = delivery.fact
    role = "牵头" if delivery.is_lead else "协办"
    return (
        f"{tag(delivery)}{unit_label(delivery.unit, unit_name)}{role}的任务 {fact.task}"
        f"「{_title(fact.title)}」{_situation(delivery, tz)}，办理时限 {local_time(fact.due_at, tz)}，"
        f"{time_left(due_at=fact.due_at, now=now)}{_escalated(delivery)}，{_ASKS[fact.event]}。"
    )


def markdown(delivery: Delivery, *, unit_name: str | None, now: datetime, tz: tzinfo, newline: str) -> str:
    """The reminder as robot markdown, one fact a line (newline: "\\n" for WeCom, "\\n\\n" for DingTalk)."""
    fact = delivery.fact
    role = "牵头" if delivery.is_lead else "协办"
    lines = [
        f"### {tag(delivery)}任务 {fact.task} {_HEADINGS[fact.event]}",
        f"**{role}单位**：{unit_label(delivery.unit, unit_name)}",
        f"**任务**：{fact.task}「{_title(fact.title)}」",
        f"**办理时限**：{local_time(fact.due_at, tz)}",
    ]
    if fact.progress_due_at is not None:
        lines.append(f"**进展**：应于 {local_time(fact.progress_due_at, tz)} 报送进展")
    if delivery.escalation and delivery.told:
        lines.append(f"**已催办**：{delivery.told}次仍未办结")
    if responsible := _responsible(delivery):
        # DingTalk highlights an @-mention only when "@<mobile>" stands in the text as well (a WeCom
        # message that mentions is a text message, not this markdown).
        at = f" @{delivery.mention}" if delivery.mention else ""
        lines.append(f"**责任人**：{responsible}{at}")
    lines += [f"**{time_left(due_at=fact.due_at, now=now)}**", f"{_ASKS[fact.event]}。"]
    return newline.join(lines)


def _responsible(delivery: Delivery) -> str:
    """The 责任人's name where the reminder is the lead unit's own (the person is of the lead unit)."""
    if not delivery.is_lead or delivery.escalation:
        return ""
    return delivery.fact.responsible_name


def json_body(
    delivery: Delivery, *, unit_name: str | None, now: datetime, tz: tzinfo | None = None
) -> dict[str, Any]:
    """The `format = "json"` body of FORMATS.md: task, title, unit, event, due_at, occurrence, a sentence."""
    tz = tz or default_tz()
    fact = delivery.fact
    return {
        "task": fact.task,
        "title": fact.title,
        "unit": delivery.unit,
        "event": fact.event,
        "due_at": fact.due_at.astimezone(tz).isoformat(),
        "occurrence": delivery.occurrence,
        "text": sentence(delivery, unit_name=unit_name, now=now, tz=tz),
    }


def wecom_body(
    delivery: Delivery, *, unit_name: str | None, now: datetime, tz: tzinfo | None = None
) -> dict[str, Any]:
    """A WeCom (企业微信) group-robot markdown message; a text message when it @-mentions the 责任人.

    WeCom's robot mentions by mobile (`mentioned_mobile_list`) only in a text message, so a reminder
    whose 责任人's mobile is known goes as the one sentence with the 责任人 named and mentioned.
    """
    tz = tz or default_tz()
    if delivery.mention:
        content = sentence(delivery, unit_name=unit_name, now=now, tz=tz)
        text = {
            "content": f"{content}\n责任人：{_responsible(delivery)}",
            "mentioned_mobile_list": [delivery.mention],
        }
        return {"msgtype": "text", "text": text}
    content = markdown(delivery, unit_name=unit_name, now=now, tz=tz, newline="\n")
    return {"msgtype": "markdown", "markdown": {"content": content}}


def dingtalk_body(
    delivery: Delivery, *, unit_name: str | None, now: datetime, tz: tzinfo | None = None
) -> dict[str, Any]:
    """A DingTalk (钉钉) group-robot markdown message; the title is what the chat list shows."""
    tz = tz or default_tz()
    fact = delivery.fact
    body: dict[str, Any] = {
        "msgtype": "markdown",
        "markdown": {
            "title": f"{tag(delivery)}任务 {fact.task}",
            "text": markdown(delivery, unit_name=unit_name, now=now, tz=tz, newline="\n\n"),
        },
    }
    if delivery.mention:
        # The 责任人 @-mentioned by mobile; the text carries "@<mobile>" (see markdown).
        body["at"] = {"atMobiles": [delivery.mention], "isAtAll": False}
    return body


_BODIES = {"json": json_body, "wecom": wecom_body, "dingtalk": dingtalk_body}


def render(
    delivery: Delivery, *, unit_names: Mapping[str, str], now: datetime, tz: tzinfo | None = None
) -> dict[str, Any]:
    """The body for the delivery's channel format (unit_names: unit id → 中文 name, where known)."""
    return _BODIES[delivery.channel.format](delivery, unit_name=unit_names.get(delivery.unit), now=now, tz=tz)


def history_note(delivery: Delivery, *, unit_name: str | None, outcome: Outcome) -> str:
    """The line a sent reminder leaves in the task's history (留痕); the channel's URL is redacted."""
    fact = delivery.fact
    tries = f"第{outcome.attempts}次尝试送达" if outcome.attempts > 1 else "一次送达"
    unit = unit_label(delivery.unit, unit_name)
    if delivery.escalation:
        what = f"催办提级：{unit}的{LABELS[fact.event]}已提请督办（第{delivery.occurrence}次），发送至"
    else:
        what = f"第{delivery.occurrence}次催办（{LABELS[fact.event]}）已发送至{unit}："
    # The mention is named by the person's name: a mobile never reaches the history or a log.
    mentioned = f"，@责任人{fact.responsible_name}" if delivery.mention else ""
    return f"{what}{delivery.channel.format} 渠道 {redact(delivery.channel.url)}，{tries}{mentioned}"
