"""The policy document a group runs under (API.md "Policies"; docs/policies.md has every entry).

Shape: one entry per rule id of REGULATIONS.md (M1–M10, C1–C14, A1–A5; the D rules are how admins
work and take no entry), each with `enabled` and the rule's options, plus two settings::

    {"mode_override": null, "strike_ttl_s": 2592000,
     "C1": {"enabled": true, "ladder": ["warn", "remove"]},
     "C6": {"enabled": true, "max_chars": 200},
     "C7": {"enabled": true, "quiet_hours": {"start": "22:00", "end": "07:30"}}, ...}

Completeness: a stored document is complete. `PUT` replaces the whole document; what an admin leaves
out (a rule, or an option of a rule) takes the REGULATIONS default (the `work-group` preset), never
the value of the previous version. `dump_document` always writes every rule and option, so the
stored version says exactly what ran.

Validation (`parse_document`) raises one `DocumentError` carrying every problem as (path, message),
the path naming the field: ``C6.max_chars: must be ≥ 1``. Unknown rule ids, unknown settings and
unknown options are errors (a typo must not silently keep the default). Durations are integer
seconds ≥ 1 in fields ending `_s`; times of day are "HH:MM" (00:00–23:59).

`mode_override` lets a document act less than the group could: `"observe"` decides and records
and acts on nothing (the `observe-only` preset), `"advise"` tells the owner instead of removing;
null uses the group's own mode. It never raises a group above what WeCom allows (`effective_mode`).
Strikes expire after `strike_ttl_s` (30 days), one setting for every category.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from policies.base import GroupMode

Seconds = Annotated[int, Strict(), Field(ge=1)]
PositiveInt = Annotated[int, Strict(), Field(ge=1)]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_LABEL = re.compile(r"^[^\W_]([\w-]{0,61}[^\W_])?$")  # letters of any script (IDNs), digits, hyphens


class LadderStep(StrEnum):
    """One rung of an offence ladder (policies.ladder maps it to a verdict and remedies)."""

    WARN = "warn"  # a warning: private message, and a masked one in the group where possible
    WARN_APOLOGY = "warn_apology"  # a warning that also asks the member to apologise (C5 2nd)
    REMOVE = "remove"  # removal (enforced groups); advice to the owner elsewhere


Ladder = Annotated[tuple[LadderStep, ...], Field(min_length=1)]


def _time(value: object) -> str:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ValueError("must be a time of day HH:MM (00:00–23:59)")
    return value


def _domain(raw: str) -> str:
    """example.com as admins write it: lower-cased, no scheme, path or port; IDNs as written."""
    domain = raw.strip().lower().rstrip(".")
    labels = domain.split(".")
    if (
        len(domain) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError(f"{raw!r} is not a domain (write example.com, no scheme or path)")
    return domain


HHMM = Annotated[str, BeforeValidator(_time)]
Flag = Annotated[bool, Strict()]
Domains = tuple[Annotated[str, AfterValidator(_domain)], ...]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: Flag = True


class _Sanctioned(_Entry):
    """A rule whose findings climb the member's ladder for this category."""

    ladder: Ladder = (LadderStep.WARN,)


class QuietHours(BaseModel):
    """A daily window in the organisation's local time; `end` may be before `start` (across
    midnight). `start` is inside the window, `end` is not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: HHMM
    end: HHMM

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are the same: use null for no quiet hours")
        return self


# Membership (M) ---------------------------------------------------------------------------------


class M1Options(_Entry):
    """Only current members of the organisation."""


class M2Options(_Entry):
    """Real names: the display name follows `pattern` ({department}, {name} placeholders)."""

    pattern: str = "{department}-{name}"

    @field_validator("pattern")
    @classmethod
    def _has_name(cls, value: str) -> str:
        if "{name}" not in value:
            raise ValueError("must contain {name}")
        unknown = set(re.findall(r"\{(\w*)\}", value)) - {"department", "name", "region", "title"}
        if unknown:
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}")
        return value


class M3Options(_Entry):
    """Nobody joins without the owner's or an admin's consent."""


class M4Options(_Entry):
    """Leaving without authorisation is recorded and reported to admins."""


class M5Options(_Entry):
    """Departed employees leave every managed group."""


class M6Options(_Entry):
    """The daily member audit, at `time` local."""

    time: HHMM = "09:00"


class M7Options(_Entry):
    """Long-silent members are reminded, then removed (off by default)."""

    enabled: Flag = False
    days: PositiveInt = 7


class M8Options(_Entry):
    """A removal is announced in the group and told to the member."""


class M9Options(_Entry):
    """A removed member may appeal."""


class M10Options(_Entry):
    """Every group is registered (name, purpose, owner, admins)."""


# Content (C) ------------------------------------------------------------------------------------


class C1Options(_Sanctioned):
    """No commercial advertising."""

    ladder: Ladder = (LadderStep.WARN, LadderStep.REMOVE)


class C2Options(_Sanctioned):
    """No pornography, gambling or malicious links; allow/deny domain lists, the company's own."""

    ladder: Ladder = (LadderStep.WARN, LadderStep.REMOVE)
    allow_domains: Domains = ()
    deny_domains: Domains = ()
    company_domains: Domains = ()


class C3Options(_Sanctioned):
    """No reactionary content; political topics discouraged."""


class C4Options(_Sanctioned):
    """No inflammatory or extreme content: immediate removal."""

    ladder: Ladder = (LadderStep.REMOVE,)


class C5Options(_Sanctioned):
    """No personal attacks, insults or foul language."""

    ladder: Ladder = (LadderStep.WARN, LadderStep.WARN_APOLOGY, LadderStep.REMOVE)


class C6Options(_Entry):
    """Posts of at most `max_chars` characters; a reminder, no strike."""

    max_chars: PositiveInt = 200


class C7Options(_Entry):
    """Quiet hours (null: none); a private reminder, no strike."""

    quiet_hours: QuietHours | None = QuietHours(start="22:00", end="07:30")


class C8Options(_Sanctioned):
    """No flooding: more than `max_messages` in `window_s`, or the same text `same_text_count` times
    in `same_text_window_s`."""

    ladder: Ladder = (LadderStep.WARN, LadderStep.REMOVE)
    max_messages: PositiveInt = 6
    window_s: Seconds = 30
    same_text_count: Annotated[int, Strict(), Field(ge=2)] = 3
    same_text_window_s: Seconds = 600


class C9Options(_Entry):
    """Not too many images: more than `max_images` in `window_s` → a reminder."""

    max_images: PositiveInt = 5
    window_s: Seconds = 300


class C10Options(_Sanctioned):
    """No investment promotion, recruitment or fundraising without approval."""


class C11Options(_Sanctioned):
    """No invitations to other groups or group QR codes."""

    ladder: Ladder = (LadderStep.WARN, LadderStep.REMOVE)


class C12Options(_Sanctioned):
    """No spreading of others' private information."""

    id_cards: Flag = True
    bank_cards: Flag = True
    phones: Flag = False


class C13Options(_Entry):
    """Rumours: members report, admins decide (off: needs a human)."""

    enabled: Flag = False


class C14Options(_Entry):
    """Fewer voice messages (off by default); a reminder."""

    enabled: Flag = False


# Acknowledgement (A) ----------------------------------------------------------------------------


def _word(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


ACK_WORDS = ("收到", "已收到", "收到了", "好的", "明白", "了解", "执行", "马上执行", "已阅", "OK", "👌", "1")


class A1Options(_Entry):
    """Notices that ask for a reply are answered with one of `ack_words`."""

    ack_words: Annotated[tuple[Annotated[str, AfterValidator(_word)], ...], Field(min_length=1)] = ACK_WORDS


class A2Options(_Entry):
    """Same-day tasks: a reminder after `remind_after_s`, escalation after `escalate_after_s`, a
    penalty of `penalty_yuan` recorded (0 = none)."""

    remind_after_s: Seconds = 1800
    escalate_after_s: Seconds = 3600
    penalty_yuan: Annotated[int, Strict(), Field(ge=0)] = 0

    @model_validator(mode="after")
    def _order(self) -> A2Options:
        if self.escalate_after_s <= self.remind_after_s:
            raise _FieldError("escalate_after_s", "must be after remind_after_s")
        return self


class A3Options(_Entry):
    """A reply counts as delivery; notices may need no reply."""


class A4Options(_Entry):
    """A late reply is late, not missing."""


class A5Options(_Entry):
    """Questions @-addressed to a member tracked like notices (off by default)."""

    enabled: Flag = False


class _FieldError(ValueError):
    """A model-level check that blames one field (pydantic would blame the whole entry)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}\x00{message}")


class PolicyDocument(BaseModel):
    """A complete policy document. Build it with `parse_document`; `dump_document` writes it back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode_override: Literal["observe", "advise"] | None = None
    strike_ttl_s: Seconds = 30 * 24 * 3600

    M1: M1Options = M1Options()
    M2: M2Options = M2Options()
    M3: M3Options = M3Options()
    M4: M4Options = M4Options()
    M5: M5Options = M5Options()
    M6: M6Options = M6Options()
    M7: M7Options = M7Options()
    M8: M8Options = M8Options()
    M9: M9Options = M9Options()
    M10: M10Options = M10Options()
    C1: C1Options = C1Options()
    C2: C2Options = C2Options()
    C3: C3Options = C3Options()
    C4: C4Options = C4Options()
    C5: C5Options = C5Options()
    C6: C6Options = C6Options()
    C7: C7Options = C7Options()
    C8: C8Options = C8Options()
    C9: C9Options = C9Options()
    C10: C10Options = C10Options()
    C11: C11Options = C11Options()
    C12: C12Options = C12Options()
    C13: C13Options = C13Options()
    C14: C14Options = C14Options()
    A1: A1Options = A1Options()
    A2: A2Options = A2Options()
    A3: A3Options = A3Options()
    A4: A4Options = A4Options()
    A5: A5Options = A5Options()

    def rule(self, rule_id: str) -> _Entry:
        """The entry of one rule id (KeyError for an id the document does not hold)."""
        if rule_id not in RULE_IDS:
            raise KeyError(rule_id)
        entry: _Entry = getattr(self, rule_id)
        return entry

    def enabled(self, rule_id: str) -> bool:
        return self.rule(rule_id).enabled

    def options(self, rule_id: str) -> dict[str, Any]:
        """The rule's options as a policy's constructor takes them (without `enabled`/`ladder`):
        `LengthPolicy(**doc.options("C6"))`. Also what `PolicyContext.options` carries."""
        data = self.rule(rule_id).model_dump(mode="json", exclude={"enabled", "ladder"})
        return data

    def ladder(self, rule_id: str) -> tuple[LadderStep, ...] | None:
        """The offence ladder of a sanctioning category, None for rules that never strike."""
        entry = self.rule(rule_id)
        return entry.ladder if isinstance(entry, _Sanctioned) else None


RULE_IDS: tuple[str, ...] = tuple(n for n in PolicyDocument.model_fields if re.fullmatch(r"[MCA]\d+", n))
SETTINGS: tuple[str, ...] = tuple(name for name in PolicyDocument.model_fields if name not in RULE_IDS)
SANCTIONED: tuple[str, ...] = tuple(
    r
    for r in RULE_IDS
    if issubclass(PolicyDocument.model_fields[r].annotation, _Sanctioned)  # type: ignore[arg-type]
)


class DocumentError(ValueError):
    """An invalid document: `errors` lists every problem as (field path, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))


_MESSAGES = {
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "tuple_type": "must be a list",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "model_attributes_type": "must be an object",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
    "greater_than_equal": "must be ≥ {ge}",
    "too_short": "must have at least {min_length} item(s)",
    "string_too_short": "must not be empty",
    "missing": "is required",
}


def _message(error: ErrorDetails, path: str) -> tuple[str, str]:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        head = path.split(".")[0]
        if "." in path:
            return path, "unknown option"
        if re.fullmatch(r"D\d+", head):
            return path, "unknown rule id (the D rules take no document entry)"
        return path, "unknown rule id" if re.fullmatch(r"[A-Z]+\d+", head) else "unknown setting"
    if kind == "value_error":
        cause = ctx.get("error")
        text = str(cause) if cause is not None else error["msg"]
        if "\x00" in text:  # a _FieldError: the model check blames one field
            field, text = text.split("\x00", 1)
            path = f"{path}.{field}" if path else field
        return path, text
    if kind in _MESSAGES:
        try:
            return path, _MESSAGES[kind].format(**ctx)
        except (KeyError, IndexError):
            pass
    return path, error["msg"]


def parse_document(data: Mapping[str, Any] | None) -> PolicyDocument:
    """Validate an admin's document; omitted rules and options take the REGULATIONS defaults.

    Raises DocumentError naming every bad field ("C6.max_chars: must be ≥ 1")."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise DocumentError([("", "the document must be an object")])
    try:
        return PolicyDocument.model_validate(dict(data))
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False):
            path = ".".join(str(part) for part in error["loc"] if part not in _UNION_TAGS)
            errors.append(_message(error, path))
        # A list whose item failed is also reported too short (pydantic counts only valid items).
        errors = [
            (path, msg)
            for path, msg in errors
            if not msg.startswith("must have at least")
            or not any(p.startswith(f"{path}.") for p, _m in errors)
        ]
        raise DocumentError(errors) from None


# pydantic names the union member it tried in the location ("C7.quiet_hours.QuietHours.start").
_UNION_TAGS = {"QuietHours"}


def dump_document(document: PolicyDocument) -> dict[str, Any]:
    """The complete document as JSON-ready data (every rule, every option)."""
    return document.model_dump(mode="json")


def effective_mode(document: PolicyDocument, group_mode: GroupMode) -> GroupMode:
    """The group's mode, lowered by the document's `mode_override` (never raised)."""
    order = [GroupMode.OBSERVE, GroupMode.ADVISE, GroupMode.ENFORCE]
    if document.mode_override is None:
        return group_mode
    return min(group_mode, GroupMode(document.mode_override), key=order.index)


# Presets ----------------------------------------------------------------------------------------

PRESETS = ("work-group", "strict", "observe-only")


def preset_names() -> tuple[str, ...]:
    return PRESETS


@cache
def _preset_data(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    text = resources.files("policies").joinpath("presets", f"{name}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise DocumentError([("", f"preset {name} is not a mapping")])
    return data


def load_preset(name: str) -> PolicyDocument:
    """A bundled preset, validated (KeyError for an unknown name)."""
    return parse_document(_preset_data(name))
