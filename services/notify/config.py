"""The reminders file (`--notify FILE.toml`, FORMATS.md "Reminders"), read into frozen dataclasses."""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from services.common.errors import InvalidArgument
from services.common.settings import ConfigError

EVENTS = ("yellow", "red", "progress_due")
FORMATS = ("json", "wecom", "dingtalk")
ALL_UNITS = "*"
DEFAULT_INTERVAL_SECONDS = 60

_TOP_KEYS = frozenset({"interval_seconds", "channels"})
_CHANNEL_KEYS = frozenset(
    {"url", "format", "units", "events", "escalate", "repeat", "escalate_after", "secret"}
)
REPEAT_UNITS = ("minutes", "hours", "working_days")
_REPEAT_UNIT_LABELS = {"minutes": "分钟", "hours": "小时", "working_days": "个工作日"}
_UNITS_RULE = '须为非空列表：单位编号、单位类别，或 "*"'
_EVENTS_RULE = f"须为非空列表，取自：{'、'.join(EVENTS)}"


class NotifyConfigInvalid(InvalidArgument, ValueError):
    """The reminders file breaks a rule: `key` names the setting, `rule` says what it must be."""

    def __init__(self, key: str, rule: str) -> None:
        super().__init__(key, rule)
        self.key = key
        self.rule = rule


@dataclass(frozen=True)
class Repeat:
    """How often an open red task is announced again while it stays red (催办直至办结)."""

    amount: int
    unit: str

    @property
    def label(self) -> str:
        """每2小时, 每1个工作日 …"""
        return f"每{self.amount}{_REPEAT_UNIT_LABELS[self.unit]}"


@dataclass(frozen=True)
class Channel:
    """One webhook: where to POST, in which body format, for which units and events, how often."""

    url: str
    format: str
    units: tuple[str, ...]
    events: tuple[str, ...]
    escalate: bool = False
    repeat: Repeat | None = None
    escalate_after: int = 0
    # Kept out of repr: a logged Channel must not carry the signing key.
    secret: str = field(default="", repr=False)

    @property
    def fingerprint(self) -> str:
        """A stable name of the channel for the announced table: the same file names the same channel.

        A hash rather than the URL, which carries a robot's key; the secret is left out so that
        rotating it does not make every open red task announced afresh.
        """
        text = f"{self.format}\n{self.url}\n{self.escalate}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def wants(self, *, unit: str, category: str | None, event: str) -> bool:
        """Whether this channel subscribed to the event for the unit (by id, its category, or "*")."""
        if event not in self.events:
            return False
        names = self.units
        return ALL_UNITS in names or unit in names or (category is not None and category in names)


@dataclass(frozen=True)
class NotifyConfig:
    """How often open tasks are checked and the channels reminders go to."""

    interval_seconds: int
    channels: tuple[Channel, ...]


def load_notify_config(source: Path | str) -> NotifyConfig:
    """The reminders config from a file (a Path, or a str naming a file) or from TOML text."""
    if isinstance(source, Path) or ("\n" not in source and "=" not in source and source.strip()):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise NotifyConfigInvalid(str(path), f"无法读取（{exc.strerror or exc}）") from None
        except UnicodeDecodeError:
            raise NotifyConfigInvalid(str(path), "须为 UTF-8 文本") from None
    else:
        text = source
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise NotifyConfigInvalid("toml", f"须为有效的 TOML（{exc}）") from None
    return parse_notify_config(raw)


def notify_config_from(path: str | None) -> NotifyConfig | None:
    """The reminders file of --notify (else KAOHE_NOTIFY_FILE), read and checked; None when neither is set.

    A bad file is a ConfigError naming the file, the key and the rule (the service does not start).
    """
    path = path or os.environ.get("KAOHE_NOTIFY_FILE") or None
    if path is None:
        return None
    try:
        return load_notify_config(Path(path))
    except NotifyConfigInvalid as exc:
        raise ConfigError(f"提醒配置文件 {path}：{exc.key} {exc.rule}") from None


def parse_notify_config(raw: Mapping[str, Any]) -> NotifyConfig:
    """The reminders config from an already-parsed TOML table."""
    _no_unknown_keys(raw, _TOP_KEYS, prefix="")
    interval = raw.get("interval_seconds", DEFAULT_INTERVAL_SECONDS)
    # bool is an int in Python, but `interval_seconds = true` is surely a mistake.
    if not isinstance(interval, int) or isinstance(interval, bool) or interval <= 0:
        raise NotifyConfigInvalid("interval_seconds", "须为正整数（秒）")
    channels = raw.get("channels")
    if not isinstance(channels, list) or not channels:
        raise NotifyConfigInvalid("channels", "须有一个或多个 [[channels]] 表")
    return NotifyConfig(
        interval_seconds=interval,
        channels=tuple(_channel(entry, f"channels[{i}]") for i, entry in enumerate(channels)),
    )


def check_units(config: NotifyConfig, *, units: Mapping[str, str]) -> None:
    """Refuses a channel naming neither a unit id nor a category (units: unit id → its category)."""
    known = set(units) | set(units.values()) | {ALL_UNITS}
    for i, channel in enumerate(config.channels):
        for j, name in enumerate(channel.units):
            if name not in known:
                raise NotifyConfigInvalid(
                    f"channels[{i}].units[{j}]", f"“{name}”既不是台账中的单位编号，也不是单位类别"
                )


def _channel(entry: object, where: str) -> Channel:
    if not isinstance(entry, dict):
        raise NotifyConfigInvalid(where, "须为一个表（[[channels]]）")
    _no_unknown_keys(entry, _CHANNEL_KEYS, prefix=f"{where}.")
    url = entry.get("url")
    if not isinstance(url, str) or not _is_http_url(url):
        # The value is not echoed: a robot URL carries its secret key.
        raise NotifyConfigInvalid(f"{where}.url", "须为带主机名的 http:// 或 https:// 地址")
    fmt = entry.get("format", "json")
    if fmt not in FORMATS:
        raise NotifyConfigInvalid(f"{where}.format", f"须为以下之一：{'、'.join(FORMATS)}")
    escalate = entry.get("escalate", False)
    if not isinstance(escalate, bool):
        raise NotifyConfigInvalid(f"{where}.escalate", "须为 true 或 false")
    # The supervisor's channel gets red tasks of every unit, so it needs no units of its own.
    units = entry.get("units", [] if escalate else None)
    if units is None:
        raise NotifyConfigInvalid(f"{where}.units", '必填：单位编号、单位类别的列表，或 "*"')
    if escalate and units == []:
        units_tuple: tuple[str, ...] = ()
    else:
        units_tuple = _strings(units, f"{where}.units", _UNITS_RULE)
    events = entry.get("events", list(EVENTS))
    events_tuple = _strings(events, f"{where}.events", _EVENTS_RULE)
    for k, event in enumerate(events_tuple):
        if event not in EVENTS:
            raise NotifyConfigInvalid(f"{where}.events[{k}]", f"须为以下之一：{'、'.join(EVENTS)}")
    return Channel(
        url=url,
        format=fmt,
        units=tuple(dict.fromkeys(units_tuple)),
        events=tuple(e for e in EVENTS if e in events_tuple),
        escalate=escalate,
        repeat=_repeat(entry, where),
        escalate_after=_escalate_after(entry, where, escalate=escalate),
        secret=_secret(entry, where, fmt=fmt),
    )


def _repeat(entry: Mapping[str, Any], where: str) -> Repeat | None:
    if "repeat" not in entry:
        return None
    key = f"{where}.repeat"
    table = entry["repeat"]
    if not isinstance(table, dict):
        raise NotifyConfigInvalid(key, '应为内联表，例如 repeat = { amount = 1, unit = "working_days" }')
    for name in table:
        if name not in ("amount", "unit"):
            raise NotifyConfigInvalid(f"{key}.{name}", "不是可用的设置（可用：amount、unit）")
    amount = table.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise NotifyConfigInvalid(f"{key}.amount", "应为正整数（每隔多少个单位再次催办）")
    unit = table.get("unit")
    if unit not in REPEAT_UNITS:
        raise NotifyConfigInvalid(f"{key}.unit", f"应为 {'、'.join(REPEAT_UNITS)} 之一")
    return Repeat(amount=amount, unit=unit)


def _escalate_after(entry: Mapping[str, Any], where: str, *, escalate: bool) -> int:
    if "escalate_after" not in entry:
        return 0
    key = f"{where}.escalate_after"
    value = entry["escalate_after"]
    if not escalate:
        raise NotifyConfigInvalid(key, "只用于 escalate = true 的渠道（上报督查室的渠道）")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise NotifyConfigInvalid(key, "应为不小于 0 的整数（单位已被催办几次后上报；0 为立即上报）")
    return value


def _secret(entry: Mapping[str, Any], where: str, *, fmt: str) -> str:
    if "secret" not in entry:
        return ""
    key = f"{where}.secret"
    value = entry["secret"]
    if fmt != "dingtalk":
        raise NotifyConfigInvalid(key, '只用于 format = "dingtalk" 的渠道（钉钉机器人的加签密钥）')
    # The value is not echoed: it is the robot's signing key.
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise NotifyConfigInvalid(key, "应为钉钉机器人“加签”给出的密钥（非空字符串，不含首尾空白）")
    return value


def _strings(value: object, key: str, rule: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise NotifyConfigInvalid(key, rule)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise NotifyConfigInvalid(f"{key}[{i}]", "须为非空文本")
    return tuple(value)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _no_unknown_keys(table: Mapping[str, Any], allowed: Iterable[str], *, prefix: str) -> None:
    allowed = frozenset(allowed)
    for key in table:
        if key not in allowed:
            raise NotifyConfigInvalid(
                f"{prefix}{key}", f"不是可用的设置项（可用：{'、'.join(sorted(allowed))}）"
            )
