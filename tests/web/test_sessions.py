"""The console's sessions as its processes share them: what one starts, another knows; ended or idle, gone."""

from __future__ import annotations

from pathlib import Path

from services.web.sessions import IDLE_SECONDS, Sessions


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_started_in_one_process_is_known_to_another_until_it_ends(tmp_path: Path) -> None:
    clock = Clock()
    one = Sessions(tmp_path / "sessions.sqlite", clock=clock)
    other = Sessions(tmp_path / "sessions.sqlite", clock=clock)
    started = one.start(token="t", role="office", unit="", username="admin", name="管理员", token_expiry=0)
    seen = other.get(started.id)
    assert seen == started
    assert seen is not None and seen.csrf_ok(started.csrf) and not seen.csrf_ok("forged")
    other.end(started.id)
    assert one.get(started.id) is None
    assert one.get("no-such-session") is None


def test_idle_sessions_and_sessions_past_their_token_end_everywhere(tmp_path: Path) -> None:
    clock = Clock()
    one = Sessions(tmp_path / "sessions.sqlite", clock=clock)
    other = Sessions(tmp_path / "sessions.sqlite", clock=clock)
    idle = one.start(token="t", role="office", unit="", username="a", name="", token_expiry=clock.now + 86400)
    short = one.start(
        token="u", role="department", unit="fgj", username="b", name="", token_expiry=clock.now + 60
    )
    # Used through the other process now and then: the idle expiry moves on for both.
    for _ in range(4):
        clock.now += IDLE_SECONDS / 2
        assert other.get(idle.id) is not None
    assert one.get(idle.id) is not None
    assert one.get(short.id) is None  # its gateway token ended long ago
    clock.now += IDLE_SECONDS + 1
    assert other.get(idle.id) is None and one.get(idle.id) is None
