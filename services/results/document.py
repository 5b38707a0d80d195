"""考核结果通报 and each unit's 考核结果反馈 as Word documents, in the bulletin's 公文 layout."""

from __future__ import annotations

import io
from datetime import date, datetime

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.shared import Pt

from services.bulletin.layout import (
    BODY_SIZE,
    RED,
    TITLE_FONT,
    TITLE_SIZE,
    Column,
    add_body,
    add_border,
    add_heading,
    add_paragraph,
    add_table,
    add_two_ends,
    set_default_fonts,
    set_up_page,
)
from services.common.vocabulary import GRADES, RUN_STATES, label_of
from services.results.model import Issue, Letter, Notice

RED_MASTHEAD = "FF0000"
_NOTICE_COLUMNS = (
    Column("名次", 18),
    Column("单位", 70, centred=False),
    Column("总分", 30),
    Column("等次", 38),
)
_SUMMARY_COLUMNS = (Column("项目", 78, centred=False), Column("分值", 78))
_LINE_COLUMNS = (
    Column("类别", 24),
    Column("事项", 40, centred=False),
    Column("得失分", 20),
    Column("说明", 72, centred=False),
)


def notice_title(issue: Issue) -> str:
    return f"关于{issue.year}年度目标责任考核结果的通报"


def letter_title(letter: Letter) -> str:
    return f"{letter.standing.name}{letter.issue.year}年度目标责任考核结果反馈"


def _day(moment: str) -> str:
    try:
        when = datetime.fromisoformat(moment).date() if moment else date.today()
    except ValueError:
        when = date.today()
    return f"{when.year}年{when.month}月{when.day}日"


def _points(value: float) -> str:
    return f"{value:.2f}"


def _signed(value: float) -> str:
    if abs(value) < 0.005:
        return "0.00"
    return f"+{value:.2f}" if value > 0 else f"−{-value:.2f}"


def _start(title: str, issue: Issue) -> DocumentObject:
    doc = Document()
    set_default_fonts(doc)
    set_up_page(doc)
    doc.core_properties.title = title
    doc.core_properties.author = issue.issuer
    doc.core_properties.language = "zh-CN"
    masthead = add_paragraph(
        doc,
        issue.issuer,
        font=TITLE_FONT,
        size=Pt(30),
        align=WD_ALIGN_PARAGRAPH.CENTER,
        indent_chars=0,
        color=RED,
    )
    masthead.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
    dated = add_two_ends(
        doc, f"{issue.year}年度目标责任考核", _day(issue.as_of), size=BODY_SIZE, indent=Pt(16)
    )
    add_border(dated, "bottom", eighths=12, color=RED_MASTHEAD)
    add_paragraph(doc, "", indent_chars=0)
    add_paragraph(
        doc, title, font=TITLE_FONT, size=TITLE_SIZE, align=WD_ALIGN_PARAGRAPH.CENTER, indent_chars=0
    )
    if issue.state == "draft":
        add_paragraph(doc, "（草稿，未经公示）", align=WD_ALIGN_PARAGRAPH.CENTER, indent_chars=0)
    add_paragraph(doc, "", indent_chars=0)
    return doc


def _finish(doc: DocumentObject, issue: Issue) -> bytes:
    add_paragraph(doc, "", indent_chars=0)
    for text in (issue.issuer, _day(issue.as_of)):
        paragraph = add_paragraph(doc, text, align=WD_ALIGN_PARAGRAPH.RIGHT, indent_chars=0)
        paragraph.paragraph_format.right_indent = Pt(BODY_SIZE.pt * 4)
    add_paragraph(doc, "", indent_chars=0)
    printed = add_two_ends(doc, issue.issuer, f"{_day(issue.as_of)}印发", size=Pt(14), indent=Pt(14))
    add_border(printed, "top", eighths=8)
    add_border(printed, "bottom", eighths=8)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _basis(issue: Issue) -> str:
    state = label_of(RUN_STATES, issue.state)
    return f"根据《{issue.scheme}》，{issue.year}年度目标责任考核结果（运行编号{issue.run}，{state}）"


def render_notice(notice: Notice) -> bytes:
    """考核结果通报: each category's units by grade, then its table by rank."""
    issue = notice.issue
    doc = _start(notice_title(issue), issue)
    add_paragraph(doc, "各有关单位：", indent_chars=0)
    add_body(doc, f"{_basis(issue)}已经产生。现将考核等次通报如下：")
    for number, category in enumerate(notice.categories, start=1):
        add_heading(doc, number, f"{category.label}（{category.count}个）")
        for group in category.groups:
            if group.units:
                named = "、".join(u.name for u in group.units)
                add_body(doc, f"{group.label}（{len(group.units)}个）：{named}。")
            else:
                add_body(doc, f"{group.label}：无。")
        rows = [
            [
                str(u.rank),
                u.name,
                _points(u.total),
                label_of(GRADES, u.grade) + ("（一票否决）" if u.veto else ""),
            ]
            for g in category.groups
            for u in g.units
        ]
        add_table(doc, _NOTICE_COLUMNS, sorted(rows, key=lambda r: int(r[0])))
    add_body(
        doc,
        "考核结果作为评先评优、干部选拔任用和问责的重要依据。希望受到表彰的单位再接再厉，"
        "考核等次靠后的单位认真查找不足，切实抓好整改。",
    )
    return _finish(doc, issue)


def _peers(letter: Letter) -> str:
    count = f"{letter.category_count}个" if letter.category_count else ""
    return f"{letter.category_label}{count}单位" if count else f"{letter.category_label}类单位"


def render_letter(letter: Letter) -> bytes:
    """One unit's 考核结果反馈: its total, grade and rank, and every point gained or lost with why."""
    issue, own = letter.issue, letter.standing
    doc = _start(letter_title(letter), issue)
    add_paragraph(doc, f"{own.name}：", indent_chars=0)
    grade = label_of(GRADES, own.grade)
    veto = "，因一票否决定为较差" if own.veto else ""
    add_body(
        doc,
        f"{_basis(issue)}已经产生。你单位总分{_points(own.total)}分，"
        f"在{_peers(letter)}中排第{own.rank}名，等次为{grade}{veto}。"
        "现将得分情况反馈如下：",
    )
    add_heading(doc, 1, "得分情况")
    t_earned, t_max = letter.timeliness
    m_earned, m_max = letter.metrics
    base_note = "（未承担考核事项，按100分计）" if letter.nothing_assessed else ""
    add_table(
        doc,
        _SUMMARY_COLUMNS,
        [
            ["办理时效得分", f"{_points(t_earned)} / {_points(t_max)}"],
            ["指标得分", f"{_points(m_earned)} / {_points(m_max)}"],
            ["基础分（百分制）", _points(letter.base) + base_note],
            ["激励加分", _points(letter.bonus)],
            ["差错扣分", _points(letter.error_deduction)],
            ["问责扣分（考核方案规定的单位扣分）", _points(letter.accountability_deduction)],
            ["总分", _points(own.total)],
            ["名次", f"{own.rank} / {letter.category_count}" if letter.category_count else str(own.rank)],
            ["等次", grade],
        ],
    )
    add_body(
        doc,
        "总分＝基础分＋激励加分－差错扣分－问责扣分；基础分＝100×（时效得分＋指标得分）÷（时效满分＋指标满分）。",
    )
    add_heading(doc, 2, "得分与失分明细")
    if letter.lines:
        add_table(
            doc,
            _LINE_COLUMNS,
            [[line.section, line.item, _signed(line.points), line.reason] for line in letter.lines],
        )
    else:
        add_body(doc, "本年度无计分事项。")
    add_body(doc, "对考核结果有异议的，可在公示期内按规定提出申诉。")
    return _finish(doc, issue)
