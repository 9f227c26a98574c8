"""C6 long posts: a post of more than `max_chars` characters gets a private reminder to post a
link instead. No strike: length is manners, not an offence (REGULATIONS.md C6)."""

from __future__ import annotations

from policies.base import ChatMessage, Decision, PolicyContext, Remedy, Verdict

# Message types whose text a member typed; a link card's title and description, a file's name are
# not "a post" (and a link is what C6 asks for).
TEXT_TYPES = frozenset({"text", "markdown", "mixed"})


class LengthPolicy:
    """C6: posts of at most `max_chars` characters (Python characters, i.e. code points)."""

    name = "long-posts"
    rule_id = "C6"

    def __init__(self, *, max_chars: int = 200) -> None:
        if max_chars < 1:
            raise ValueError("max_chars must be ≥ 1")
        self.max_chars = max_chars

    def evaluate(self, message: ChatMessage, context: PolicyContext) -> list[Decision]:
        if message.msg_type not in TEXT_TYPES or message.chat_id is None:
            return []
        length = len(message.text)
        if length <= self.max_chars:
            return []
        return [
            Decision(
                self.name,
                self.rule_id,
                Verdict.REMIND,
                f"C6 消息过长：本条 {length} 字，群规每条不超过 {self.max_chars} 字。"
                "请改用链接或在线文档分享长内容。",
                evidence=(("chars", str(length)), ("max_chars", str(self.max_chars))),
                remedies=(Remedy.REMIND_PRIVATELY,),
            )
        ]
