"""A deterministic sample county: a year of ledger records (FORMATS.md JSON Lines) generated from a scheme."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from services.common.calendar import WorkCalendar, due_at, progress_deadlines
from services.common.scheme import Metric, Scheme, TaskType, load_scheme

__all__ = ["DEPARTMENTS", "TOWNSHIPS", "sample_county", "write_jsonl"]

Record = dict[str, Any]

DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("fgj", "发改局"),
    ("czj", "财政局"),
    ("sfj", "司法局"),
    ("jyj", "教育局"),
    ("gaj", "公安局"),
    ("mzj", "民政局"),
    ("rsj", "人社局"),
    ("zrj", "自然资源局"),
    ("sthj", "生态环境局"),
    ("zjj", "住建局"),
    ("jtj", "交通运输局"),
    ("slj", "水利局"),
    ("nyj", "农业农村局"),
    ("swj", "商务局"),
    ("wlj", "文旅局"),
    ("wjw", "卫健委"),
    ("yjj", "应急管理局"),
    ("scj", "市场监管局"),
    ("tjj", "统计局"),
    ("ybj", "医保局"),
    ("lcj", "林草局"),
    ("sjj", "审计局"),
    ("xfj", "信访局"),
    ("spj", "行政审批局"),
    ("gxj", "工信局"),
)

TOWNSHIPS: tuple[tuple[str, str], ...] = (
    ("cgz", "城关镇"),
    ("mxz", "芒辛镇"),
    ("xcz", "新城镇"),
    ("hkz", "河口镇"),
    ("gqz", "高桥镇"),
    ("qsx", "青山乡"),
    ("smx", "石门乡"),
    ("llz", "柳林镇"),
    ("dyx", "大营乡"),
    ("byz", "白杨镇"),
    ("hxx", "红星乡"),
    ("nhz", "南湖镇"),
    ("bsx", "北塬乡"),
    ("dpz", "东坡镇"),
    ("yzx", "杨庄乡"),
)

# Departments that answer for emergencies alongside the townships.
_EMERGENCY_DEPARTMENTS = ("yjj", "gaj", "jtj", "zjj", "lcj", "slj", "wjw")

_TOPICS = (
    "重点项目用地保障",
    "民生实事资金拨付",
    "农村人居环境整治",
    "高标准农田建设",
    "营商环境优化提升",
    "招商引资项目签约",
    "安全生产隐患排查",
    "防汛备汛",
    "森林防火巡查",
    "义务教育薄弱环节改善",
    "医保基金监管",
    "乡村振兴衔接资金使用",
    "老旧小区改造",
    "城乡供水一体化",
    "秸秆禁烧",
    "冬季清洁取暖",
    "根治欠薪",
    "食品安全抽检",
    "信访积案化解",
    "河湖长制巡河",
    "规上工业企业培育",
    "重点项目开工复工",
    "耕地保护和违法用地整治",
    "黑臭水体治理",
    "养老服务设施建设",
    "就业创业补贴发放",
    "低保动态管理",
    "道路交通安全整治",
    "环保督察反馈问题整改",
    "政务服务一网通办",
    "统计数据质量核查",
    "市场主体培育",
    "文旅项目推进",
    "农产品冷链物流建设",
    "电商进农村",
    "校园安全管理",
    "自建房安全专项整治",
    "燃气安全排查",
    "城乡环卫一体化",
    "数字乡村建设",
)
_INCIDENTS = (
    "道路交通事故",
    "山体滑坡",
    "民房火灾",
    "强降雨致道路中断",
    "森林火情",
    "燃气泄漏",
    "危化品运输车辆侧翻",
    "人员聚集",
    "溺水事故",
    "建筑工地坍塌",
    "冰雹灾害",
    "大面积停水停电",
)
_HOTLINE = (
    "小区物业服务纠纷",
    "农民工工资拖欠",
    "道路积水",
    "夜间施工噪声扰民",
    "路灯不亮",
    "供暖温度不达标",
    "违章搭建",
    "占道经营",
    "医保报销咨询",
    "学位申请咨询",
    "养老金领取",
    "排水管网堵塞",
)
_REJECT_NOTES = (
    "缺少佐证材料",
    "数据口径与统计部门不一致",
    "未见实质性进展，请补充",
    "反馈内容与交办要求不符",
)
_CANCEL_NOTES = (
    "上级已调整部署",
    "事项已并入其他督办件",
    "交办单位有误，已重新交办",
    "情况发生变化，无需办理",
)
_PROGRESS_NOTES = ("已完成阶段性任务", "正在推进，按计划实施", "已召开专题会议研究部署", "已完成方案制定")
_ERROR_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "meeting": ("会议材料未按时报送", "参会人员无故缺席", "会议通知传达不及时", "会场准备不到位"),
    "drafting": ("报送材料数据口径不一致", "代拟文稿格式不规范", "文件材料出现明显错漏", "汇报材料篇幅冗长"),
    "implementation": ("重点工作推进不力", "督办事项逾期未办结", "交办事项反馈不实", "整改落实不到位"),
    "information": ("值班信息迟报", "突发事件信息漏报", "报送数据与行业部门不一致", "政务信息报送质量不高"),
    "other": ("请销假制度执行不严", "政务公开信息更新不及时", "12345工单回复不规范"),
}
_ERROR_CATEGORY_WEIGHTS = (
    ("meeting", 2),
    ("drafting", 3),
    ("implementation", 4),
    ("information", 3),
    ("other", 1),
)
_SEVERITY_WEIGHTS = (("general", 65), ("serious", 27), ("grave", 8))
_LEVEL_WEIGHTS = (("county", 45), ("municipal", 30), ("provincial", 18), ("national", 7))
_LEVEL_REASONS = {
    "national": ("入选国家级试点", "获国家级表彰"),
    "provincial": ("获省政府通报表扬", "经验做法在全省推广"),
    "municipal": ("获市级先进集体", "市级考核争先进位"),
    "county": ("县级特色创新工作", "重点工作攻坚表现突出"),
}
_ACCOUNTABILITY_REASONS = {
    "interview": "重点工作落实不力，工作约谈",
    "circulated_criticism": "督办事项逾期未反馈，通报批评",
    "admonishment": "落实上级决策部署不力，诫勉谈话",
    "disciplinary": "违反工作纪律，受到政务处分",
}


@dataclass(frozen=True)
class _Profile:
    """How often a task type occurs in a year and how its titles read."""

    count: int
    pool: str  # "any", "department" or "emergency"
    source: str
    titles: tuple[str, ...]


_PROFILES: dict[str, _Profile] = {
    "instruction_relay": _Profile(
        50, "any", "上级领导指示批示", ("传达市委主要领导批示：{topic}", "传达县长批示：{topic}")
    ),
    "urgent_document": _Profile(70, "any", "上级特急文件", ("特急文件批办：关于做好{topic}工作的紧急通知",)),
    "emergency_call": _Profile(30, "emergency", "县总值班室", ("电话报告：{place}{incident}",)),
    "emergency_written": _Profile(30, "emergency", "县总值班室", ("书面报告：{place}{incident}",)),
    "security_incident_info": _Profile(
        20, "emergency", "县总值班室", ("安全稳定信息报送：{place}{incident}",)
    ),
    "leader_directive": _Profile(
        260,
        "any",
        "县政府领导批示",
        ("落实县长批示：{topic}", "落实副县长批示：{topic}", "落实县委交办事项：{topic}"),
    ),
    "meeting_decision": _Profile(
        220, "any", "县政府常务会议", ("县政府常务会议确定事项：{topic}", "专题会议确定事项：{topic}")
    ),
    "draft_revision": _Profile(
        50, "department", "县政府常务会议", ("代拟文件修改印发：关于推进{topic}的实施意见",)
    ),
    "revision_comments": _Profile(
        30, "department", "县政府领导修改意见", ("按领导意见修改送审：{topic}工作方案",)
    ),
    "major_revision": _Profile(15, "department", "县政府领导修改意见", ("重大修改送审：{topic}实施方案",)),
    "countersign": _Profile(110, "department", "县政府办公室", ("会签：{topic}工作方案",)),
    "minutes_signoff": _Profile(50, "department", "县政府办公室", ("会议纪要签发：{topic}专题会议",)),
    "supervision_letter": _Profile(90, "any", "督办函", ("督办函：{topic}进度滞后",)),
    "supporting_document_draft": _Profile(15, "department", "上级文件", ("配套文件送审：{topic}实施细则",)),
    "supporting_document": _Profile(25, "department", "上级文件", ("配套文件出台：{topic}实施细则",)),
    "hotline_request": _Profile(180, "any", "12345热线", ("12345工单：{hotline}",)),
    "deputy_proposal": _Profile(
        35,
        "department",
        "人大代表建议、政协提案",
        ("人大代表建议办理：关于加快{topic}的建议", "政协提案办理：关于{topic}的提案"),
    ),
    "public_commitment": _Profile(12, "any", "县政府公开承诺", ("公开承诺事项：{topic}",)),
    "inspection_rectification": _Profile(
        20, "any", "巡察审计反馈", ("巡察反馈问题整改：{topic}", "审计反馈问题整改：{topic}")
    ),
}
_DEFAULT_COUNT = 30
_ASSIGN_HOURS = (8 * 60 + 30, 17 * 60 + 30)  # tasks are assigned during office hours, 5-minute grain
_OFFICE_HOURS = (9 * 60, 18 * 60)  # reports, verifications and closings


@dataclass
class _Task:
    """A generated task while its events are written."""

    record: Record
    task_type: TaskType
    lead: str
    assigned: datetime
    due: datetime
    events: list[tuple[str, datetime, str | None]] = field(default_factory=list)

    @property
    def counted_report(self) -> datetime | None:
        """The report that stands (the latest one not rejected after it), among the kept events."""
        reports: list[datetime] = []
        for kind, at, _ in self.events:
            if kind == "report":
                reports.append(at)
            elif kind == "reject" and reports:
                reports.pop()
        return reports[-1] if reports else None

    @property
    def cancelled(self) -> bool:
        return any(kind == "cancel" for kind, _, _ in self.events)


def sample_county(
    *, scheme_text: str, year: int, until: date | None = None, seed: int = 20261
) -> list[Record]:
    """Ledger records of a sample county of ~40 units for a year, assigned up to until (default Dec 31)."""
    scheme = load_scheme(scheme_text, source="sample scheme")
    return _Generator(
        scheme=scheme, year=year, until=until or date(year, 12, 31), rng=random.Random(seed)
    ).run()


def write_jsonl(records: Iterable[Record], path: str | os.PathLike[str]) -> None:
    """Write records as UTF-8 JSON Lines, one compact object per line."""
    with Path(path).open("w", encoding="utf-8", newline="\n") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            f.write("\n")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, int]], allowed: Iterable[str]) -> str | None:
    known = set(allowed)
    choices = [(name, w) for name, w in pairs if name in known]
    # Names the scheme has beyond the usual ones still occur, rarely.
    choices += [(name, 1) for name in sorted(known - {n for n, _ in pairs})]
    if not choices:
        return None
    return rng.choices([n for n, _ in choices], weights=[w for _, w in choices])[0]


class _Generator:
    """One pass of generation; every random draw comes from one Random, in a fixed order."""

    def __init__(self, *, scheme: Scheme, year: int, until: date, rng: random.Random) -> None:
        self.scheme = scheme
        self.year = year
        self.rng = rng
        self.tz = scheme.tz
        self.calendar: WorkCalendar = scheme.calendar()
        self.first_day = date(year, 1, 1)
        self.last_day = min(until, date(year, 12, 31))  # last day tasks and records are dated
        self.until_end = datetime.combine(until, time(23, 59, 59), tzinfo=self.tz)
        self.full_year = until >= date(year, 12, 31)
        self.days = [
            self.first_day + timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1)
        ]
        self.working_days = [d for d in self.days if self.calendar.is_working_day(d)]
        self.units: list[tuple[str, str, str]] = [(u, n, "department") for u, n in DEPARTMENTS] + [
            (u, n, "township") for u, n in TOWNSHIPS
        ]
        self.names = {u: n for u, n, _ in self.units}
        self.departments = [u for u, _, c in self.units if c == "department"]
        self.townships = [u for u, _, c in self.units if c == "township"]

    # --- the whole ledger -------------------------------------------------------------------

    def run(self) -> list[Record]:
        out: list[Record] = [{"type": "unit", "id": u, "name": n, "category": c} for u, n, c in self.units]
        if not self.days:
            return out
        tasks = self._tasks()
        for task in tasks:
            out.append(task.record)
            out.extend(
                {"type": "task_event", "task": task.record["id"], "kind": kind, "at": _iso(at)}
                | ({"note": note} if note else {})
                for kind, at, note in task.events
            )
        errors = self._error_reports()
        appeals, appealed = self._appeals(errors)
        out.extend(errors)
        out.extend(appeals)
        out.extend(self._readings())
        out.extend(self._incentives())
        out.extend(self._tolerances(tasks, errors, appealed))
        out.extend(self._accountability())
        return out

    # --- time helpers -----------------------------------------------------------------------

    def _at(self, d: date, minutes: int) -> datetime:
        return datetime.combine(d, time(minutes // 60, minutes % 60), tzinfo=self.tz)

    def _office_time(self, d: date) -> datetime:
        return self._at(d, self.rng.randrange(*_OFFICE_HOURS))

    def _working_day_after(self, d: date, n: int) -> date:
        return self.calendar.add_working_days(d, n)

    def _random_day(
        self, *, working: bool, start: date | None = None, end: date | None = None
    ) -> date | None:
        pool = self.working_days if working else self.days
        lo, hi = start or self.first_day, end or self.last_day
        candidates = [d for d in pool if lo <= d <= hi]
        return self.rng.choice(candidates) if candidates else None

    # --- tasks ------------------------------------------------------------------------------

    def _tasks(self) -> list[_Task]:
        share = len(self.days) / (date(self.year + 1, 1, 1) - self.first_day).days
        drafts: list[_Task] = []
        for type_id, task_type in self.scheme.task_types.items():
            if type_id == "major_item":
                drafts.extend(self._major_items(task_type))
                continue
            profile = _PROFILES.get(type_id, _Profile(_DEFAULT_COUNT, "any", task_type.name, ()))
            for _ in range(max(1, round(profile.count * share))):
                drafts.append(self._task(task_type, profile))
        drafts.sort(key=lambda t: t.assigned)  # stable: ties keep generation order
        for n, task in enumerate(drafts, start=1):
            task.record["id"] = f"T{self.year}-{n:04d}"
            task.events = self._events(task)
        return drafts

    def _short(self, task_type: TaskType) -> bool:
        return task_type.limit.unit in ("minutes", "hours")

    def _lead(self, pool: str) -> str:
        if pool == "department":
            return self.rng.choice(self.departments)
        if pool == "emergency":
            return self.rng.choice(self.townships + self.townships + list(_EMERGENCY_DEPARTMENTS))
        return self.rng.choice(self.departments + self.townships)

    def _priority(self, *, emergency: bool) -> str:
        weights = (
            (("urgent", 70), ("important", 25), ("normal", 5))
            if emergency
            else (("normal", 70), ("important", 22), ("urgent", 8))
        )
        return _weighted(self.rng, weights, self.scheme.timeliness.priority_weights) or "normal"

    def _title(self, task_type: TaskType, profile: _Profile, lead: str) -> str:
        template = self.rng.choice(profile.titles) if profile.titles else f"{task_type.name}：{{topic}}"
        return template.format(
            topic=self.rng.choice(_TOPICS),
            incident=self.rng.choice(_INCIDENTS),
            hotline=self.rng.choice(_HOTLINE),
            place=self.names[lead] + "辖区" if lead in self.townships else "",
        )

    def _task(self, task_type: TaskType, profile: _Profile) -> _Task:
        short = self._short(task_type)
        if short:
            # Emergencies and urgent papers arrive at any hour of any day, mostly in the daytime.
            d = self._random_day(working=False)
            lo, hi = (7 * 60, 21 * 60) if self.rng.random() < 0.8 else (0, 24 * 60)
            assigned = self._at(d or self.first_day, self.rng.randrange(lo, hi))
        else:
            d = self._random_day(working=True) or self.first_day
            assigned = self._at(d, self.rng.randrange(*_ASSIGN_HOURS, 5))
        lead = self._lead(profile.pool)
        co_units: list[str] = []
        if not short and self.rng.random() < 0.2:
            others = [u for u in self.departments + self.townships if u != lead]
            co_units = self.rng.sample(others, self.rng.choice((1, 1, 2)))
        record: Record = {
            "type": "task",
            "id": "",
            "title": self._title(task_type, profile, lead),
            "task_type": task_type.id,
            "lead_unit": lead,
        }
        if co_units:
            record["co_units"] = co_units
        record["priority"] = self._priority(emergency=profile.pool == "emergency")
        record["assigned_at"] = _iso(assigned)
        record["source"] = profile.source
        due = due_at(assigned_at=assigned, limit=task_type.limit, calendar=self.calendar, tz=self.tz)
        return _Task(record=record, task_type=task_type, lead=lead, assigned=assigned, due=due)

    def _major_items(self, task_type: TaskType) -> list[_Task]:
        """One annual major item per unit, set in the first quarter and due at the year's end (海阳 18)."""
        out: list[_Task] = []
        q1_end = min(date(self.year, 3, 31), self.last_day)
        due = datetime.combine(date(self.year, 12, 31), time(23, 59, 59), tzinfo=self.tz)
        for unit, _, _ in self.units:
            d = self._random_day(working=True, end=q1_end)
            if d is None:
                return out
            assigned = self._at(d, self.rng.randrange(*_ASSIGN_HOURS, 5))
            record: Record = {
                "type": "task",
                "id": "",
                "title": f"年度重大事项：{self.rng.choice(_TOPICS)}",
                "task_type": task_type.id,
                "lead_unit": unit,
                "priority": "important"
                if "important" in self.scheme.timeliness.priority_weights
                else "normal",
                "assigned_at": _iso(assigned),
                "due_at": _iso(due),
                "source": "年度重大事项清单",
            }
            out.append(_Task(record=record, task_type=task_type, lead=unit, assigned=assigned, due=due))
        return out

    # --- events -----------------------------------------------------------------------------

    def _report_on_time(self, task: _Task, after: datetime) -> datetime:
        if self._short(task.task_type):
            span = (task.due - task.assigned) / timedelta(minutes=1)
            return max(after, task.assigned) + timedelta(
                minutes=max(1, int(span * self.rng.uniform(0.2, 0.95)))
            )
        # Long items with periodic reports finish near their end; the rest anywhere in their time.
        lo = 0.75 if task.task_type.progress_every is not None else 0.15
        moment = after + (task.due - after) * self.rng.uniform(lo, 0.98)
        d = moment.date()
        while not self.calendar.is_working_day(d) and d > after.date():
            d -= timedelta(days=1)
        at = self._office_time(d)
        if at <= after:
            at = after + timedelta(minutes=self.rng.randrange(20, 180))
        return min(at, task.due - timedelta(minutes=self.rng.randrange(1, 60)))

    def _report_late(self, task: _Task) -> datetime:
        if self._short(task.task_type):
            return task.due + timedelta(minutes=self.rng.randrange(1, 120))
        days = min(10, 1 + int(self.rng.expovariate(0.45)))
        return self._office_time(self._working_day_after(task.due.date(), days))

    def _later(self, at: datetime, *, short: bool) -> datetime:
        """The office's next step: within hours in office time for emergencies, one to three working days otherwise."""
        if short:
            soon = at + timedelta(minutes=self.rng.randrange(10, 180))
            minutes = soon.hour * 60 + soon.minute
            if (
                soon.date() == at.date()
                and self.calendar.is_working_day(soon.date())
                and _OFFICE_HOURS[0] <= minutes < _OFFICE_HOURS[1]
            ):
                return soon
            return self._office_time(self._working_day_after(at.date(), 1))
        return self._office_time(self._working_day_after(at.date(), self.rng.choice((1, 1, 2, 3))))

    def _events(self, task: _Task) -> list[tuple[str, datetime, str | None]]:
        rng = self.rng
        short = self._short(task.task_type)
        events: list[tuple[str, datetime, str | None]] = []
        last = task.assigned
        if not short and rng.random() < 0.75:
            last = task.assigned + timedelta(minutes=rng.randrange(5, 240))
            events.append(("accept", last, None))
        fate = rng.random()
        if fate < 0.03:
            cancel_at = last + timedelta(hours=rng.randrange(1, 72))
            return self._keep([*events, ("cancel", cancel_at, rng.choice(_CANCEL_NOTES))])
        if fate < 0.07:
            report: datetime | None = None  # never reported: open, and overdue once due
        elif fate < 0.20:
            report = self._report_late(task)
        else:
            report = self._report_on_time(task, last)
        events.extend(self._progress(task, last, report))
        if report is None:
            return self._keep(events)
        if rng.random() < 0.08:
            events.append(("report", report, None))
            reject = self._later(report, short=short)
            events.append(("reject", reject, rng.choice(_REJECT_NOTES)))
            report = (
                reject + timedelta(minutes=rng.randrange(10, 90))
                if short
                else self._later(reject, short=False)
            )
        events.append(("report", report, None))
        if rng.random() < 0.65:
            verify = self._later(report, short=short)
            events.append(("verify", verify, "经核查已落实"))
            if rng.random() < 0.8:
                events.append(("close", verify + timedelta(minutes=rng.randrange(5, 60)), None))
        return self._keep(events)

    def _progress(
        self, task: _Task, after: datetime, report: datetime | None
    ) -> list[tuple[str, datetime, str | None]]:
        every = task.task_type.progress_every
        end = report or self.until_end
        out: list[tuple[str, datetime, str | None]] = []
        if every is not None:
            for deadline in progress_deadlines(
                assigned_at=task.assigned, due_at=task.due, every=every, calendar=self.calendar, tz=self.tz
            ):
                if self.rng.random() < 0.1:
                    continue  # a missed periodic report
                at = self._office_time(deadline.date() - timedelta(days=self.rng.randrange(0, 4)))
                if after < at < end:
                    out.append(("progress", at, self.rng.choice(_PROGRESS_NOTES)))
                    after = at
        elif task.task_type.limit.unit == "months" and self.rng.random() < 0.4:
            at = after + (min(end, task.due) - after) / 2
            if after < at < end:
                out.append(
                    ("progress", at.replace(second=0, microsecond=0), self.rng.choice(_PROGRESS_NOTES))
                )
        return out

    def _keep(self, events: list[tuple[str, datetime, str | None]]) -> list[tuple[str, datetime, str | None]]:
        """Events strictly in order (a minute apart at least) and none after the cutoff."""
        out: list[tuple[str, datetime, str | None]] = []
        prev: datetime | None = None
        for kind, at, note in events:
            if prev is not None and at <= prev:
                at = prev + timedelta(minutes=1)
            if at > self.until_end:
                break
            out.append((kind, at, note))
            prev = at
        return out

    # --- the other records ------------------------------------------------------------------

    def _error_reports(self) -> list[Record]:
        severities = list(self.scheme.error_reports.deductions)
        if not severities:
            return []
        drafts: list[tuple[date, Record]] = []
        count = max(2, round(len(self.units) * 1.2 * len(self.days) / 365))
        # Some units collect several reports, most one or none.
        unit_weights = [self.rng.choice((1, 1, 1, 2, 4)) for _ in self.units]
        for _ in range(count):
            unit = self.rng.choices([u for u, _, _ in self.units], weights=unit_weights)[0]
            d = self._random_day(working=True) or self.first_day
            category = _weighted(self.rng, _ERROR_CATEGORY_WEIGHTS, _ERROR_DESCRIPTIONS) or "other"
            severity = _weighted(self.rng, _SEVERITY_WEIGHTS, severities) or severities[0]
            drafts.append(
                (
                    d,
                    {
                        "type": "error_report",
                        "id": "",
                        "unit": unit,
                        "date": d.isoformat(),
                        "category": category,
                        "severity": severity,
                        "description": self.rng.choice(_ERROR_DESCRIPTIONS[category]),
                    },
                )
            )
        drafts.sort(key=lambda x: x[0])
        for n, (_, record) in enumerate(drafts, start=1):
            record["id"] = f"E{self.year}-{n:03d}"
        return [r for _, r in drafts]

    def _appeals(self, errors: list[Record]) -> tuple[list[Record], set[str]]:
        """Two appeals against early error reports: the first upheld (the report is voided), the second not."""
        latest = self.last_day - timedelta(days=21)
        candidates = [e for e in errors if date.fromisoformat(e["date"]) <= latest]
        picked = self.rng.sample(candidates, min(2, len(candidates)))
        out: list[Record] = []
        for n, (error, upheld) in enumerate(zip(picked, (True, False), strict=False), start=1):
            d = self._working_day_after(date.fromisoformat(error["date"]), self.rng.randrange(2, 8))
            reason = "材料已按时通过系统报送，系统记录可查" if upheld else "认为通报偏重，请求复核"
            out.append(
                {
                    "type": "appeal",
                    "id": f"AP{self.year}-{n:02d}",
                    "error_report": error["id"],
                    "date": d.isoformat(),
                    "upheld": upheld,
                    "reason": reason,
                }
            )
        return out, {e["id"] for e in picked}

    def _applies(self, metric: Metric) -> list[str]:
        if not metric.applies_to:
            return [u for u, _, _ in self.units]
        return [u for u, _, c in self.units if u in metric.applies_to or c in metric.applies_to]

    def _periods(self) -> tuple[list[str], list[str], bool]:
        """Months complete by the cutoff, the quarter ends among them, and whether the whole year is."""
        month_ends = [date(self.year, m + 1, 1) - timedelta(days=1) for m in range(1, 12)] + [
            date(self.year, 12, 31)
        ]
        months = [m for m, end in enumerate(month_ends, start=1) if end <= self.last_day]
        monthly = [f"{self.year}-{m:02d}" for m in months]
        quarterly = [f"{self.year}-{m:02d}" for m in months if m % 3 == 0]
        return monthly, quarterly, self.full_year

    def _readings(self) -> list[Record]:
        monthly, quarterly, full_year = self._periods()
        if not monthly:
            return []
        out: list[Record] = []
        for metric in self.scheme.metrics:
            for unit in self._applies(metric):
                if self.rng.random() < 0.03:
                    continue  # 缺报: the unit never reported this indicator
                cadence = self.rng.choice(
                    ("year", "quarter", "month", "month") if full_year else ("quarter", "month")
                )
                periods = {"year": [str(self.year)], "quarter": quarterly, "month": monthly}[
                    cadence
                ] or monthly
                meets = self.rng.random() < 0.75
                if metric.kind == "ratio":
                    out.extend(self._ratio_readings(metric, unit, periods, meets, len(monthly) / 12))
                else:
                    out.extend(self._value_readings(metric, unit, periods, meets, len(monthly) / 12))
        return out

    def _split(self, total: int, parts: int) -> list[int]:
        """An integer total spread over parts with some month-to-month variation (largest remainders)."""
        weights = [self.rng.uniform(0.4, 1.6) for _ in range(parts)]
        shares = [total * w / sum(weights) for w in weights]
        whole = [int(x) for x in shares]
        by_remainder = sorted(range(parts), key=lambda i: whole[i] - shares[i])
        for i in by_remainder[: total - sum(whole)]:
            whole[i] += 1
        return whole

    def _ratio_readings(
        self, metric: Metric, unit: str, periods: list[str], meets: bool, share: float
    ) -> list[Record]:
        rng = self.rng
        t = min(1.0, metric.target) if metric.direction == "min" else metric.target
        if metric.id == "court_appearance_rate":
            denominator = 0 if rng.random() < 0.15 else rng.randint(1, 6)
        elif metric.id == "livelihood_spending_share":
            denominator = rng.randint(150_000, 320_000)  # 万元 of general budget spending
        elif metric.id in ("unannounced_visit_share", "proposal_reply_rate"):
            denominator = rng.randint(8, 40)
        else:
            denominator = rng.randint(30, 600)
        denominator = max(0, round(denominator * (share if metric.id != "court_appearance_rate" else 1)))
        if metric.direction == "min":
            rate = (
                rng.uniform(t, min(1.0, t + (1 - t) * 0.6))
                if meets
                else rng.uniform(max(0.0, t - 0.3), t * 0.97)
            )
        else:
            rate = rng.uniform(t * 0.5, t) if meets else rng.uniform(t * 1.05, min(1.0, t * 1.6))
        rate = min(1.0, max(0.0, rate))
        out: list[Record] = []
        missed = False
        for period, d in zip(periods, self._split(denominator, len(periods)), strict=True):
            if d == 0 and (out or period != periods[-1]):
                continue  # a month without cases is not reported; a unit with none all year reports 0/0 once
            n = min(d, round(rate * d))
            if not meets and not missed and metric.direction == "min" and n == d and d > 0 and t >= 1.0:
                n, missed = d - 1, True  # below a 100% target means at least one miss
            out.append(
                {
                    "type": "metric_reading",
                    "unit": unit,
                    "metric": metric.id,
                    "period": period,
                    "numerator": n,
                    "denominator": d,
                }
            )
        return out

    def _value_readings(
        self, metric: Metric, unit: str, periods: list[str], meets: bool, share: float
    ) -> list[Record]:
        rng = self.rng
        t = metric.target
        integral = float(t).is_integer() and metric.aggregate == "sum"
        if metric.aggregate == "sum":
            if metric.direction == "min":
                total = t * share * (rng.uniform(1.0, 1.4) if meets else rng.uniform(0.4, 0.95))
            else:
                total = t * share * (rng.uniform(0.0, 1.0) if meets else rng.uniform(1.5, 3.5))
            if integral:
                whole = round(total)
                if meets and metric.direction == "min":
                    whole = max(whole, int(-(-t * share // 1)))  # the ceiling, so met stays met
                values: list[float] = [float(v) for v in self._split(whole, len(periods))]
            else:
                weights = [rng.uniform(0.5, 1.5) for _ in periods]
                values = [round(total * w / sum(weights), 2) for w in weights]
        else:
            lo, hi = (t, t * 1.04) if meets else (t * 0.85, t * 0.98)
            if metric.direction == "max":
                lo, hi = (t * 0.6, t) if meets else (t * 1.05, t * 1.6)
            values = [round(rng.uniform(lo, hi), 2) for _ in periods]
        return [
            {
                "type": "metric_reading",
                "unit": unit,
                "metric": metric.id,
                "period": period,
                "value": int(v) if integral else v,
            }
            for period, v in zip(periods, values, strict=True)
        ]

    def _incentives(self) -> list[Record]:
        levels = list(self.scheme.incentives.points)
        if not levels:
            return []
        drafts: list[tuple[date, Record]] = []
        for _ in range(max(1, round(len(self.units) * 0.6 * len(self.days) / 365))):
            level = _weighted(self.rng, _LEVEL_WEIGHTS, levels) or levels[0]
            d = self._random_day(working=True) or self.first_day
            reason = self.rng.choice(_LEVEL_REASONS.get(level, ("表彰奖励",)))
            drafts.append(
                (
                    d,
                    {
                        "type": "incentive",
                        "id": "",
                        "unit": self.rng.choice(self.units)[0],
                        "date": d.isoformat(),
                        "level": level,
                        "reason": reason,
                    },
                )
            )
        drafts.sort(key=lambda x: x[0])
        for n, (_, record) in enumerate(drafts, start=1):
            record["id"] = f"I{self.year}-{n:03d}"
        return [r for _, r in drafts]

    def _tolerances(self, tasks: list[_Task], errors: list[Record], appealed: set[str]) -> list[Record]:
        """容错 decisions on late tasks (for their lead unit) and on error reports nobody appealed."""
        late = [t for t in tasks if (r := t.counted_report) is not None and r > t.due and not t.cancelled]
        open_errors = [e for e in errors if e["id"] not in appealed]
        picks: list[tuple[str, str, str, date]] = []
        for task in self.rng.sample(late, min(5, len(late))):
            report = task.counted_report
            assert report is not None
            picks.append(("task", task.record["id"], task.lead, report.date()))
        for error in self.rng.sample(open_errors, min(4, len(open_errors))):
            picks.append(("error_report", error["id"], error["unit"], date.fromisoformat(error["date"])))
        out: list[tuple[date, Record]] = []
        for target_type, target, unit, since in picks:
            d = since + timedelta(days=self.rng.randrange(2, 15))
            if d > self.last_day:
                continue
            decision = "exempt" if self.rng.random() < 0.4 else "mitigate"
            reason = (
                "因防汛抢险临时调整，符合容错情形"
                if decision == "exempt"
                else "探索性改革中出现失误，已及时纠正"
            )
            out.append(
                (
                    d,
                    {
                        "type": "tolerance",
                        "id": "",
                        "unit": unit,
                        "target_type": target_type,
                        "target": target,
                        "decision": decision,
                        "date": d.isoformat(),
                        "reason": reason,
                    },
                )
            )
        out.sort(key=lambda x: x[0])
        for n, (_, record) in enumerate(out, start=1):
            record["id"] = f"R{self.year}-{n:02d}"
        return [r for _, r in out]

    def _accountability(self) -> list[Record]:
        kinds = self.scheme.accountability.kinds
        mild = [k for k, v in kinds.items() if not v.veto]
        veto = [k for k, v in kinds.items() if v.veto]
        drafts: list[tuple[date, Record]] = []
        for _ in range(round(len(self.units) / 6 * len(self.days) / 365) if mild else 0):
            kind = _weighted(
                self.rng, (("interview", 6), ("circulated_criticism", 3), ("admonishment", 1)), mild
            )
            d = self._random_day(working=True) or self.first_day
            drafts.append(
                (
                    d,
                    {
                        "type": "accountability",
                        "id": "",
                        "unit": self.rng.choice(self.units)[0],
                        "date": d.isoformat(),
                        "kind": kind,
                        "reason": _ACCOUNTABILITY_REASONS.get(kind or "", "追责问责"),
                    },
                )
            )
        if veto:
            # One rare 一票否决 in the county: a department's official disciplined.
            kind = veto[0]
            d = self._random_day(working=True) or self.first_day
            drafts.append(
                (
                    d,
                    {
                        "type": "accountability",
                        "id": "",
                        "unit": self.rng.choice(self.departments),
                        "date": d.isoformat(),
                        "kind": kind,
                        "reason": _ACCOUNTABILITY_REASONS.get(kind, "受到党纪政务处分"),
                    },
                )
            )
        drafts.sort(key=lambda x: x[0])
        for n, (_, record) in enumerate(drafts, start=1):
            record["id"] = f"A{self.year}-{n:02d}"
        return [r for _, r in drafts]
