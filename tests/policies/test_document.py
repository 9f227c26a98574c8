"""The policy document: REGULATIONS defaults, errors that name the field, presets, round trips."""

from __future__ import annotations

import copy
from typing import Any, get_args

import pytest
import yaml

from policies.base import GroupMode
from policies.document import (
    RULE_IDS,
    SANCTIONED,
    DocumentError,
    LadderStep,
    PolicyDocument,
    dump_document,
    effective_mode,
    load_preset,
    parse_document,
    preset_names,
)

W, WA, R = LadderStep.WARN, LadderStep.WARN_APOLOGY, LadderStep.REMOVE


class TestDefaults:
    def test_every_rule_id_of_regulations_has_an_entry(self) -> None:
        expected = [f"M{i}" for i in range(1, 11)] + [f"C{i}" for i in range(1, 15)]
        expected += [f"A{i}" for i in range(1, 6)]
        assert sorted(RULE_IDS) == sorted(expected)

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            ("C6.max_chars", 200),
            ("C7.quiet_hours", {"start": "22:00", "end": "07:30"}),
            ("C8.max_messages", 6),
            ("C8.window_s", 30),
            ("C8.same_text_count", 3),
            ("C8.same_text_window_s", 600),
            ("C9.max_images", 5),
            ("C9.window_s", 300),
            ("C14.enabled", False),
            ("C13.enabled", False),
            ("A2.remind_after_s", 1800),
            ("A2.escalate_after_s", 3600),
            ("A2.penalty_yuan", 0),
            ("M2.pattern", "{department}-{name}"),
            ("M6.time", "09:00"),
            ("M7.enabled", False),
            ("M7.days", 7),
            ("C2.allow_domains", []),
            ("C12.id_cards", True),
            ("C12.bank_cards", True),
            ("C12.phones", False),
            ("strike_ttl_s", 30 * 24 * 3600),
            ("mode_override", None),
            (
                "A1.ack_words",
                [
                    "收到",
                    "已收到",
                    "收到了",
                    "好的",
                    "明白",
                    "了解",
                    "执行",
                    "马上执行",
                    "已阅",
                    "OK",
                    "👌",
                    "1",
                ],
            ),
        ],
    )
    def test_regulations_default(self, path: str, value: Any) -> None:
        data: Any = dump_document(parse_document({}))
        for part in path.split("."):
            data = data[part]
        assert data == value

    @pytest.mark.parametrize(
        ("rule_id", "ladder"),
        [
            ("C1", (W, R)),
            ("C2", (W, R)),
            ("C3", (W,)),
            ("C4", (R,)),
            ("C5", (W, WA, R)),
            ("C8", (W, R)),
            ("C10", (W,)),
            ("C11", (W, R)),
            ("C12", (W,)),
        ],
    )
    def test_ladders(self, rule_id: str, ladder: tuple[LadderStep, ...]) -> None:
        assert parse_document({}).ladder(rule_id) == ladder

    def test_only_sanctioning_rules_have_ladders(self) -> None:
        doc = parse_document({})
        assert SANCTIONED == ("C1", "C2", "C3", "C4", "C5", "C8", "C10", "C11", "C12")
        assert doc.ladder("C6") is None and doc.ladder("C7") is None and doc.ladder("A2") is None

    def test_options_are_constructor_keywords(self) -> None:
        doc = parse_document({})
        assert doc.options("C6") == {"max_chars": 200}
        assert doc.options("C1") == {}
        assert doc.options("C12") == {"id_cards": True, "bank_cards": True, "phones": False}

    def test_every_duration_field_is_integer_seconds_at_least_one(self) -> None:
        for rule_id in (*RULE_IDS, None):
            model = PolicyDocument if rule_id is None else type(parse_document({}).rule(rule_id))
            for name, info in model.model_fields.items():
                if name.endswith("_s"):
                    assert info.annotation is int, (rule_id, name)
                    meta = [m for m in info.metadata if hasattr(m, "ge")]
                    assert meta and meta[0].ge == 1, (rule_id, name)
                    assert any(type(m).__name__ == "Strict" for m in info.metadata), (rule_id, name)
        assert get_args(LadderStep) == ()  # an enum, not a Literal

    def test_unknown_rule_id_of_the_getter(self) -> None:
        with pytest.raises(KeyError):
            parse_document({}).rule("D1")


class TestPartialDocuments:
    def test_omitted_options_take_the_defaults_not_the_previous_version(self) -> None:
        doc = parse_document({"C8": {"max_messages": 10}})
        assert doc.C8.max_messages == 10
        assert doc.C8.window_s == 30
        assert doc.C8.ladder == (W, R)
        assert doc.C6.max_chars == 200

    def test_quiet_hours_null_is_none(self) -> None:
        assert parse_document({"C7": {"quiet_hours": None}}).C7.quiet_hours is None

    def test_domains_are_lower_cased(self) -> None:
        doc = parse_document({"C2": {"company_domains": ["Example.COM.", " 公司.中国 "]}})
        assert doc.C2.company_domains == ("example.com", "公司.中国")


ERRORS: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
    ({"C6": {"max_chars": 0}}, [("C6.max_chars", "must be ≥ 1")]),
    ({"C6": {"max_chars": "200"}}, [("C6.max_chars", "must be an integer")]),
    ({"C6": {"maxchars": 3}}, [("C6.maxchars", "unknown option")]),
    ({"C99": {}}, [("C99", "unknown rule id")]),
    ({"D1": {}}, [("D1", "unknown rule id (the D rules take no document entry)")]),
    ({"strike_ttl": 5}, [("strike_ttl", "unknown setting")]),
    ({"strike_ttl_s": 0}, [("strike_ttl_s", "must be ≥ 1")]),
    ({"C8": {"window_s": 1.5}}, [("C8.window_s", "must be an integer")]),
    ({"C8": {"window_s": True}}, [("C8.window_s", "must be an integer")]),
    ({"C8": {"same_text_window_s": 0}}, [("C8.same_text_window_s", "must be ≥ 1")]),
    ({"C8": {"same_text_count": 1}}, [("C8.same_text_count", "must be ≥ 2")]),
    ({"C9": {"window_s": -5}}, [("C9.window_s", "must be ≥ 1")]),
    ({"A2": {"remind_after_s": 0}}, [("A2.remind_after_s", "must be ≥ 1")]),
    ({"A2": {"remind_after_s": 3600}}, [("A2.escalate_after_s", "must be after remind_after_s")]),
    ({"A2": {"penalty_yuan": -1}}, [("A2.penalty_yuan", "must be ≥ 0")]),
    ({"C7": {"quiet_hours": {"start": "24:00", "end": "07:30"}}},
     [("C7.quiet_hours.start", "must be a time of day HH:MM (00:00–23:59)")]),
    ({"C7": {"quiet_hours": {"start": "22:00", "end": "7:30"}}},
     [("C7.quiet_hours.end", "must be a time of day HH:MM (00:00–23:59)")]),
    ({"C7": {"quiet_hours": {"start": "22:00"}}}, [("C7.quiet_hours.end", "is required")]),
    ({"C7": {"quiet_hours": {"start": "22:00", "end": "22:00"}}},
     [("C7.quiet_hours", "start and end are the same: use null for no quiet hours")]),
    ({"C7": {"quiet_hours": "22:00-07:30"}}, [("C7.quiet_hours", "must be an object")]),
    ({"C7": None}, [("C7", "must be an object")]),
    ({"M6": {"time": "9:00"}}, [("M6.time", "must be a time of day HH:MM (00:00–23:59)")]),
    ({"M2": {"pattern": "{department}"}}, [("M2.pattern", "must contain {name}")]),
    ({"M2": {"pattern": "{dept}-{name}"}}, [("M2.pattern", "unknown placeholder {dept}")]),
    ({"C1": {"ladder": []}}, [("C1.ladder", "must have at least 1 item(s)")]),
    ({"C1": {"ladder": ["kick"]}}, [("C1.ladder.0", "must be one of 'warn', 'warn_apology' or 'remove'")]),
    ({"C6": {"ladder": ["warn"]}}, [("C6.ladder", "unknown option")]),
    ({"C1": {"enabled": "yes"}}, [("C1.enabled", "must be true or false")]),
    ({"C2": {"deny_domains": ["ok.com", "https://bad.com/x"]}},
     [("C2.deny_domains.1", "'https://bad.com/x' is not a domain (write example.com, no scheme or path)")]),
    ({"A1": {"ack_words": ["收到", " "]}}, [("A1.ack_words.1", "must not be blank")]),
    ({"A1": {"ack_words": []}}, [("A1.ack_words", "must have at least 1 item(s)")]),
    ({"mode_override": "enforce"}, [("mode_override", "must be one of 'observe' or 'advise'")]),
    ({"C6": {"max_chars": 0}, "C9": {"max_images": 0}},
     [("C6.max_chars", "must be ≥ 1"), ("C9.max_images", "must be ≥ 1")]),
]  # fmt: skip


class TestErrors:
    @pytest.mark.parametrize(("data", "errors"), ERRORS)
    def test_error_names_the_field(self, data: dict[str, Any], errors: list[tuple[str, str]]) -> None:
        with pytest.raises(DocumentError) as caught:
            parse_document(data)
        assert caught.value.errors == errors
        assert str(caught.value) == "; ".join(f"{p}: {m}" for p, m in errors)

    def test_a_document_that_is_not_an_object(self) -> None:
        with pytest.raises(DocumentError) as caught:
            parse_document(["C6"])  # type: ignore[arg-type]
        assert caught.value.errors == [("", "the document must be an object")]


class TestRoundTrip:
    @pytest.mark.parametrize("name", preset_names())
    def test_dict_model_dict(self, name: str) -> None:
        data = dump_document(load_preset(name))
        again = dump_document(parse_document(copy.deepcopy(data)))
        assert again == data
        assert set(data) == {"mode_override", "strike_ttl_s", *RULE_IDS}  # complete

    def test_a_changed_document_round_trips(self) -> None:
        data = dump_document(parse_document({}))
        data["C7"]["quiet_hours"] = None
        data["C1"]["ladder"] = ["warn", "warn", "remove"]
        data["C2"]["allow_domains"] = ["example.com"]
        assert dump_document(parse_document(data)) == data

    def test_the_dump_is_json_data(self) -> None:
        data = dump_document(parse_document({}))
        assert yaml.safe_load(yaml.safe_dump(data, allow_unicode=True)) == data


class TestPresets:
    def test_names(self) -> None:
        assert preset_names() == ("work-group", "strict", "observe-only")

    def test_work_group_is_the_regulations_defaults_written_out(self) -> None:
        from importlib import resources

        text = resources.files("policies").joinpath("presets", "work-group.yaml").read_text("utf-8")
        raw = yaml.safe_load(text)
        assert set(raw) == {"mode_override", "strike_ttl_s", *RULE_IDS}
        assert dump_document(parse_document(raw)) == dump_document(parse_document({}))

    def test_strict_is_tighter(self) -> None:
        base, strict = load_preset("work-group"), load_preset("strict")
        assert strict.C1.ladder == (R,)
        assert strict.C6.max_chars < base.C6.max_chars
        assert strict.C8.max_messages < base.C8.max_messages
        assert strict.C9.max_images < base.C9.max_images
        severity = [W, WA, R]
        for rule_id in SANCTIONED:  # at every offence, strict is at least as severe
            s_ladder, b_ladder = strict.ladder(rule_id) or (), base.ladder(rule_id) or ()
            for n in range(6):
                s_step = s_ladder[min(n, len(s_ladder) - 1)]
                b_step = b_ladder[min(n, len(b_ladder) - 1)]
                assert severity.index(s_step) >= severity.index(b_step), (rule_id, n)
        assert strict.mode_override is None

    def test_observe_only_turns_everything_on_and_acts_on_nothing(self) -> None:
        doc = load_preset("observe-only")
        assert all(doc.enabled(r) for r in RULE_IDS)
        assert doc.mode_override == "observe"
        for mode in GroupMode:
            assert effective_mode(doc, mode) is GroupMode.OBSERVE

    def test_unknown_preset(self) -> None:
        with pytest.raises(KeyError, match="work-group"):
            load_preset("lenient")


@pytest.mark.parametrize(
    ("override", "group", "expected"),
    [
        (None, GroupMode.ENFORCE, GroupMode.ENFORCE),
        (None, GroupMode.ADVISE, GroupMode.ADVISE),
        ("advise", GroupMode.ENFORCE, GroupMode.ADVISE),
        ("advise", GroupMode.OBSERVE, GroupMode.OBSERVE),  # never raised
        ("observe", GroupMode.ADVISE, GroupMode.OBSERVE),
    ],
)
def test_effective_mode(override: str | None, group: GroupMode, expected: GroupMode) -> None:
    assert effective_mode(parse_document({"mode_override": override}), group) is expected
