"""The supervision bulletin (督查通报): a period's figures from tasks and records, rendered in 公文 layout."""

from services.bulletin.document import render_docx, title_text
from services.bulletin.figures import build_bulletin
from services.bulletin.model import (
    Accountability,
    Bulletin,
    ErrorReport,
    Extension,
    Incentive,
    Task,
    Unit,
)
from services.bulletin.period import Period, PeriodInvalid, parse_period

__all__ = [
    "Accountability",
    "Bulletin",
    "ErrorReport",
    "Extension",
    "Incentive",
    "Period",
    "PeriodInvalid",
    "Task",
    "Unit",
    "build_bulletin",
    "parse_period",
    "render_docx",
    "title_text",
]
