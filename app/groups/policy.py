"""The one seam between the groups registry and the policy documents: validate a document, name a
preset. A minimal stand-in for now (a JSON object keyed by rule ids, each entry with `enabled` and
its options); the policy-document schema and the preset files replace the bodies of these
functions, and the registry, its endpoints and its tests keep calling only these.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from app.errors import Invalid

# Rule ids as REGULATIONS.md spells them (C1…C14, M…, A…).
RULE_ID = re.compile(r"[A-Z][0-9]{1,2}")
DEFAULT_PRESET = "work-group"

_WORK_GROUP: dict[str, Any] = {
    "C1": {"enabled": True},
    "C2": {"enabled": True},
    "C3": {"enabled": True},
    "C4": {"enabled": True},
    "C5": {"enabled": True},
    "C6": {"enabled": True, "max_chars": 200},
    "C7": {"enabled": True, "quiet_hours": {"start": "22:00", "end": "07:30"}},
    "C8": {"enabled": True, "max_messages": 10, "window_s": 60},
    "C10": {"enabled": True},
    "C11": {"enabled": True},
    "C12": {"enabled": True},
    "C14": {"enabled": False},
    "A2": {"enabled": True, "remind_after_s": 1800, "escalate_after_s": 3600, "penalty_yuan": 0},
}
_STRICT: dict[str, Any] = {
    **copy.deepcopy(_WORK_GROUP),
    "C6": {"enabled": True, "max_chars": 100},
    "C8": {"enabled": True, "max_messages": 5, "window_s": 60},
}
_OBSERVE_ONLY: dict[str, Any] = {rule: {**entry, "enabled": False} for rule, entry in _WORK_GROUP.items()}

_PRESETS: dict[str, dict[str, Any]] = {
    "work-group": _WORK_GROUP,
    "strict": _STRICT,
    "observe-only": _OBSERVE_ONLY,
}
PRESETS: tuple[str, ...] = tuple(_PRESETS)


def preset_document(name: str) -> dict[str, Any]:
    """A fresh copy of the preset `name`; Invalid naming `preset` for an unknown one."""
    try:
        return copy.deepcopy(_PRESETS[name])
    except KeyError:
        raise Invalid(f"preset: unknown preset {name!r}; one of {', '.join(PRESETS)}") from None


def validate_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as it will be stored; Invalid naming the first bad field
    (`document.C6.enabled`)."""
    if not isinstance(doc, dict):
        raise Invalid("document: must be a JSON object keyed by rule id")
    for rule, entry in doc.items():
        where = f"document.{rule}"
        if not isinstance(rule, str) or not RULE_ID.fullmatch(rule):
            raise Invalid(f"{where}: not a rule id (C1, C6, A2, …)")
        if not isinstance(entry, dict):
            raise Invalid(f"{where}: must be an object with `enabled` and the rule's options")
        if "enabled" in entry and not isinstance(entry["enabled"], bool):
            raise Invalid(f"{where}.enabled: must be true or false")
        for option, value in entry.items():
            if option.endswith("_s") and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise Invalid(f"{where}.{option}: must be a whole number of seconds ≥ 0")
    return copy.deepcopy(doc)
