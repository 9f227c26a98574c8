"""Member-facing texts (Chinese), from templates an admin can change.

Each text quotes the rule id and the rule in one sentence (API.md conventions). Defaults live
here; an admin's wording is a `message_template` row of the same name and wins. Placeholders are
`string.Template` names (`${rule_id}`); an unknown placeholder in an admin's wording is left as
written rather than failing a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Template

# REGULATIONS.md, each content rule in one sentence as members read it.
RULES: dict[str, str] = {
    "C1": "群内禁止发布商业广告",
    "C2": "群内禁止发布色情、赌博信息及病毒、恶意链接",
    "C3": "群内禁止发布反动及攻击政府的言论",
    "C4": "群内禁止发布煽动性、极端言论",
    "C5": "群内禁止人身攻击、辱骂、诽谤和使用不文明用语",
    "C6": "发言请简洁，单条消息不超过规定字数，长内容请使用链接",
    "C7": "休息时间（免打扰时段）请勿在群内聊天",
    "C8": "禁止恶意刷屏",
    "C9": "群聊活跃时请勿集中发送大量图片，尽量使用链接",
    "C10": "未经管理员同意，禁止发布理财投资、招聘及募捐信息",
    "C11": "禁止拉人进其他群，禁止发布群二维码或其他群邀请",
    "C12": "禁止传播他人隐私信息（手机号、身份证号、银行卡号等）",
    "C13": "禁止传播谣言和未经证实的信息",
    "C14": "请少发语音，尽量使用文字",
}

DEFAULTS: dict[str, str] = {
    # A private warning: the member's message broke a rule (message/send).
    "warning": (
        "【群规提醒】你在群「${group}」发送的消息违反了 ${rule_id}：${rule}。\n"
        "原因：${reason}\n命中内容：「${matched}」\n"
        "请自行撤回该消息（企业微信不允许我们替你撤回）。${next_step}"
    ),
    # The second C5 step: a warning that also asks for an apology.
    "warning_apology": (
        "【群规警告】你在群「${group}」发送的消息违反了 ${rule_id}：${rule}。\n"
        "原因：${reason}\n命中内容：「${matched}」\n"
        "请自行撤回该消息，并在群内向相关成员道歉。${next_step}"
    ),
    # A private reminder without a strike (C6, C7, C9, C14, or weak evidence).
    "reminder": "【群规提醒】你在群「${group}」的发言：${reason}（${rule_id}：${rule}）。",
    # The short group message where the group has a robot: the offending words masked.
    "group_warning": (
        "【群规提醒】有成员的消息违反 ${rule_id}：${rule}（「${masked}」），已私信提醒，请大家共同遵守群规。"
    ),
    # M8: the reason of a removal, posted in the group.
    "removal_notice": "【移出通知】${member} 因违反 ${rule_id}：${rule}（${reason}）已被移出本群。",
    # M8/M9: the removed member, privately, with the way to appeal.
    "removal_dm": (
        "你因违反 ${rule_id}：${rule}（${reason}）已被移出群「${group}」。\n"
        "如有异议，请直接回复「申诉 」加上你的理由，管理员会复核。"
    ),
    # Advised groups: the owner and admins, with the evidence and what to do.
    "advise_owner": (
        "【群规处理建议】群「${group}」中 ${member} 的消息违反 ${rule_id}：${rule}。\n"
        "原因：${reason}\n证据：「${matched}」\n建议：${recommended}\n"
        "本群不是本应用创建的群，企业微信不允许我们在此移除成员或撤回消息，请你处理。"
    ),
    # Advised groups: the daily reminder of advice nobody has ruled on yet.
    "advise_followup": (
        "【待处理提醒】群「${group}」中 ${member} 违反 ${rule_id}：${rule} 的消息仍待处理。\n"
        "原因：${reason}\n证据：「${matched}」\n建议：${recommended}\n"
        "处理后请管理员在管理后台将其标记为已处理。"
    ),
}

# What an advised owner is asked to do, by the verdict the ladder reached.
RECOMMENDED: dict[str, str] = {
    "remove": "将该成员移出群聊",
    "warn": "提醒该成员撤回消息并遵守群规",
    "warn_apology": "提醒该成员撤回消息并在群内道歉",
}

NEXT_STEP: dict[str, str] = {
    "": "",
    "remove": "再次违反将被移出群聊。",
}


# Every value a template may use (render fills them all).
PLACEHOLDERS = frozenset(
    {"group", "member", "rule_id", "rule", "reason", "matched", "masked", "next_step", "recommended"}
)


def render(name: str, values: Mapping[str, object], overrides: Mapping[str, str] | None = None) -> str:
    """The text `name` with `values` filled in, in the admin's wording where there is one."""
    body = (overrides or {}).get(name) or DEFAULTS[name]
    return Template(body).safe_substitute({k: "" if v is None else str(v) for k, v in values.items()})


def mask(text: str) -> str:
    """Offending words for a group message: the first character kept, the rest hidden."""
    if len(text) <= 1:
        return "*"
    return text[0] + "*" * min(len(text) - 1, 8)
