"""Unit level: the replay window's exact edges, with a fixed clock (the HTTP tests keep a margin)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from app.api.callback import Stale, signed_query
from app.wecom.crypto import MalformedCallback, SignedQuery

NOW = 1_700_000_000


def runtime(window: int) -> Any:
    return cast(
        Any, SimpleNamespace(settings=SimpleNamespace(replay_window_s=window), clock=lambda: float(NOW))
    )


def query(ts: int | str) -> dict[str, str]:
    return {"msg_signature": "a" * 40, "timestamp": str(ts), "nonce": "n1"}


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_inside_the_window_is_accepted(offset: int) -> None:
    assert signed_query(query(NOW + offset), runtime(300)) == SignedQuery("a" * 40, str(NOW + offset), "n1")


@pytest.mark.parametrize("offset", [-301, 301])
def test_one_second_outside_is_stale(offset: int) -> None:
    with pytest.raises(Stale):
        signed_query(query(NOW + offset), runtime(300))


def test_window_zero_turns_the_check_off() -> None:
    assert signed_query(query(1), runtime(0)).timestamp == "1"


@pytest.mark.parametrize(
    "params",
    [
        {"timestamp": str(NOW), "nonce": "n"},
        {"msg_signature": "a", "timestamp": "-5", "nonce": "n"},
        {"msg_signature": "a", "timestamp": "1" * 13, "nonce": "n"},
        {"msg_signature": "a" * 65, "timestamp": str(NOW), "nonce": "n"},
        {"msg_signature": "a", "timestamp": "²" * 10, "nonce": "n"},  # isdigit(), but not for int()
    ],
)
def test_malformed_parameters(params: dict[str, str]) -> None:
    with pytest.raises(MalformedCallback):
        signed_query(params, runtime(300))
