"""C14 voice messages: fewer voice messages, write text instead (off by default). A private
reminder for every voice message; no strike (REGULATIONS.md C14)."""

from __future__ import annotations

from policies.base import ChatMessage, Decision, PolicyContext, Remedy, Verdict

VOICE_TYPES = frozenset({"voice"})


class VoicePolicy:
    """C14: a reminder to write text instead of sending voice messages in the group."""

    name = "voice-messages"
    rule_id = "C14"

    def __init__(self) -> None:
        pass

    def evaluate(self, message: ChatMessage, context: PolicyContext) -> list[Decision]:
        if message.msg_type not in VOICE_TYPES or message.chat_id is None:
            return []
        return [
            Decision(
                self.name,
                self.rule_id,
                Verdict.REMIND,
                "C14 请尽量少发语音：群内请改用文字，方便大家查看和检索。",
                remedies=(Remedy.REMIND_PRIVATELY,),
            )
        ]
