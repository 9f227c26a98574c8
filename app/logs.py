"""Structured logging: stable dotted event names with key=value fields. Never message text or secrets."""

from __future__ import annotations

import logging
import sys
from typing import Any

LOGGER = logging.getLogger("warden")


def _fmt(value: Any) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


def log_event(name: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log `name k=v ...`; cheap when the level is off (the hot path logs at DEBUG)."""
    if LOGGER.isEnabledFor(level):
        kv = " ".join(f"{k}={_fmt(v)}" for k, v in fields.items())
        LOGGER.log(level, f"{name} {kv}" if kv else name)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("warden")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
