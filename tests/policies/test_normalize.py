"""The canonical form (policies.normalize): one mapping for keywords and text, spans back to the original."""

from __future__ import annotations

import random

import pytest

from policies.normalize import _REPEAT_RE, _collapse, _translate_list, canonical, canonical_text, char_table

CANONICAL = [
    # (what a member wrote, the matching text)
    ("加 微 信", "加微信"),  # spaced
    ("ＡＢＣ１２３，加微信", "abc123加微信"),  # full-width letters, digits, punctuation
    ("臺灣發財後", "台湾发财后"),  # traditional → simplified, per character
    ("加\u200b微\u200c信\u2060", "加微信"),  # zero-width characters
    ("加🌹微🌹信", "加微信"),  # emoji between the characters
    ("①③⑧ ❶ ⑴ 壹贰 一二三", "1381112123"),  # digit styles (policies.digits)
    ("+V ＋v ➕v", "加v加v加v"),  # meaningful symbols survive as 加
    ("🐧12345", "qq12345"),
    ("📞☎📱", "电话电话电话"),
    ("[微笑]加[呲牙]微信", "加微信"),  # WeCom emoji codes vanish
    ("[加][微][信]", "加微信"),  # a bracketed character is not an emoji code: kept
    ("傻傻傻逼", "傻逼"),  # repeats collapse
    ("qq 13800001111", "qq13800001111"),  # ASCII letters and digits never collapse
    ("СЕО раураl", "ceopaypal"),  # Cyrillic homoglyphs
    ("wéixìn", "weixin"),  # tone marks
    ("𝐰𝐞𝐢𝐱𝐢𝐧 ⓦⓧ", "weixinwx"),  # mathematical and circled letters (NFKC)
    ("Straße", "straße"),  # case folding keeps the mapping 1:1 (ß stays one character)
    ("9月30日结束", "9月30日结束"),
]


class TestCanonicalText:
    @pytest.mark.parametrize(("text", "expected"), CANONICAL)
    def test_evasions_meet_the_plain_word(self, text: str, expected: str) -> None:
        assert canonical_text(text) == expected

    def test_keywords_and_text_share_the_mapping(self) -> None:
        for word, evaded in [("加微信", "加 薇 信"), ("傻逼", "傻　逼"), ("推翻政府", "推翻政府")]:
            assert canonical_text(word) in canonical_text(evaded.replace("薇", "微"))

    def test_the_list_table_and_the_dict_table_agree(self) -> None:
        table, fast = char_table(), _translate_list()
        rng = random.Random(6)
        sample = [rng.randrange(0x20, 0x20000) for _ in range(20_000)] + list(table)[:5000]
        for code in sample:
            if 0xD800 <= code < 0xE000:
                continue
            expected = table.get(code, chr(code))
            got = fast[code] if code < len(fast) else chr(code)
            got = chr(got) if isinstance(got, int) else got
            assert got == expected, hex(code)

    def test_collapsing_runs_agrees_with_the_regex(self) -> None:
        rng = random.Random(8)
        pool = "傻逼哈谢aa11 天"
        for _ in range(2000):
            text = "".join(rng.choice(pool) for _ in range(rng.randrange(0, 30)))
            assert _collapse(text) == _REPEAT_RE.sub(r"\1", text), text
        assert _collapse("傻傻傻逼逼 qq 谢谢") == "傻逼 qq 谢"

    def test_the_text_is_the_list_table_and_the_collapse(self) -> None:
        # canonical() reads the marking table (NUL for dropped characters) and removes the NULs:
        # the same text as translating with the list table, expansions (🐧 → qq) included.
        rng = random.Random(9)
        pool = "加微信 ，。！臺灣①壹ＡＢａbc🐧📞+\u200b傻傻逼qq11 é𝐰\x00"
        for _ in range(2000):
            text = "".join(rng.choice(pool) for _ in range(rng.randrange(0, 30)))
            assert canonical(text).text == _REPEAT_RE.sub(r"\1", text.translate(_translate_list())), text

    def test_every_mapped_character_is_a_fixed_point(self) -> None:
        table = char_table()
        for code, out in table.items():
            if out:
                assert canonical_text(out) == canonical_text(canonical_text(out)), hex(code)


class TestSpans:
    @pytest.mark.parametrize(
        ("text", "word", "matched"),
        [
            ("请 加 微 信 abc", "加微信", "加 微 信"),
            ("全場優惠，請＋Ｖ", "加v", "＋Ｖ"),
            ("請加＋Ｖ", "加v", "加＋Ｖ"),
            ("你这个傻傻傻逼啊", "傻逼", "傻傻傻逼"),
            ("[微笑]加[呲牙]微信吧", "加微信", "加[呲牙]微信"),
            ("快来🐧12345", "qq12345", "🐧12345"),
            ("𝐰𝐞𝐢𝐱𝐢𝐧号", "weixin", "𝐰𝐞𝐢𝐱𝐢𝐧"),  # astral characters: Python offsets
        ],
    )
    def test_a_match_maps_back_to_the_original(self, text: str, word: str, matched: str) -> None:
        c = canonical(text)
        start = c.text.index(canonical_text(word))
        a, b = c.span(start, start + len(canonical_text(word)))
        assert text[a:b] == matched
        assert c.matched(start, start + len(canonical_text(word))) == matched

    def test_the_index_has_one_offset_per_canonical_character(self) -> None:
        rng = random.Random(7)
        pool = "加微信 ，。！臺灣①壹ＡＢａbc🐧📞+[微笑]\u200b傻傻逼qq11 é𝐰"
        for _ in range(500):
            text = "".join(rng.choice(pool) for _ in range(rng.randrange(0, 40)))
            c = canonical(text)
            index = c.index()
            assert len(index) == len(c.text), text
            assert index == sorted(index)
            assert all(0 <= i < len(text) for i in index)

    def test_the_index_is_computed_only_when_asked(self) -> None:
        c = canonical("加微信")
        assert c._index is None
        c.span(0, 3)
        assert c._index is not None
