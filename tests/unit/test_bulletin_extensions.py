"""The bulletin's 延期申请: the requests filed in the period, with what was asked and decided."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.bulletin import Extension, parse_period, render_docx
from services.common.errors import InvalidArgument
from tests.unit.test_bulletin import TZ, _bulletin, _open, _text


def _ext(eid: str, filed: str, state: str, granted: str | None = None, unit: str = "fgj") -> Extension:
    return Extension(
        id=eid,
        task=f"T-{eid}",
        title=f"任务{eid}",
        unit=unit,
        filed_at=datetime.fromisoformat(filed),
        due_before=datetime.fromisoformat("2026-11-20T23:59:59+08:00"),
        asked_due=datetime.fromisoformat("2026-12-05T23:59:59+08:00"),
        state=state,
        granted_due=datetime.fromisoformat(granted) if granted else None,
    )


EXTENSIONS = [
    _ext("YQ3", "2026-11-18T09:00:00+08:00", "pending", unit="gaj"),
    _ext("YQ1", "2026-11-02T10:00:00+08:00", "approved", "2026-12-01T18:00:00+08:00"),
    _ext("YQ2", "2026-11-10T10:00:00+08:00", "refused"),
    # 31 October in UTC, 1 November in Shanghai: the local date decides.
    _ext("YQ4", "2026-10-31T16:30:00+00:00", "pending"),
    _ext("YQ0", "2026-10-20T10:00:00+08:00", "approved", "2026-11-30T23:59:59+08:00"),
]


def test_the_periods_requests_in_the_order_filed_with_their_decisions() -> None:
    lines = _bulletin(extensions=EXTENSIONS).extensions
    assert [(e.id, e.unit_name, e.state_label) for e in lines] == [
        ("YQ4", "发改局", "待审批"),
        ("YQ1", "发改局", "已批准"),
        ("YQ2", "发改局", "不予批准"),
        ("YQ3", "公安局", "待审批"),
    ]
    assert lines[0].filed_at.tzinfo == TZ and lines[1].granted_due == datetime(2026, 12, 1, 18, tzinfo=TZ)
    assert _bulletin().extensions == ()


def test_the_document_lists_each_request_with_the_due_asked_and_the_decision() -> None:
    text = _text(_open(_bulletin(extensions=EXTENSIONS)))
    assert "延期申请" in text and "共有4项任务申请延期" in text
    for words in ("T-YQ1", "任务YQ3", "2026年12月5日", "已批准，延至2026年12月1日18时", "不予批准", "待审批"):
        assert words in text
    assert "T-YQ0" not in text
    quiet = _text(_open(_bulletin(period=parse_period("2026-09"), extensions=EXTENSIONS)))
    assert "本期无延期申请" in quiet


def test_an_instant_without_an_offset_is_refused() -> None:
    naive = Extension(
        id="YQ9",
        task="T",
        title="t",
        unit="fgj",
        filed_at=datetime(2026, 11, 2, 10),
        due_before=datetime.fromisoformat("2026-11-20T23:59:59+08:00"),
        asked_due=datetime.fromisoformat("2026-12-05T23:59:59+08:00"),
        state="pending",
    )
    with pytest.raises(InvalidArgument) as refused:
        render_docx(_bulletin(extensions=[naive]))
    assert refused.value.violations[0].field == "extensions[0].filed_at"
