"""The one seam between the groups registry and the policy documents (policies.document):
validate a document as it will be stored, name a preset."""

from __future__ import annotations

from typing import Any

from app.errors import Invalid
from policies.document import DocumentError, dump_document, load_preset, parse_document, preset_names

DEFAULT_PRESET = "work-group"
PRESETS: tuple[str, ...] = preset_names()


def preset_document(name: str) -> dict[str, Any]:
    """The preset `name` as a complete document; Invalid naming `preset` for an unknown one."""
    if name not in PRESETS:
        raise Invalid(f"preset: unknown preset {name!r}; one of {', '.join(PRESETS)}")
    return dump_document(load_preset(name))


def validate_document(doc: Any) -> dict[str, Any]:
    """The document as it will be stored (complete: what it leaves out takes the defaults);
    Invalid naming every bad field (`document.C6.max_chars: must be ≥ 1`)."""
    if not isinstance(doc, dict):
        raise Invalid("document: must be a JSON object keyed by rule id")
    try:
        return dump_document(parse_document(doc))
    except DocumentError as exc:
        raise Invalid("; ".join(f"document.{path}: {message}" for path, message in exc.errors)) from None
