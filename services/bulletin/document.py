"""A bulletin as a Word document in 公文 layout (GB/T 9704-2012): A4, 仿宋 三号 body, 小标宋 二号 title."""

from __future__ import annotations

import io
from datetime import datetime

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.shared import Pt
from docx.text.paragraph import Paragraph

from services.bulletin.layout import (
    BODY_FONT,
    BODY_SIZE,
    HEADING_FONT,
    LINE_PITCH,
    MASTHEAD_SIZE,
    PAGE_FONT,
    PAGE_SIZE,
    RED,
    SUBHEADING_FONT,
    TITLE_FONT,
    TITLE_SIZE,
    Column,
    add_body,
    add_border,
    add_heading,
    add_paragraph,
    add_subheading,
    add_table,
    add_two_ends,
    day_text,
    set_default_fonts,
    set_up_page,
)
from services.bulletin.model import Bulletin, Tally

__all__ = [
    "BODY_FONT",
    "BODY_SIZE",
    "HEADING_FONT",
    "LINE_PITCH",
    "PAGE_FONT",
    "SUBHEADING_FONT",
    "TITLE_FONT",
    "TITLE_SIZE",
    "render_docx",
    "title_text",
]

_RULE = "已超期天数按工作日计算（考核方案的工作日历，节假日不计），不足一个工作日按一日计。"


def title_text(bulletin: Bulletin) -> str:
    """The bulletin's title line."""
    return f"关于{bulletin.period.label}督查督办事项办理情况的通报"


# --- text ------------------------------------------------------------------------------------------


def _moment(moment: datetime) -> str:
    """A local instant as a 公文 writes it; an end-of-day due instant is its date alone."""
    if (moment.hour, moment.minute) == (23, 59):
        return day_text(moment.date())
    minutes = f"{moment.minute}分" if moment.minute else ""
    return f"{day_text(moment.date())}{moment.hour}时{minutes}"


def _rate(tally: Tally) -> str:
    return "—" if tally.rate is None else f"{tally.rate * 100:.1f}%"


# --- the parts -------------------------------------------------------------------------------------


def _masthead(doc: DocumentObject, bulletin: Bulletin) -> None:
    """版头: 督查通报 in red, 第N期, the 文号 if any, then the issuer and the date over a red rule."""
    title = add_paragraph(
        doc,
        "督查通报",
        font=TITLE_FONT,
        size=MASTHEAD_SIZE,
        align=WD_ALIGN_PARAGRAPH.CENTER,
        indent_chars=0,
        color=RED,
    )
    title.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
    lines = [title]
    if bulletin.issue is not None:
        lines.append(
            add_paragraph(doc, f"第{bulletin.issue}期", align=WD_ALIGN_PARAGRAPH.CENTER, indent_chars=0)
        )
    if bulletin.doc_number:
        lines.append(add_paragraph(doc, bulletin.doc_number, align=WD_ALIGN_PARAGRAPH.CENTER, indent_chars=0))
    issue = add_two_ends(
        doc, bulletin.signer, day_text(bulletin.as_of.date()), size=BODY_SIZE, indent=Pt(BODY_SIZE.pt)
    )
    add_border(issue, "bottom", eighths=12, color="FF0000")
    for paragraph in (*lines, issue):
        # The 版头 is one block: it never breaks across pages.
        paragraph.paragraph_format.keep_with_next = True
        paragraph.paragraph_format.keep_together = True
    add_paragraph(doc, "", indent_chars=0)


# Each table's widths add up to the 156 mm type area.
_UNIT_COLUMNS = (
    Column("单位", 46, centred=False),
    Column("到期任务数", 22),
    Column("按时办结", 20),
    Column("逾期办结", 20),
    Column("仍逾期未办结", 26),
    Column("按时率", 22),
)
_OVERDUE_COLUMNS = (
    Column("任务编号", 28, centred=False),
    Column("标题", 52, centred=False),
    Column("牵头单位", 30, centred=False),
    Column("到期时间", 26),
    Column("已超期天数", 20),
)
_ERROR_COLUMNS = (
    Column("单位", 30, centred=False),
    Column("日期", 28),
    Column("类别", 16),
    Column("等次", 16),
    Column("情况", 66, centred=False),
)
_ACCOUNTABILITY_COLUMNS = (
    Column("单位", 32, centred=False),
    Column("日期", 28),
    Column("方式", 28),
    Column("事由", 68, centred=False),
)
_INCENTIVE_COLUMNS = (
    Column("单位", 32, centred=False),
    Column("日期", 28),
    Column("级别", 20),
    Column("事由", 76, centred=False),
)


def _summary(doc: DocumentObject, bulletin: Bulletin) -> None:
    total, label = bulletin.total, bulletin.period.label
    if bulletin.interim:
        # A period not yet over (期中): its standing as of the day issued, not its final tally.
        label = f"{label}（期中，截至{_moment(bulletin.as_of)}）"
    if not total.due:
        add_body(doc, f"{label}，无到期的督查督办任务。")
        return
    pending = f"，尚未到期{total.pending}项" if total.pending else ""
    add_body(
        doc,
        f"{label}，到期的督查督办任务共{total.due}项，涉及牵头单位{len(bulletin.units)}个。"
        f"其中按时办结{total.on_time}项，逾期办结{total.late}项，"
        f"截至{_moment(bulletin.as_of)}仍逾期未办结{total.overdue}项{pending}；按时办结率{_rate(total)}。",
    )


def _units(doc: DocumentObject, bulletin: Bulletin) -> None:
    red = bulletin.red_units
    if red:
        named = "、".join(f"{line.name}（{line.tally.overdue}项）" for line in red)
        add_body(doc, f"仍有逾期未办结任务的单位：{named}，列于表首。")
    elif bulletin.units:
        add_body(doc, "各单位均无逾期未办结任务。")
    if bulletin.units:
        rows = [
            [
                line.name,
                str(line.tally.due),
                str(line.tally.on_time),
                str(line.tally.late),
                str(line.tally.overdue),
                _rate(line.tally),
            ]
            for line in bulletin.units
        ]
        total = bulletin.total
        rows.append(
            ["合计", str(total.due), str(total.on_time), str(total.late), str(total.overdue), _rate(total)]
        )
        add_table(doc, _UNIT_COLUMNS, rows)
    add_body(
        doc,
        "说明：任务按牵头单位统计，协办单位不计入；按时率＝按时办结数÷（按时办结数＋逾期办结数＋仍逾期未办结数），"
        f"尚未到期的任务不计入；本期无到期任务的单位未列出；{_RULE}"
        f"统计截至{_moment(bulletin.as_of)}。",
    )


def _overdue(doc: DocumentObject, bulletin: Bulletin) -> None:
    if not bulletin.overdue:
        add_body(doc, "本期无逾期未办结任务。")
        return
    add_body(
        doc,
        f"截至{_moment(bulletin.as_of)}，以下{len(bulletin.overdue)}项任务已超过办理时限仍未办结，"
        "请牵头单位抓紧办理，办结后及时反馈：",
    )
    add_table(
        doc,
        _OVERDUE_COLUMNS,
        [
            [line.task, line.title, line.lead_name, _moment(line.due_at), str(line.days_overdue)]
            for line in bulletin.overdue
        ],
    )


_EXTENSION_COLUMNS = (
    Column("任务编号", 24, centred=False),
    Column("标题", 40, centred=False),
    Column("牵头单位", 24, centred=False),
    Column("原办结时限", 22),
    Column("申请延至", 22),
    Column("审批结果", 24),
)


def _extensions(doc: DocumentObject, bulletin: Bulletin) -> None:
    """延期申请 filed in the period: what was asked and what the office decided."""
    if not bulletin.extensions:
        add_body(doc, "本期无延期申请。")
        return
    add_body(doc, f"{bulletin.period.label}共有{len(bulletin.extensions)}项任务申请延期：")
    rows = []
    for e in bulletin.extensions:
        decided = e.state_label + (f"，延至{_moment(e.granted_due)}" if e.granted_due is not None else "")
        rows.append([e.task, e.title, e.unit_name, _moment(e.due_before), _moment(e.asked_due), decided])
    add_table(doc, _EXTENSION_COLUMNS, rows)


def _errors(doc: DocumentObject, bulletin: Bulletin) -> None:
    if not bulletin.errors:
        add_body(doc, "本期无差错通报。")
        return
    add_body(doc, f"{bulletin.period.label}共通报差错{len(bulletin.errors)}起：")
    add_table(
        doc,
        _ERROR_COLUMNS,
        [
            [e.unit_name, day_text(e.date), e.category_label, e.severity_label, e.description]
            for e in bulletin.errors
        ],
    )


def _accountability(doc: DocumentObject, bulletin: Bulletin) -> None:
    if not bulletin.accountability:
        add_body(doc, "本期无问责情况。")
        return
    add_body(doc, f"{bulletin.period.label}共问责{len(bulletin.accountability)}起：")
    add_table(
        doc,
        _ACCOUNTABILITY_COLUMNS,
        [[a.unit_name, day_text(a.date), a.kind_label, a.reason] for a in bulletin.accountability],
    )


def _commendations(doc: DocumentObject, bulletin: Bulletin) -> None:
    add_subheading(doc, 1, "获得激励情况")
    if bulletin.incentives:
        add_body(doc, f"{bulletin.period.label}共有{len(bulletin.incentives)}项工作获得激励：")
        add_table(
            doc,
            _INCENTIVE_COLUMNS,
            [[i.unit_name, day_text(i.date), i.level_label, i.reason] for i in bulletin.incentives],
        )
    else:
        add_body(doc, "本期无激励记录。")
    add_subheading(doc, 2, "按时办结全部到期任务的单位")
    if bulletin.exemplary:
        named = "、".join(line.name for line in bulletin.exemplary)
        add_body(doc, f"{named}（共{len(bulletin.exemplary)}个单位）按时办结了本期全部到期任务，予以表扬。")
    else:
        add_body(doc, "本期无按时办结全部到期任务的单位。")


def _signature(doc: DocumentObject, bulletin: Bulletin, closing: Paragraph) -> None:
    """落款: the issuer and the date, right-aligned four characters in (no seal), on the closing's page.

    GB/T 9704 7.3.5: the signature never stands alone on a page, so the closing sentence, the blank
    line and the issuer are each kept with the next, and no paragraph of them breaks.
    """
    closing.paragraph_format.keep_with_next = True
    closing.paragraph_format.keep_together = True
    blank = add_paragraph(doc, "", indent_chars=0)
    blank.paragraph_format.keep_with_next = True
    texts = (bulletin.signer, day_text(bulletin.as_of.date()))
    for index, text in enumerate(texts):
        paragraph = add_paragraph(doc, text, align=WD_ALIGN_PARAGRAPH.RIGHT, indent_chars=0)
        paragraph.paragraph_format.right_indent = Pt(BODY_SIZE.pt * 4)
        paragraph.paragraph_format.keep_together = True
        paragraph.paragraph_format.keep_with_next = index < len(texts) - 1


def _colophon(doc: DocumentObject, bulletin: Bulletin) -> None:
    """版记: 抄送 (when any) and 印发, between rules: thick outside, thin between (GB/T 9704 7.4)."""
    add_paragraph(doc, "", indent_chars=0)
    if bulletin.copy_to:
        copy = add_paragraph(
            doc,
            f"抄送：{'，'.join(bulletin.copy_to)}。",
            size=PAGE_SIZE,
            align=WD_ALIGN_PARAGRAPH.LEFT,
            indent_chars=0,
        )
        copy.paragraph_format.left_indent = PAGE_SIZE
        copy.paragraph_format.right_indent = PAGE_SIZE
        add_border(copy, "top", eighths=8)
        add_border(copy, "bottom", eighths=6)
    printed = add_two_ends(
        doc, bulletin.signer, f"{day_text(bulletin.as_of.date())}印发", size=PAGE_SIZE, indent=PAGE_SIZE
    )
    if not bulletin.copy_to:
        add_border(printed, "top", eighths=8)
    add_border(printed, "bottom", eighths=8)


def render_docx(bulletin: Bulletin) -> bytes:
    """The bulletin as the bytes of a .docx file."""
    doc = Document()
    set_default_fonts(doc)
    set_up_page(doc)
    title = title_text(bulletin)
    doc.core_properties.title = title
    doc.core_properties.author = bulletin.signer
    doc.core_properties.language = "zh-CN"
    _masthead(doc, bulletin)
    add_paragraph(
        doc, title, font=TITLE_FONT, size=TITLE_SIZE, align=WD_ALIGN_PARAGRAPH.CENTER, indent_chars=0
    )
    add_paragraph(doc, "", indent_chars=0)
    add_paragraph(doc, "各有关单位：", indent_chars=0)
    add_body(
        doc,
        f"现将{bulletin.period.label}（{day_text(bulletin.period.start)}至{day_text(bulletin.period.end)}）"
        "督查督办事项办理、差错、问责及激励情况通报如下：",
    )
    parts = (
        ("总体情况", _summary),
        ("各单位办理情况", _units),
        ("逾期未办结任务", _overdue),
        ("延期申请", _extensions),
        ("差错通报", _errors),
        ("问责情况", _accountability),
        ("表扬", _commendations),
    )
    for number, (heading, part) in enumerate(parts, start=1):
        add_heading(doc, number, heading)
        part(doc, bulletin)
    closing = add_body(doc, "请各单位对照通报内容，认真查摆问题，抓紧整改落实，确保各项任务按时保质办结。")
    _signature(doc, bulletin, closing)
    _colophon(doc, bulletin)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
