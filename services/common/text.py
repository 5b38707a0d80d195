"""Text from outside (ledger lines, records, notes, request ids): bounded and free of control characters.

One place states the limits, so every importer and every RPC refuses the same things with the same
words, before anything reaches a database (PostgreSQL refuses a NUL in text with an error of its own,
SQLite stores it: both now see it refused here).
"""

from __future__ import annotations

import re

from services.common.errors import InvalidArgument

# The limits of docs/manual/ledger.md ("Limits of text").
ID_MAX = 64
TITLE_MAX = 200
NAME_MAX = 200
NOTE_MAX = 2000
REQUEST_ID_MAX = 128

# C0 controls, DEL, C1 controls, and lone surrogates (JSON can spell "\ud800"; no database stores it).
_CONTROLS = "\x00-\x1f\x7f-\x9f\ud800-\udfff"
_SINGLE_LINE = re.compile(f"[{_CONTROLS}]")
_MULTI_LINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# Bidi embeddings, overrides and isolates: an id that displays as another one ("Trojan source").
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def check_text(field: str, value: str, *, max_len: int, allow_newlines: bool = False) -> str:
    """value when it is at most max_len characters with no control character, else InvalidArgument.

    allow_newlines keeps line feeds and tabs, for the multi-line fields (notes, descriptions, reasons).
    """
    if len(value) > max_len:
        raise InvalidArgument(field, f"不得超过 {max_len} 个字符（现有 {len(value)} 个）")
    found = (_MULTI_LINE if allow_newlines else _SINGLE_LINE).search(value)
    if found:
        raise InvalidArgument(field, f"不得含控制字符 U+{ord(found.group()):04X}")
    return value


def check_id(field: str, value: str, *, max_len: int = ID_MAX) -> str:
    """value when it is usable as an id: bounded, no control or bidi character, no surrounding space."""
    check_text(field, value, max_len=max_len)
    found = _BIDI.search(value)
    if found:
        raise InvalidArgument(field, f"不得含双向文字控制符 U+{ord(found.group()):04X}")
    if value != value.strip():
        raise InvalidArgument(field, "首尾不得有空格")
    return value


_UNPRINTABLE = re.compile(f"[{_CONTROLS}\u202a-\u202e\u2066-\u2069]")
_UNPRINTABLE_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def visible(value: str, *, keep_newlines: bool = True) -> str:
    """value with control and bidi characters shown as escapes, so a terminal prints, never obeys, them."""
    pattern = _UNPRINTABLE_BUT_NEWLINE if keep_newlines else _UNPRINTABLE
    return pattern.sub(lambda m: _escape(m.group()), value)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
