"""结果运用's pure parts: the notice's grades by category, the 优秀 CSV, a letter's lines, the file names."""

from __future__ import annotations

import csv
import io
from typing import Any

from services import results
from services.cli.commands.results import letter_name

ISSUE = results.issue_of(
    {"year": 2026, "run": "2026-001", "state": "final"}, issuer="", jurisdiction="宁强县"
)


def unit(uid: str, category: str, rank: int, grade: str, total: float, **extra: Any) -> dict[str, Any]:
    return {
        "unit": uid,
        "name": uid.upper(),
        "category": category,
        "rank": rank,
        "grade": grade,
        "total": total,
    } | extra


DOCUMENT = {
    "year": 2026,
    "run": "2026-001",
    "units": [
        unit("b", "department", 2, "good", 88.0),
        unit("a", "department", 1, "excellent", 95.5),
        unit("t", "township", 1, "excellent", 91.0),
        unit("u", "township", 2, "poor", 50.0, veto=True),
    ],
}


def test_the_issuer_is_the_county_and_its_office_by_default() -> None:
    assert ISSUE.issuer == "宁强县考核办公室"
    assert results.issue_of({}, issuer="宁强县考核办公室", jurisdiction="宁强县").issuer == "宁强县考核办公室"


def test_the_notice_groups_each_category_by_grade_in_rank_order() -> None:
    built = results.notice(DOCUMENT, ISSUE)
    assert [c.category for c in built.categories] == ["department", "township"]
    department = {g.grade: [u.unit for u in g.units] for g in built.categories[0].groups}
    assert department == {"excellent": ["a"], "good": ["b"], "fair": [], "poor": []}
    assert [g.label for g in built.categories[1].groups] == ["优秀", "良好", "一般", "较差"]


def test_the_excellent_list_is_a_csv_excel_reads() -> None:
    data = results.excellent_csv(DOCUMENT)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert [(r[3], r[5]) for r in rows[1:]] == [("a", "95.50"), ("t", "91.00")]


def test_a_letters_lines_give_every_point_with_its_reason() -> None:
    entry = unit(
        "a",
        "department",
        1,
        "excellent",
        95.5,
        timeliness_earned=10.0,
        timeliness_max=40.0,
        breakdown={
            "tasks": [
                {
                    "task": "T1",
                    "role": "lead",
                    "weight": 1.0,
                    "points": 10.0,
                    "due_at": "2026-03-01T23:59:59+08:00",
                    "reported_at": "2026-03-05T10:00:00+08:00",
                    "late_working_days": 3,
                },
                {
                    "task": "T2",
                    "role": "co",
                    "weight": 1.0,
                    "points": 0.0,
                    "due_at": "2026-04-01T23:59:59+08:00",
                    "reported_at": None,
                    "late_working_days": None,
                },
            ],
            "accountability": [{"id": "A1", "date": "2026-05-01", "kind": "interview", "points": 2.0}],
            "incentives": [{"id": "I1", "date": "2026-06-01", "level": "provincial", "points": 3.0}],
        },
    )
    letter = results.letter(
        {"units": [entry]},
        "a",
        ISSUE,
        reasons={("accountability", "A1"): "推诿扯皮", ("incentive", "I1"): "省级表彰"},
        titles={"T1": "项目申报"},
        peers=DOCUMENT["units"],
    )
    lines = {line.item: line for line in letter.lines}
    assert (
        lines["任务 T1《项目申报》"].points == -10.0
        and "逾期3个工作日" in lines["任务 T1《项目申报》"].reason
    )
    assert lines["任务 T2"].points == -20.0 and "未反馈" in lines["任务 T2"].reason
    assert lines["问责 A1"].points == -2.0 and "推诿扯皮" in lines["问责 A1"].reason
    assert results.model.ACCOUNTABILITY_NOTE in lines["问责 A1"].reason
    assert lines["激励 I1"].points == 3.0 and "省级表彰" in lines["激励 I1"].reason
    assert letter.category_count == 2
    assert results.render_letter(letter)[:2] == b"PK"


def test_a_letters_file_name_stays_in_its_directory() -> None:
    assert letter_name("fgj") == "fgj.docx"
    assert letter_name("督办/1") == "督办_1.docx"
    assert "/" not in letter_name("../../etc") and "\\" not in letter_name("a\\b")
