"""结果运用: the 考核结果通报, each unit's 反馈 letter and the 优秀 list, from a run's result document."""

from services.results.document import letter_title, notice_title, render_letter, render_notice
from services.results.model import Issue, Letter, Notice, excellent_csv, issue_of, letter, notice

__all__ = [
    "Issue",
    "Letter",
    "Notice",
    "excellent_csv",
    "issue_of",
    "letter",
    "letter_title",
    "notice",
    "notice_title",
    "render_letter",
    "render_notice",
]
