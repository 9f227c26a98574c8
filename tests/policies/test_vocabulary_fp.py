"""CI gate on everyday chat (CONTENT.md #10): the default keyword lists must not flag more than 0.5%
of the LCCC chit-chat sample, so adding a word cannot raise false positives unnoticed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from policies.base import ChatMessage, MessageSource, PolicyContext
from policies.content.keywords import keyword_policies
from policies.content.vocabulary import RULE_FILES, default_vocabulary

# ../shared/eval beside the checkout (the main one or a worktree one level further down).
_HERE = Path(__file__).resolve().parents[2]
_FOUND = [p / "shared/eval/lccc.dev.jsonl" for p in (_HERE.parent, _HERE.parent.parent)]
LCCC = next((p for p in _FOUND if p.exists()), _FOUND[0])
LIMIT = 0.005


def test_the_defaults_flag_at_most_half_a_percent_of_chit_chat() -> None:
    if not LCCC.exists():
        pytest.skip(f"{LCCC} is absent: the benign sample lives outside the repository (../shared/eval)")
    lines = [json.loads(line) for line in LCCC.read_text("utf-8").splitlines() if line.strip()]
    ctx = PolicyContext(now=datetime(2026, 12, 4, tzinfo=UTC), timezone=UTC)
    policies = keyword_policies()
    flagged = []
    for i, row in enumerate(lines):
        m = ChatMessage(f"l{i}", "u", ctx.now, "text", row["text"], MessageSource.ARCHIVE, chat_id="wr1")
        found = [d for p in policies for d in p.evaluate(m, ctx)]
        if found:
            flagged.append((found[0].rule_id, found[0].matched))
    assert len(lines) >= 500
    assert len(flagged) <= LIMIT * len(lines), f"{len(flagged)}/{len(lines)} flagged: {flagged[:20]}"


def test_every_rule_has_default_words() -> None:
    counts = default_vocabulary().counts
    assert set(RULE_FILES) <= set(counts)
    assert all(counts[rule] > 0 for rule in RULE_FILES)
