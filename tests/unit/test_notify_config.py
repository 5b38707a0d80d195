"""Unit tests of the reminders file: each rule refuses naming the key it broke; the defaults hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.notify.config import (
    EVENTS,
    Channel,
    NotifyConfig,
    NotifyConfigInvalid,
    Repeat,
    check_units,
    load_notify_config,
)

CONTRACT = """
interval_seconds = 60                  # how often open tasks are checked
[[channels]]
url = "http://127.0.0.1:9999/hook"     # an HTTP endpoint that takes a POST
format = "json"                        # json | wecom | dingtalk (the group-robot message formats)
units = ["*"]                          # unit ids, categories, or "*"
events = ["yellow", "red", "progress_due"]
escalate = false                       # true: this channel is the supervisor's, for red tasks of any unit
"""


def channel_toml(**settings: str) -> str:
    base = {"url": '"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"', "units": '["fgj"]'}
    base.update(settings)
    lines = [f"{key} = {value}" for key, value in base.items() if value != "<absent>"]
    return "[[channels]]\n" + "\n".join(lines) + "\n"


def refusal(text: str) -> NotifyConfigInvalid:
    with pytest.raises(NotifyConfigInvalid) as caught:
        load_notify_config(text)
    return caught.value


def test_the_contract_example_loads() -> None:
    config = load_notify_config(CONTRACT)
    assert config == NotifyConfig(
        interval_seconds=60,
        channels=(
            Channel(
                url="http://127.0.0.1:9999/hook",
                format="json",
                units=("*",),
                events=("yellow", "red", "progress_due"),
                escalate=False,
            ),
        ),
    )


def test_a_file_is_read_by_path_object_and_by_name(tmp_path: Path) -> None:
    path = tmp_path / "notify.toml"
    path.write_text(CONTRACT, encoding="utf-8")
    assert load_notify_config(path) == load_notify_config(str(path)) == load_notify_config(CONTRACT)


def test_a_missing_file_is_named() -> None:
    error = refusal("/nonexistent/notify.toml")
    assert error.key == "/nonexistent/notify.toml"
    assert "无法读取" in error.rule


def test_the_config_is_frozen() -> None:
    config = load_notify_config(CONTRACT)
    with pytest.raises(AttributeError):
        config.interval_seconds = 5  # type: ignore[misc]


def test_defaults_events_all_escalate_false_interval_60_format_json() -> None:
    config = load_notify_config(channel_toml())
    assert config.interval_seconds == 60
    (channel,) = config.channels
    assert channel.events == EVENTS
    assert channel.escalate is False
    assert channel.format == "json"


def test_events_keep_the_contract_order_without_duplicates() -> None:
    (channel,) = load_notify_config(channel_toml(events='["progress_due", "red", "red"]')).channels
    assert channel.events == ("red", "progress_due")


def test_an_escalate_channel_needs_no_units() -> None:
    (channel,) = load_notify_config(channel_toml(units="<absent>", escalate="true")).channels
    assert channel.escalate is True
    assert channel.units == ()


def test_an_escalate_channel_may_say_units_empty_outright() -> None:
    (channel,) = load_notify_config(channel_toml(units="[]", escalate="true")).channels
    assert channel.units == ()


def test_the_error_is_a_value_error_and_an_invalid_argument_with_a_field_violation() -> None:
    error = refusal("interval_seconds = 0\n" + channel_toml())
    assert isinstance(error, ValueError)
    assert isinstance(error, InvalidArgument)
    assert [(v.field, v.description) for v in error.violations] == [(error.key, error.rule)]


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("retries = 3\n" + channel_toml(), "retries", "不是可用的设置项"),
        (channel_toml(colour='"red"'), "channels[0].colour", "不是可用的设置项"),
        ("interval_seconds = 0\n" + channel_toml(), "interval_seconds", "须为正整数"),
        ("interval_seconds = -5\n" + channel_toml(), "interval_seconds", "须为正整数"),
        ("interval_seconds = 1.5\n" + channel_toml(), "interval_seconds", "须为正整数"),
        ('interval_seconds = "60"\n' + channel_toml(), "interval_seconds", "须为正整数"),
        ("interval_seconds = true\n" + channel_toml(), "interval_seconds", "须为正整数"),
        ("interval_seconds = 60\n", "channels", "一个或多个 [[channels]]"),
        (channel_toml(url='"ftp://example.org/hook"'), "channels[0].url", "http:// 或 https://"),
        (channel_toml(url='"https:///no-host"'), "channels[0].url", "http:// 或 https://"),
        (channel_toml(url='"http://host:port/hook"'), "channels[0].url", "http:// 或 https://"),
        (channel_toml(url="<absent>"), "channels[0].url", "http:// 或 https://"),
        (channel_toml(url="42"), "channels[0].url", "http:// 或 https://"),
        (channel_toml(format='"slack"'), "channels[0].format", "须为以下之一：json、wecom、dingtalk"),
        (channel_toml(units="<absent>"), "channels[0].units", "必填"),
        (channel_toml(units="[]"), "channels[0].units", "须为非空列表"),
        (channel_toml(units='"fgj"'), "channels[0].units", "须为非空列表"),
        (channel_toml(units='["fgj", 3]'), "channels[0].units[1]", "须为非空文本"),
        (channel_toml(units='["fgj", " "]'), "channels[0].units[1]", "须为非空文本"),
        (channel_toml(events="[]"), "channels[0].events", "yellow、red、progress_due"),
        (
            channel_toml(events='["red", "blue"]'),
            "channels[0].events[1]",
            "以下之一：yellow、red、progress_due",
        ),
        (channel_toml(escalate='"yes"'), "channels[0].escalate", "true 或 false"),
        ("interval_seconds = ", "toml", "有效的 TOML"),
    ],
)
def test_each_rule_names_its_key(text: str, key: str, words: str) -> None:
    error = refusal(text)
    assert error.key == key
    assert words in error.rule
    assert str(error).startswith(f"{key}: ")


def test_the_second_channel_is_named_by_its_index() -> None:
    error = refusal(channel_toml() + channel_toml(format='"teams"'))
    assert error.key == "channels[1].format"


def test_the_url_is_not_echoed_in_the_refusal() -> None:
    error = refusal(channel_toml(url='"gopher://robot.example/send?key=SECRET-KEY"'))
    assert "SECRET-KEY" not in str(error)


def test_check_units_accepts_ids_categories_and_star_and_names_the_stranger() -> None:
    units = {"fgj": "department", "czj": "department", "xz1": "township"}
    good = load_notify_config(channel_toml(units='["fgj", "township", "*"]'))
    check_units(good, units=units)
    bad = load_notify_config(channel_toml() + channel_toml(units='["fgj", "gaj"]'))
    with pytest.raises(NotifyConfigInvalid) as caught:
        check_units(bad, units=units)
    assert caught.value.key == "channels[1].units[1]"
    assert "“gaj”" in caught.value.rule


def test_repeat_escalate_after_and_secret_are_read() -> None:
    text = (
        channel_toml(repeat='{ amount = 2, unit = "working_days" }')
        + channel_toml(
            escalate="true", escalate_after="3", units="<absent>", repeat='{ amount = 1, unit = "hours" }'
        )
        + channel_toml(format='"dingtalk"', secret='"SECabc"')
    )
    first, boss, robot = load_notify_config(text).channels
    assert first.repeat == Repeat(amount=2, unit="working_days") and first.repeat.label == "每2个工作日"
    assert (boss.escalate_after, boss.repeat) == (3, Repeat(amount=1, unit="hours"))
    assert robot.secret == "SECabc" and "SECabc" not in repr(robot)
    plain = load_notify_config(channel_toml()).channels[0]
    assert (plain.repeat, plain.escalate_after, plain.secret) == (None, 0, "")


@pytest.mark.parametrize(
    ("settings", "key", "words"),
    [
        ({"repeat": "5"}, "channels[0].repeat", "内联表"),
        ({"repeat": '{ amount = 0, unit = "minutes" }'}, "channels[0].repeat.amount", "正整数"),
        ({"repeat": '{ amount = 1.5, unit = "minutes" }'}, "channels[0].repeat.amount", "正整数"),
        ({"repeat": '{ amount = 1, unit = "days" }'}, "channels[0].repeat.unit", "working_days"),
        (
            {"repeat": '{ amount = 1, unit = "hours", every = 2 }'},
            "channels[0].repeat.every",
            "不是可用的设置",
        ),
        ({"escalate_after": "2"}, "channels[0].escalate_after", "escalate = true"),
        ({"escalate": "true", "escalate_after": "-1"}, "channels[0].escalate_after", "不小于 0"),
        ({"escalate": "true", "escalate_after": "true"}, "channels[0].escalate_after", "整数"),
        ({"secret": '"SEC1"'}, "channels[0].secret", "dingtalk"),
        ({"format": '"dingtalk"', "secret": '""'}, "channels[0].secret", "密钥"),
        ({"format": '"dingtalk"', "secret": "1"}, "channels[0].secret", "密钥"),
    ],
)
def test_the_new_keys_refuse_in_chinese_naming_the_key(
    settings: dict[str, str], key: str, words: str
) -> None:
    error = refusal(channel_toml(**settings))
    assert (error.key, words in error.rule) == (key, True), error.rule


def test_the_secret_is_not_echoed_in_its_refusal() -> None:
    error = refusal(channel_toml(secret='"SECtopsecret"'))
    assert "SECtopsecret" not in str(error)


def test_the_fingerprint_names_a_channel_by_format_url_and_role_not_by_its_secret() -> None:
    a = Channel(url="http://127.0.0.1/h", format="dingtalk", units=("*",), events=EVENTS, secret="S1")
    b = Channel(url="http://127.0.0.1/h", format="dingtalk", units=("fgj",), events=EVENTS, secret="S2")
    c = Channel(url="http://127.0.0.1/h", format="json", units=("*",), events=EVENTS)
    assert a.fingerprint == b.fingerprint != c.fingerprint and len(a.fingerprint) == 16
