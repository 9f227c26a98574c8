"""The digit view shared by the canonical form and the number scanners."""

from __future__ import annotations

import pytest

from policies.digits import digit_runs, digit_table


class TestDigitTable:
    @pytest.mark.parametrize(
        ("char", "digit"),
        [
            ("０", "0"),
            ("①", "1"),
            ("⑴", "1"),
            ("❶", "1"),
            ("⒈", "1"),
            ("𝟓", "5"),
            ("壹", "1"),
            ("玖", "9"),
            ("〇", "0"),
        ],
    )
    def test_styles(self, char: str, digit: str) -> None:
        assert digit_table()[char] == digit

    @pytest.mark.parametrize("char", ["⑩", "十", "百", "a", "7"])
    def test_not_single_digits(self, char: str) -> None:
        assert char not in digit_table()


class TestDigitRuns:
    def test_separators_inside_a_number_are_skipped_and_offsets_kept(self) -> None:
        text = "电话①③⑧ 1234-5678，谢谢"
        [run] = digit_runs(text, min_len=5)
        assert run.digits == "13812345678"
        assert text[run.start : run.end] == "①③⑧ 1234-5678"

    def test_trailing_separator_is_not_part_of_the_number(self) -> None:
        [run] = digit_runs("号码 123. ")
        assert (run.digits, run.end) == ("123", 6)

    def test_chinese_numerals_only_when_asked(self) -> None:
        assert [r.digits for r in digit_runs("幺三八 一二三四")] == ["1381234"]
        assert digit_runs("一二三", cjk=False) == []

    def test_min_len(self) -> None:
        assert [r.digits for r in digit_runs("第1次，共123个", min_len=2)] == ["123"]
