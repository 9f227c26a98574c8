"""WeCom error codes and API endpoints: the only place their numbers and paths are written.

Error codes: WECOM.md §4.9 (official 全局错误码 DOC:90313/90455), plus the few the client and the
simulator need that the table leaves out (each marked with where it comes from).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum, nonmember


class ErrCode(IntEnum):
    SYSTEM_BUSY = -1  # 系统繁忙: retry (≤3 times)
    OK = 0
    DATA_VERSION_CONFLICT = 6000  # 数据版本冲突: retry later
    INVALID_SECRET = 40001
    INVALID_USERID = 40003
    INVALID_MSGTYPE = 40008  # 不合法的msgtype参数 (WxJava WxCpErrorMsgEnum)
    INVALID_CORPID = 40013
    INVALID_ACCESS_TOKEN = 40014
    INVALID_USERID_LIST = 40031  # a UserID in the list is not in the directory
    CHATID_NOT_EXIST = 40050
    INVALID_AGENTID = 40056
    INVALID_PARAMETER = 40058  # 不合法的参数 (WxJava WxCpErrorMsgEnum)
    MISSING_ACCESS_TOKEN = 41001  # 缺少access_token参数 (WxJava WxCpErrorMsgEnum)
    ACCESS_TOKEN_EXPIRED = 42001
    REQUIRE_CALLBACK_URL = 43012
    EMPTY_CONTENT = 44004
    CONTENT_TOO_LARGE = 45002
    API_FREQ_OUT_OF_LIMIT = 45009  # minute limits ban for 60 s, hour limits for 60 min
    API_CONCURRENT_OUT_OF_LIMIT = 45033
    USER_NOT_EXIST = 46004
    API_UNAUTHORIZED = 48002  # e.g. user/list_id without the contacts secret
    USER_OUT_OF_SCOPE = 50002
    NO_PRIVILEGE = 60011
    IP_NOT_ALLOWED = 60020
    USERID_NOT_FOUND = 60111
    INVALID_DEPARTMENT_ID = 60123  # 无效的部门id (WxJava WxCpErrorMsgEnum)
    ALL_RECIPIENTS_INVALID = 81013
    GROUPCHAT_LIST_NEEDS_OWNER_FILTER = 81017
    ALL_TARGETS_INVALID = 82001
    INVALID_CHATID = 86001
    CHATID_NOT_FOUND = 86003
    INVALID_CHAT_NAME = 86004
    INVALID_CHAT_OWNER = 86005
    CHAT_MEMBER_COUNT = 86006  # too many or too few members (also for a malformed JSON body)
    INVALID_CHAT_MEMBER = 86007
    NOT_OWN_CHAT = 86008  # the chat was not created by this app
    INVALID_SESSION_MEMBER = 86216
    SENDER_NOT_IN_SESSION = 86217
    INVALID_SESSION_PARAMETER = 86220
    NOT_EXTERNAL_GROUPCHAT = 90501
    INVALID_WEBHOOK_URL = 93000  # webhook/send with an unknown key ("invalid webhook url")
    NO_APP_PRIVILEGE = 301002  # the agentid in the body is not the token's app

    # Not members: sets of codes that call for the same reaction.
    RETRYABLE = nonmember(frozenset({-1, 6000, 45009, 45033}))
    TOKEN_INVALID = nonmember(frozenset({40014, 42001}))


# Module-level aliases, for `from app.wecom.codes import RETRYABLE`.
RETRYABLE: frozenset[int] = ErrCode.RETRYABLE
TOKEN_INVALID: frozenset[int] = ErrCode.TOKEN_INVALID


class Endpoint(StrEnum):
    """API paths relative to the base URL (https://qyapi.weixin.qq.com)."""

    GETTOKEN = "/cgi-bin/gettoken"
    USER_GET = "/cgi-bin/user/get"
    USER_LIST_ID = "/cgi-bin/user/list_id"
    DEPARTMENT_LIST = "/cgi-bin/department/list"
    APPCHAT_CREATE = "/cgi-bin/appchat/create"
    APPCHAT_GET = "/cgi-bin/appchat/get"
    APPCHAT_UPDATE = "/cgi-bin/appchat/update"
    APPCHAT_SEND = "/cgi-bin/appchat/send"
    MESSAGE_SEND = "/cgi-bin/message/send"
    MESSAGE_RECALL = "/cgi-bin/message/recall"
    UPDATE_TEMPLATE_CARD = "/cgi-bin/message/update_template_card"
    WEBHOOK_SEND = "/cgi-bin/webhook/send"
    GROUPCHAT_GET = "/cgi-bin/externalcontact/groupchat/get"
    GROUPCHAT_LIST = "/cgi-bin/externalcontact/groupchat/list"
    # SIMULATOR ONLY. The real chat archive is read with the Finance SDK's GetChatData (a C
    # library, WECOM.md §3.2), not over qyapi; the simulator serves the same paging (messages
    # after `seq`, limit ≤ 1000) on this path, unencrypted, so the archive adapter can be tested.
    ARCHIVE_PULL = "/cgi-bin/msgaudit/sim_chatdata"
