"""The scheme's `[scheme] jurisdiction` and `[bulletin]` keys: defaults, reading, refusals naming the key."""

from __future__ import annotations

import pytest

from services.common.errors import SchemeInvalid
from services.common.scheme import BulletinHead, load_scheme
from tests.conftest import example_path

EXAMPLE = example_path("scheme.toml").read_text(encoding="utf-8")


def with_keys(head: str = "", bulletin: str = "") -> str:
    text = EXAMPLE.replace("[scheme]\n", f"[scheme]\n{head}", 1)
    return text + (f"\n[bulletin]\n{bulletin}" if bulletin else "")


def refusal(text: str) -> dict[str, str]:
    with pytest.raises(SchemeInvalid) as caught:
        load_scheme(text)
    return {v.field: v.description for v in caught.value.violations}


def test_without_the_keys_the_office_issues_without_a_county_or_a_doc_number() -> None:
    scheme = load_scheme(EXAMPLE)
    assert (scheme.jurisdiction, scheme.bulletin) == ("", BulletinHead(issuer="考核办公室", doc_prefix=""))


def test_the_keys_are_read() -> None:
    scheme = load_scheme(
        with_keys('jurisdiction = "宁强县"\n', 'issuer = "人民政府办公室"\ndoc_prefix = "宁政办督"\n')
    )
    assert scheme.jurisdiction == "宁强县"
    assert scheme.bulletin == BulletinHead(issuer="人民政府办公室", doc_prefix="宁政办督")


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (with_keys(bulletin='issuer = ""\n'), "bulletin.issuer", "不得为空"),
        (with_keys(bulletin="issuer = 3\n"), "bulletin.issuer", "字符串"),
        (with_keys(bulletin='seal = "x"\n'), "bulletin.seal", "未知的键"),
        (with_keys(bulletin='doc_prefix = "宁政办督〔2026〕"\n'), "bulletin.doc_prefix", "发文字号前缀"),
        (with_keys(bulletin='doc_prefix = "宁政办 督"\n'), "bulletin.doc_prefix", "空格"),
        (with_keys('jurisdiction = ["宁强县"]\n'), "scheme.jurisdiction", "字符串"),
    ],
)
def test_a_bad_key_is_refused_naming_it(text: str, key: str, words: str) -> None:
    found = refusal(text)
    assert key in found and words in found[key], found
