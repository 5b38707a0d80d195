"""The sample county's people and levels: 责任人 of every unit, two 乡镇 with their 村, a task in parts.

Made without the generator's random numbers, so that the rest of the county stays as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, tzinfo

from services.cli.sample_year import Record, iso
from services.common.calendar import WorkCalendar, due_at
from services.common.scheme import Scheme

# Two 乡镇 with two 村 each (a 村 is a unit of its own, category village, under its 乡镇).
VILLAGES: tuple[tuple[str, str, str], ...] = (
    ("cgz-dg", "东关村", "cgz"),
    ("cgz-xg", "西关村", "cgz"),
    ("mxz-hs", "红山村", "mxz"),
    ("mxz-qs", "清水村", "mxz"),
)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = (
    "建国",
    "海燕",
    "志强",
    "秀英",
    "国平",
    "丽华",
    "文军",
    "晓东",
    "春梅",
    "永刚",
    "玉兰",
    "红军",
    "立新",
    "桂芳",
)
# County leaders (县级领导) and the unit whose work they oversee (分管).
LEADERS: tuple[tuple[str, str, str], ...] = (
    ("ld-01", "fgj", "副县长（分管发展改革）"),
    ("ld-02", "nyj", "副县长（分管农业农村）"),
    ("ld-03", "yjj", "副县长（分管应急管理）"),
)
PARENT_TASK = "人居环境整治提升（任务分解）"


def _name(n: int) -> str:
    return SURNAMES[n % len(SURNAMES)] + GIVEN[(n * 5 + n // len(SURNAMES)) % len(GIVEN)]


def _post(category: str, township_name: str) -> str:
    if category == "village":
        return "村党支部书记"
    if category == "township":
        return "乡长" if township_name.endswith("乡") else "镇长"
    return "局长"


def village_units(known: set[str], names: dict[str, str]) -> list[Record]:
    """The 村 of the two sample 乡镇, named with their 乡镇 (城关镇东关村)."""
    return [
        {"type": "unit", "id": u, "name": names[parent] + name, "category": "village", "parent": parent}
        for u, name, parent in VILLAGES
        if parent in known
    ]


def persons(units: Sequence[Record]) -> list[Record]:
    """One 责任人 for each unit, with a mobile number, and the county leaders."""
    out: list[Record] = []
    for n, unit in enumerate(units):
        out.append(
            {
                "type": "person",
                "id": f"{unit['id']}-zr",
                "name": _name(n),
                "unit": unit["id"],
                "post": _post(str(unit["category"]), str(unit["name"])),
                "mobile": f"139{n:08d}",
            }
        )
    ids = {u["id"] for u in units}
    for n, (person, overseen, post) in enumerate(LEADERS, start=len(units)):
        if overseen in ids:
            out.append(
                {
                    "type": "person",
                    "id": person,
                    "name": _name(n),
                    "unit": overseen,
                    "post": post,
                    "leader": True,
                }
            )
    return out


def name_people(tasks: Sequence[Record], people: Sequence[Record]) -> None:
    """Each task's 责任人 (its lead unit's), and the county leader of the unit for its major items."""
    responsible = {p["unit"]: p["id"] for p in people if not p.get("leader")}
    leaders = {p["unit"]: p["id"] for p in people if p.get("leader")}
    for task in tasks:
        lead = task["lead_unit"]
        if lead in responsible:
            task["responsible"] = responsible[lead]
        if lead in leaders and str(task.get("source", "")).startswith("年度重大事项"):
            task["leader"] = leaders[lead]


def name_accountability(records: Sequence[Record], people: Sequence[Record], *, veto: set[str]) -> None:
    """Each 一票否决 (an official disciplined) names the person concerned, by name (their unit's 责任人),
    and the body that decided it 按照管理权限 (宁强 20: 由有关机关), 县纪委监委; the milder records name
    neither, as the fields are optional."""
    responsible = {p["unit"]: p["name"] for p in people if not p.get("leader")}
    for record in records:
        if record["kind"] in veto and record["unit"] in responsible:
            record["person"] = responsible[record["unit"]]
            record["decided_by"] = "县纪委监委"


def parts(
    *, scheme: Scheme, calendar: WorkCalendar, tz: tzinfo, year: int, until: date, people: Sequence[Record]
) -> list[Record]:
    """A 乡镇's task in one part per 村, as far as `until`: one part done, one reported, the whole open."""
    responsible = {p["unit"]: p["id"] for p in people if not p.get("leader")}
    day = date(year, 3, 2)
    if until < day:
        return []
    assigned = datetime.combine(day, time(9, 0), tzinfo=tz)
    end = datetime.combine(until, time(23, 59, 59), tzinfo=tz)
    # The type with the longest time limit (an item given its own due_at is a 年度重大事项 only).
    task_type = max(
        (t for t in scheme.task_types.values() if t.id != "major_item"),
        key=lambda t: due_at(assigned_at=assigned, limit=t.limit, calendar=calendar, tz=tz),
    )
    due = due_at(assigned_at=assigned, limit=task_type.limit, calendar=calendar, tz=tz)
    span = due - assigned
    out: list[Record] = []
    for township in sorted({parent for _, _, parent in VILLAGES}):
        if township not in responsible:
            continue
        parent_id = f"P{year}-{township}"
        out.append(_task(parent_id, PARENT_TASK, township, task_type.id, assigned, responsible))
        villages = [u for u, _, parent in VILLAGES if parent == township]
        for n, village in enumerate(villages, start=1):
            title = f"{PARENT_TASK}：{village}"
            part = _task(f"{parent_id}.{n}", title, village, task_type.id, assigned, responsible)
            part["parent"] = parent_id
            out.append(part)
            # The first 村 has done its part; the second has reported it, and waits for the check.
            steps = [("accept", 0.1), ("report", 0.3 * n)]
            if n == 1:
                steps += [("verify", 0.4), ("close", 0.45)]
            for kind, share in steps:
                at = (assigned + span * share).replace(microsecond=0)
                if at <= end:
                    out.append({"type": "task_event", "task": part["id"], "kind": kind, "at": iso(at)})
    return out


def _task(
    task_id: str,
    title: str,
    lead: str,
    task_type: str,
    assigned: datetime,
    responsible: dict[str, str],
) -> Record:
    record: Record = {
        "type": "task",
        "id": task_id,
        "title": title,
        "task_type": task_type,
        "lead_unit": lead,
        "priority": "normal",
        "assigned_at": iso(assigned),
        "source": "乡镇任务分解",
    }
    if lead in responsible:
        record["responsible"] = responsible[lead]
    return record
