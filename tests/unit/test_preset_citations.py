"""Every preset's citations checked against the seeds' own words, and every number either cited or 自定.

The machine-readable form, in a TOML comment: `依据：<县> <条>「<原文>」` — the county (英吉沙, 汶上, 宁强,
海阳, or 增强县政 for the county-less seed), the clause (the item number as the seed prints it: 10 for
英吉沙 "10.", 十三 for 汶上 "（十三）"), and words that stand in that clause (spaces and line breaks
aside). One clause may give several quotes 「…」「…」; several citations are separated by "；".
`自定：<理由>` marks a number no seed says, with the reason.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "tests" / "data" / "seeds"
SCHEMES = ROOT / "schemes"
COUNTIES = {
    "英吉沙": "yingjisha",
    "汶上": "wenshang",
    "宁强": "ningqiang",
    "海阳": "haiyang",
    "增强县政": "zengqiang",
}
PRESETS = ("yingjisha", "wenshang", "ningqiang", "haiyang", "default")
CHINESE = "一二三四五六七八九十"
CITATION = re.compile(
    r"依据：\s*(?P<county>\S+?)\s*(?P<clause>[0-9一二三四五六七八九十]+)\s*(?P<quotes>(?:「[^」]+」)+)"
)
QUOTE = re.compile(r"「([^」]+)」")
# A number a scheme sets: a bare number, or a limit's amount.
NUMBER = re.compile(r"^\s*[A-Za-z_]+\s*=\s*(?:-?[0-9.]+\b|\{\s*amount\s*=)")


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def chinese_number(n: int) -> str:
    if n <= 10:
        return CHINESE[n - 1]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CHINESE[tens - 1]) + "十" + (CHINESE[ones - 1] if ones else "")


def clauses(county: str) -> dict[str, str]:
    """The seed's items by number as the seed prints it, each from its heading to the next heading."""
    text = (SEEDS / f"{COUNTIES[county]}.txt").read_text(encoding="utf-8")
    if county == "汶上":
        heading = re.compile(r"^\s*（([一二三四五六七八九十]+)）", re.MULTILINE)
    else:
        heading = re.compile(r"^\s*([0-9]+)\s*[.．、]", re.MULTILINE)
    # Sections (一、) and items both end the item before them.
    any_heading = re.compile(
        r"^\s*(?:（[一二三四五六七八九十]+）|[一二三四五六七八九十]+、|[0-9]+\s*[.．、])", re.MULTILINE
    )
    starts = [m.start() for m in any_heading.finditer(text)] + [len(text)]
    found: dict[str, str] = {}
    for match in heading.finditer(text):
        end = next(s for s in starts if s > match.start())
        # The county-less seed numbers 1、2、3 afresh in each section: its clauses are section-qualified
        # in prose, so only the first of each number is kept (the presets cite it only for general words).
        found.setdefault(match.group(1), squeeze(text[match.start() : end]))
    return found


@dataclass(frozen=True)
class Citation:
    preset: str
    line: int
    county: str
    clause: str
    quotes: tuple[str, ...]


def citations(preset: str) -> list[Citation]:
    out = []
    for number, line in enumerate((SCHEMES / f"{preset}.toml").read_text(encoding="utf-8").splitlines(), 1):
        comment = line.partition("#")[2]
        for match in CITATION.finditer(comment):
            quotes = tuple(QUOTE.findall(match.group("quotes")))
            out.append(Citation(preset, number, match.group("county"), match.group("clause"), quotes))
        assert comment.count("依据：") == len(CITATION.findall(comment)), (
            f"{preset}.toml:{number}: 依据 not in the form"
        )
    return out


ALL = [c for preset in PRESETS for c in citations(preset)]


def test_the_seeds_are_in_the_repository_and_every_county_has_clauses() -> None:
    for county in COUNTIES:
        found = clauses(county)
        assert len(found) >= 4, county
    assert "赶超进位" in clauses("英吉沙")["6"] and "赶超进位" not in clauses("英吉沙")["5"]
    assert "会签时间不超过5个工作日" in clauses("汶上")[chinese_number(11)]


@pytest.mark.parametrize("citation", ALL, ids=[f"{c.preset}:{c.line}" for c in ALL])
def test_each_quote_stands_in_the_clause_it_names(citation: Citation) -> None:
    assert citation.county in COUNTIES, f"unknown county {citation.county}"
    found = clauses(citation.county)
    assert citation.clause in found, f"{citation.county} has no clause {citation.clause}"
    for quote in citation.quotes:
        assert squeeze(quote) in found[citation.clause], (
            f"{citation.county} {citation.clause} does not say「{quote}」"
        )


@pytest.mark.parametrize("preset", PRESETS)
def test_every_number_is_cited_or_marked_self_set_with_a_reason(preset: str) -> None:
    lines = (SCHEMES / f"{preset}.toml").read_text(encoding="utf-8").splitlines()
    tomllib.loads("\n".join(lines))
    section, header = "", ""
    bare = []
    for number, line in enumerate(lines, 1):
        code, _, comment = line.partition("#")
        if code.strip().startswith("["):
            section, header = code.strip(), comment
            continue
        if section in ("[scheme]", "[calendar]") or not NUMBER.match(code):
            continue
        limit = re.match(r"\s*(limit|progress_every)\s*=", code) is not None
        said = comment if not limit or "依据：" in comment or "自定：" in comment else header
        if not (CITATION.search(said) or re.search(r"自定：[^#]{4,}", said)):
            bare.append(f"{preset}.toml:{number}: {line.strip()}")
    assert bare == []


def test_the_wrong_citations_of_the_issue_are_gone() -> None:
    wenshang = (SCHEMES / "wenshang.toml").read_text(encoding="utf-8")
    for wrong in ("目标 — 汶上 六", "目标 — 汶上 十三", "目标 — 汶上 八"):
        assert wrong not in wenshang
    cited = {(c.county, c.clause) for c in citations("yingjisha") if any("赶超进位" in q for q in c.quotes)}
    assert cited == {("英吉沙", "6")}


@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_names_its_jurisdiction_and_its_bulletin_issuer(preset: str) -> None:
    scheme = tomllib.loads((SCHEMES / f"{preset}.toml").read_text(encoding="utf-8"))
    assert "issuer" in scheme["bulletin"]
    if preset != "default":
        assert scheme["scheme"]["jurisdiction"].endswith(("县", "市"))
