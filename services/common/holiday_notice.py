"""The State Council's holiday notice (国务院办公厅关于YYYY年部分节假日安排的通知) read from its text."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from services.common.errors import FieldViolation, InvalidArgument

__all__ = ["HolidayItem", "HolidayNotice", "parse_notice", "written_date"]

# The festivals a notice arranges; an item names one or several of them (六、中秋节、国庆节：…).
FESTIVALS = ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")
_WEEKDAYS = "一二三四五六日"
_NUMERAL = "[一二三四五六七八九十]{1,3}"
_TITLE = re.compile(r"关于(\d{4})年(?:部分)?节假日安排的通知")
_ITEM = re.compile(rf"^({_NUMERAL})[、.](.*)$")
# Items copied from a web page often run on in one paragraph: each numbered festival starts a new one.
_ITEM_START = re.compile(rf"(?<=[。;])(?={_NUMERAL}[、.](?:{'|'.join(FESTIVALS)}))")
_DATE = re.compile(
    r"(?:(?P<y>\d{4})年)?(?:(?P<m>\d{1,2})月)?(?P<d>\d{1,2})日"
    r"(?:\((?P<note>[^()]*)\)|(?P<bare>(?:星期|周)[一二三四五六日天]))?"
)
_WEEKDAY = re.compile(r"(?:星期|周)([一二三四五六日天])")
_RANGE = re.compile(r"(?:至|到|—|–|-|~|－)")
_LIST = re.compile(r"(?:、|和|及)")
_CLAUSES = re.compile(r"[。;,]")
# Sentences that explain the arrangement (2008–2010: "其中，1月1日为法定节假日，…公休日调至1月2日")
# repeat dates that the 放假 and 上班 sentences already say.
_EXPLAINING = ("调至", "为法定节假日", "为公休日", "照常公休", "调休", "其中")
# A notice that lasts longer than this is a misreading, not a holiday (the longest, 2020's, was 10 days).
_LONGEST_RANGE = 15


@dataclass(frozen=True)
class HolidayItem:
    """One numbered item: the festivals it names, its days off and its make-up working days (调休上班)."""

    festivals: tuple[str, ...]
    holidays: tuple[date, ...]
    workdays: tuple[date, ...]


@dataclass(frozen=True)
class HolidayNotice:
    """A year's notice: 放假 dates are holidays, 上班 dates are working days, others Monday to Friday."""

    year: int
    items: tuple[HolidayItem, ...]

    @property
    def holidays(self) -> frozenset[date]:
        """Every 放假 (and 补休) date of the notice."""
        return frozenset(d for item in self.items for d in item.holidays)

    @property
    def workdays(self) -> frozenset[date]:
        """Every 上班 date of the notice (the make-up working days)."""
        return frozenset(d for item in self.items for d in item.workdays)

    def canonical(self) -> str:
        """The notice as canonical JSON: what it decides, whatever the wording or layout of its text."""
        return json.dumps(
            {
                "year": self.year,
                "items": [
                    {
                        "festivals": list(i.festivals),
                        "holidays": [d.isoformat() for d in i.holidays],
                        "workdays": [d.isoformat() for d in i.workdays],
                    }
                    for i in self.items
                ],
            },
            ensure_ascii=False,
            sort_keys=True,
        )

    @property
    def sha256(self) -> str:
        """The SHA-256 of canonical(): two notices with the same digest decide the same days."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()

    @classmethod
    def from_canonical(cls, text: str) -> HolidayNotice:
        """The notice canonical() wrote."""
        raw = json.loads(text)
        return cls(
            year=int(raw["year"]),
            items=tuple(
                HolidayItem(
                    festivals=tuple(i["festivals"]),
                    holidays=tuple(date.fromisoformat(d) for d in i["holidays"]),
                    workdays=tuple(date.fromisoformat(d) for d in i["workdays"]),
                )
                for i in raw["items"]
            ),
        )


def written_date(d: date) -> str:
    """A date as a notice writes it: 2027年1月4日（周一）."""
    return f"{d.year}年{d.month}月{d.day}日（周{_WEEKDAYS[d.weekday()]}）"


class _Unreadable(Exception):
    """Why an item line cannot be read (Chinese)."""


def parse_notice(text: str, *, year: int = 0) -> HolidayNotice:
    """The notice in text; year (0: read from the title) is the year it arranges.

    InvalidArgument names the first item line that cannot be read, with its number and the reason.
    """
    lines = [_normalise(line) for line in text.splitlines()]
    year = _notice_year(lines, year)
    items: list[HolidayItem] = []
    for number, line in enumerate(lines, start=1):
        for part in _ITEM_START.split(line):
            match = _ITEM.match(part)
            if match is None:
                continue
            try:
                item = _item(match.group(2), year)
            except _Unreadable as why:
                shown = text.splitlines()[number - 1].strip()
                raise InvalidArgument(
                    FieldViolation(f"第{number}行", f"无法读出：「{shown}」（{why}）")
                ) from None
            if item is not None:
                items.append(item)
    if not items:
        raise InvalidArgument("通知", "没有读到任何节假日条目（应有“一、元旦：1月1日放假……”这样的编号条目）")
    notice = HolidayNotice(year=year, items=tuple(items))
    clash = notice.holidays & notice.workdays
    if clash:
        days = "、".join(written_date(d) for d in sorted(clash))
        raise InvalidArgument("通知", f"{days} 既写作放假又写作上班")
    return notice


def _normalise(line: str) -> str:
    # NFKC turns full-width digits, brackets, colons, commas and semicolons into their half-width
    # forms; notices are typed both ways, and copied text brings odd spaces.
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", line))


def _notice_year(lines: list[str], given: int) -> int:
    titled = next((int(m.group(1)) for line in lines if (m := _TITLE.search(line))), 0)
    if given and titled and given != titled:
        raise InvalidArgument("year", f"指定的年份 {given} 与通知标题中的 {titled} 年不一致")
    year = given or titled
    if not year:
        raise InvalidArgument(
            "year", "未能从标题（国务院办公厅关于YYYY年部分节假日安排的通知）读出年份，请用 --year 指明"
        )
    if not 2000 <= year <= 2100:
        raise InvalidArgument("year", f"{year} 不是一个可用的年份（应在 2000 至 2100 之间）")
    return year


def _item(body: str, year: int) -> HolidayItem | None:
    """The item a numbered paragraph states; None for a numbered paragraph that names no date."""
    head, colon, rest = body.partition(":")
    festivals = tuple(_LIST.split(head))
    # A one-off day off (2015: 抗战胜利70周年纪念日) comes by its own notice, in the same wording.
    unknown = [f for f in festivals if f not in FESTIVALS and not f.endswith("纪念日")]
    if (not colon or unknown) and _DATE.search(body) is None:
        return None
    if not colon:
        raise _Unreadable("编号后应是节日名称和冒号，如“一、元旦：”")
    if unknown:
        raise _Unreadable(f"“{'、'.join(unknown)}”不是通知安排的节日（{'、'.join(FESTIVALS)}）")
    holidays: list[date] = []
    workdays: list[date] = []
    for clause in _CLAUSES.split(rest):
        if "调至" in clause:
            continue
        says = "上班" in clause or "放假" in clause or "补休" in clause
        if not says and any(word in clause for word in _EXPLAINING):
            continue
        # 元旦's item never speaks of December of its own year: 12月29日 there is the year before's.
        days = _dates(clause, year, december_before="元旦" in festivals)
        if not days:
            continue
        if "上班" in clause:
            workdays.extend(days)
        elif says:
            holidays.extend(days)
        else:
            raise _Unreadable(f"“{clause}”写了日期，但没有说放假、补休还是上班")
    if not holidays:
        raise _Unreadable("没有读到放假日期")
    for d in holidays + workdays:
        if abs(d.year - year) > 1:
            raise _Unreadable(f"{written_date(d)} 不在 {year} 年前后")
    return HolidayItem(festivals, tuple(sorted(set(holidays))), tuple(sorted(set(workdays))))


def _dates(clause: str, year: int, *, december_before: bool = False) -> list[date]:
    """Every date a clause names, ranges (至) expanded; a month or year left out is the one before it
    (december_before: a December without its year is the year before's)."""
    found: list[date] = []
    explicit_any = False
    month = 0
    last_end = 0
    in_range = False
    for match in _DATE.finditer(clause):
        between = clause[last_end : match.start()]
        explicit_year = match.group("y") is not None
        if explicit_year:
            year = int(match.group("y"))
            explicit_any = True
        if match.group("m"):
            month = int(match.group("m"))
        if not month:
            raise _Unreadable(f"“{match.group(0)}”没有月份")
        shifted = december_before and month == 12 and not explicit_any
        try:
            day = date(year - 1 if shifted else year, month, int(match.group("d")))
        except ValueError:
            raise _Unreadable(f"{year}年{month}月{match.group('d')}日 不是一个日期") from None
        _check_weekday(day, match.group("note") or match.group("bare") or "")
        joined_by_range = bool(found) and _RANGE.fullmatch(between) is not None
        if found and not joined_by_range and between and _LIST.fullmatch(between) is None:
            # Two dates with words between them (…上班，…放假) belong to different sentences.
            raise _Unreadable(f"“{between}”连接的两个日期无法理解")
        if joined_by_range and not in_range:
            start = found[-1]
            if day < start and not explicit_year:
                # 12月31日至1月2日: the range runs into the next year.
                day = day.replace(year=day.year + 1)
                year = day.year
            span = (day - start).days
            if span < 1 or span > _LONGEST_RANGE:
                raise _Unreadable(f"{written_date(start)} 至 {written_date(day)} 不是一段假期")
            found.extend(start + timedelta(days=k) for k in range(1, span + 1))
            in_range = True
        else:
            found.append(day)
            in_range = False
        last_end = match.end()
    return found


def _check_weekday(day: date, note: str) -> None:
    named = _WEEKDAY.search(note)
    if named is None:
        return
    weekday = "一二三四五六日天".index(named.group(1)) if named.group(1) != "天" else 6
    if weekday != day.weekday():
        raise _Unreadable(f"{day.month}月{day.day}日是周{_WEEKDAYS[day.weekday()]}，不是{named.group(0)}")
