"""Judging one message under its group's document: the content policies (pure), then each
category's offence ladder. No I/O: the service loads the context and the admins' word lists
before, and writes the outcomes after.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace

from app.content.enforcement import Outcome
from policies.base import ChatMessage, Policy, PolicyContext, Verdict, evaluate_all
from policies.content.build import content_policies
from policies.content.flood import text_key
from policies.content.keywords import KeywordScanner
from policies.content.vocabulary import VocabularyCache, WordList
from policies.document import PolicyDocument, effective_mode
from policies.ladder import climb_in
from policies.normalize import canonical_text

WordLists = Mapping[str, WordList]  # rule id → an admin's changes to its words


@dataclass(frozen=True, slots=True)
class Windows:
    """The counting windows a document asks for, in seconds (C8, C9)."""

    messages_s: int
    same_text_s: int
    images_s: int

    @classmethod
    def of(cls, document: PolicyDocument) -> Windows:
        return cls(document.C8.window_s, document.C8.same_text_window_s, document.C9.window_s)


def text_hash(text: str) -> str:
    """The key of a message's canonical text: C8's "same text", and one message arriving through
    two sources (archive and AI bot) is recognised whatever spacing or width it came in."""
    return text_key(canonical_text(text))


class PolicyJudge:
    """Builds a group's policies once per (document, word lists) and judges messages with them."""

    def __init__(self, *, cache_size: int = 256) -> None:
        self._vocabularies = VocabularyCache(maxsize=cache_size)
        self._policies: OrderedDict[tuple[object, ...], list[Policy[ChatMessage]]] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()

    def policies(
        self, document: PolicyDocument, global_lists: WordLists, group_lists: WordLists
    ) -> list[Policy[ChatMessage]]:
        """The document's content policies over the vocabulary with these word lists (raises
        ValueError when an admin's word or regex cannot be compiled)."""
        key = (document, tuple(sorted(global_lists.items())), tuple(sorted(group_lists.items())))
        with self._lock:
            found = self._policies.get(key)
            if found is not None:
                self._policies.move_to_end(key)
                return found
        built = content_policies(document, KeywordScanner(self._vocabularies.get(global_lists, group_lists)))
        with self._lock:
            self._policies[key] = built
            while len(self._policies) > self._size:
                self._policies.popitem(last=False)
        return built

    def judge(
        self,
        message: ChatMessage,
        context: PolicyContext,
        document: PolicyDocument,
        word_lists: tuple[WordLists, WordLists] = ({}, {}),
    ) -> list[Outcome]:
        """Every policy's decision (the allows too), each sanctionable one through its ladder.
        `context.mode` is the group's mode; the document can only lower it (observe-only)."""
        mode = effective_mode(document, context.mode)
        if mode is not context.mode:
            context = replace(context, mode=mode)
        outcomes: list[Outcome] = []
        for decision in evaluate_all(self.policies(document, *word_lists), message, context):
            ladder = document.ladder(decision.rule_id)
            final = climb_in(decision, ladder, context) if ladder else decision
            evidence = dict(final.evidence)
            outcomes.append(
                Outcome(
                    decision=final,
                    step=evidence.get("ladder_step", ""),
                    # No remedies is the ladder's one sign that nothing is done (observe, exempt).
                    acts=bool(final.remedies) and final.verdict is not Verdict.ALLOW,
                    offence=int(evidence.get("offence", "0") or 0),
                )
            )
        return outcomes
