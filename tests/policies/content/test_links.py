"""C2 malicious links: deny → warning with a strike; short links and look-alikes → review."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from policies.base import ChatMessage, MessageSource, PolicyContext, Remedy, Verdict
from policies.content.links import MaliciousLinks, default_deny_domains, default_short_link_domains

CTX = PolicyContext(now=datetime(2026, 12, 4, 10, tzinfo=UTC), timezone=ZoneInfo("Asia/Shanghai"))
DATA = Path(__file__).resolve().parents[3] / "policies" / "data"


def message(text: str, links: tuple[str, ...] = ()) -> ChatMessage:
    return ChatMessage("m1", "zhangsan", CTX.now, "text", text, MessageSource.ARCHIVE, "chat1", links=links)


COMPANY = MaliciousLinks(allow_domains=["apple.com", "baidu.com"], company_domains=["corp.example.cn"])


@pytest.mark.parametrize(
    ("text", "verdict", "kind"),
    [
        ("今晚一起 www.bet365.com 下注", Verdict.WARN, "deny:gambling"),
        ("ｗｗｗ．ｐｏｒｎｈｕｂ．ｃｏｍ 福利", Verdict.WARN, "deny:porn"),  # full-width
        ("看 pornhub。com", Verdict.WARN, "deny:porn"),  # 。 as a dot, no scheme
        ("HTTPS://M.Bet365.COM/zh-CHS", Verdict.WARN, "deny:gambling"),  # case, subdomain
        ("新站 hot.xxx 更新", Verdict.WARN, "deny:porn"),  # adult TLD
        ("领取 t.cn/A6abcd 红包", Verdict.REVIEW, "short-link"),
        ("点这里bit.ly/xyz", Verdict.REVIEW, "short-link"),
        ("登录 аpple.com/id 验证", Verdict.REVIEW, "homograph:apple.com"),  # Cyrillic а
        ("登录 xn--pple-43d.com 验证", Verdict.REVIEW, "homograph:apple.com"),  # punycode
        ("见 bäidu.com", Verdict.REVIEW, "homograph:baidu.com"),
        ("раypal.com 退款", Verdict.REVIEW, "mixed-script"),  # not allowed, still mixed scripts
    ],
)
def test_flagged(text: str, verdict: Verdict, kind: str) -> None:
    [decision] = COMPANY.evaluate(message(text), CTX)
    assert (decision.policy, decision.rule_id, decision.verdict) == ("malicious-links", "C2", verdict)
    assert ("link", kind) in decision.evidence
    assert decision.span is not None and text[decision.span[0] : decision.span[1]] == decision.matched
    assert ("url", decision.matched) in decision.evidence
    if verdict is Verdict.WARN:
        assert decision.remedies == (Remedy.RECORD_STRIKE, Remedy.REMIND_PRIVATELY)
        assert decision.reason.startswith("C2 禁止发布色情、赌博、病毒等违规链接：")
        assert "请自行撤回该消息" in decision.reason
    else:
        assert decision.remedies == (Remedy.REVIEW,)
        assert decision.reason.startswith("C2 ")


@pytest.mark.parametrize(
    "text",
    [
        "周报见 https://www.baidu.com/s?wd=报表",  # allowed
        "OA 在 oa.corp.example.cn/login",  # company domain, a subdomain of it
        "参考 https://github.com/a/b 和 docs.python.org",  # unknown: nothing by default
        "联系 zhang@bet365.com",  # an address is not a link (the ad engine reads contacts)
        "附件 report.pdf，版本 v1.2.3，单价 3.5元，2026.12.04 截止",
        "例子.中国 和 пример.рф",  # IDN without a look-alike
    ],
)
def test_benign(text: str) -> None:
    assert COMPANY.evaluate(message(text), CTX) == []


def test_card_links_are_checked_without_a_span() -> None:
    [decision] = COMPANY.evaluate(message("[链接] 精彩活动", links=("https://sports.bet365.com/a",)), CTX)
    assert decision.verdict is Verdict.WARN and decision.span is None
    assert decision.matched == "https://sports.bet365.com/a"
    assert ("domain", "bet365.com") in decision.evidence


def test_one_decision_the_most_severe_with_every_url_in_evidence() -> None:
    [decision] = COMPANY.evaluate(message("先看 t.cn/abc 再去 pornhub.com"), CTX)
    assert decision.verdict is Verdict.WARN and decision.matched == "pornhub.com"
    assert ("url", "t.cn/abc") in decision.evidence and ("link", "short-link") in decision.evidence


def test_options() -> None:
    text = "去 github.com 和 bet365.com 和 t.cn/x"
    assert MaliciousLinks(allow_domains=["bet365.com", "t.cn"]).evaluate(message(text), CTX) == []
    assert MaliciousLinks(default_deny=False, short_link_domains=()).evaluate(message(text), CTX) == []
    [denied] = MaliciousLinks(deny_domains=["https://GitHub.com/x"], short_link_domains=()).evaluate(
        message("去 github.com"), CTX
    )
    assert denied.verdict is Verdict.WARN and ("link", "deny:custom") in denied.evidence
    [unknown] = MaliciousLinks(review_unknown=True).evaluate(message("去 github.com"), CTX)
    assert unknown.verdict is Verdict.REVIEW and ("link", "unknown") in unknown.evidence
    [idn] = MaliciousLinks(deny_domains=["例子.中国"]).evaluate(message("http://www.例子.中国"), CTX)
    assert idn.verdict is Verdict.WARN


def test_a_bad_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="not a domain"):
        MaliciousLinks(deny_domains=["not a domain"])


def test_bundled_lists_are_read_and_documented() -> None:
    assert default_deny_domains()["bet365.com"] == "gambling"
    assert {"t.cn", "bit.ly"} <= default_short_link_domains()
    assert set(default_deny_domains().values()) <= {"porn", "gambling", "malware", "test"}
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for path in DATA.rglob("*"):
        name = path.relative_to(DATA).as_posix()
        if path.is_file() and path.name not in ("README.md", "__init__.py") and "__pycache__" not in name:
            assert re.search(rf"`{re.escape(name)}`", readme), f"{name} has no source in README.md"
