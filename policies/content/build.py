"""A group's policy document → the content policies it enables, configured from its options.

Keyword families share one scanner (one scan per message); each other rule is one policy class
constructed with `document.options(rule_id)`. Pure: the caller supplies the scanner (built from
the vocabulary with the admins' words).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policies.base import ChatMessage, Policy
from policies.content.flood import FloodPolicy
from policies.content.images import ImagesPolicy
from policies.content.keywords import KEYWORD_POLICIES, KeywordScanner
from policies.content.length import LengthPolicy
from policies.content.links import MaliciousLinks
from policies.content.pii import PrivateInfo
from policies.content.quiet_hours import QuietHoursPolicy
from policies.content.voice import VoicePolicy
from policies.document import PolicyDocument

# Rules whose policy takes the document's options as its constructor's keywords.
_CONFIGURED: dict[str, Callable[..., Policy[ChatMessage]]] = {
    "C2": MaliciousLinks,
    "C6": LengthPolicy,
    "C7": QuietHoursPolicy,
    "C8": FloodPolicy,
    "C9": ImagesPolicy,
    "C12": PrivateInfo,
    "C14": VoicePolicy,
}

# REGULATIONS.md order, so stored decisions read like the rule book.
CONTENT_RULES = ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11", "C12", "C14")


def content_policies(document: PolicyDocument, scanner: KeywordScanner) -> list[Policy[ChatMessage]]:
    """Every enabled content policy of the document, in rule order."""
    keyword = {cls.rule_id: cls for cls in KEYWORD_POLICIES}
    policies: list[Policy[ChatMessage]] = []
    for rule_id in CONTENT_RULES:
        if not document.enabled(rule_id):
            continue
        if rule_id in keyword:
            policies.append(keyword[rule_id](scanner=scanner))
        if rule_id in _CONFIGURED:
            options: dict[str, Any] = document.options(rule_id)
            policies.append(_CONFIGURED[rule_id](**options))
    return policies
