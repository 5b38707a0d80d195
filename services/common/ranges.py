"""Numbers and page tokens from outside, checked before they reach a query or a calendar."""

from __future__ import annotations

from services.common.errors import InvalidArgument

# The years an assessment can be of: the range dates of the formats are checked against too.
YEAR_MIN = 1990
YEAR_MAX = 2100
# A page token of a sequence number: digits of a 64-bit integer at most.
_SEQ_DIGITS = 18


def check_year(year: int, *, field: str = "year", optional: bool = True) -> int:
    """year when it lies in YEAR_MIN..YEAR_MAX (or is 0, "not given", when optional)."""
    if optional and year == 0:
        return year
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise InvalidArgument(field, f"须在 {YEAR_MIN} 与 {YEAR_MAX} 之间")
    return year


def page_size(requested: int, *, default: int, maximum: int) -> int:
    """The page size to serve: the default for 0, at most maximum; a negative one is refused."""
    if requested < 0:
        raise InvalidArgument("page_size", "不能为负数")
    return min(requested or default, maximum)


def seq_token(token: str) -> int:
    """The sequence number a page token of this service carries (0 for the first page)."""
    if not token:
        return 0
    if not (token.isascii() and token.isdigit() and len(token) <= _SEQ_DIGITS):
        raise InvalidArgument("page_token", "不是本服务给出的分页标记")
    return int(token)
