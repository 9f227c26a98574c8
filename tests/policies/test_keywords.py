"""Keyword rules C1, C2, C3, C4, C5, C10, C11 (policies.content.keywords): table-driven, with evasions
and benign look-alikes; weak evidence never strikes; spans index the original text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import policies.content.keywords as kw
from policies.base import ChatMessage, Decision, MessageSource, PolicyContext, Remedy, Verdict
from policies.content.keywords import (
    AdKeywords,
    InsultKeywords,
    KeywordScanner,
    keyword_policies,
)
from policies.content.vocabulary import VocabularyCache, WordList, build_vocabulary

CTX = PolicyContext(now=datetime(2026, 12, 4, 9, 0, tzinfo=UTC), timezone=UTC)


def message(text: str, *, quoted: str | None = None, links: tuple[str, ...] = ()) -> ChatMessage:
    return ChatMessage(
        "m1", "zhangsan", CTX.now, "text", text, MessageSource.ARCHIVE, chat_id="wr1",
        quoted_text=quoted, links=links,
    )  # fmt: skip


def judge(text: str, scanner: KeywordScanner | None = None, **kwargs: object) -> list[Decision]:
    m = message(text, **kwargs)  # type: ignore[arg-type]
    return [d for p in keyword_policies(scanner) for d in p.evaluate(m, CTX)]


def verdicts(text: str) -> set[tuple[str, Verdict]]:
    return {(d.rule_id, d.verdict) for d in judge(text)}


W, R = Verdict.WARN, Verdict.REVIEW

SANCTIONED = [
    # (text, rule id): decisive words and their evasions
    ("代开发票，量大从优", "C1"),
    ("代 开 发 票", "C1"),  # spaced
    ("代開發票", "C1"),  # traditional
    ("代\u200b开\u200c发\u2060票", "C1"),  # zero-width
    ("代🔥开🔥发🔥票", "C1"),  # emoji-split
    ("ＴＤ退订：回Ｔ退订", "C1"),  # full-width
    ("加我薇信 abc12345", "C1"),  # homophone contact + id
    ("加V：abc123456", "C1"),
    ("+V abc123456 了解", "C1"),  # a symbol for 加
    ("jia wei xin: wx8866123 优惠多多", "C1"),  # pinyin (generated at build time) + id + weak word
    ("全場優惠，活動詳詢，加微信 kefu8866123", "C1"),  # weak words + a contact id in a window
    ("新品特价 www.example.top 限时秒杀 最低价", "C1"),  # weak words + URL + promises
    ("特价促销 详情见链接 限时", "C1", ("https://example.com/p",)),  # a link card counts as a URL
    ("百家乐在线，充值返水", "C2"),
    ("約炮", "C2"),  # traditional
    ("推翻政府", "C3"),
    ("把他们全部杀光", "C4"),
    ("你个傻 逼", "C5"),
    ("ＳＢ", "C5"),  # full-width Latin, word boundaries hold
    ("你个ѕb", "C5"),  # homoglyph (Cyrillic ѕ)
    ("你个傻傻傻逼", "C5"),  # repeats
    ("稳赚不赔的项目", "C10"),
    ("日结工资，兼职", "C10"),
    ("帮忙转发一下水滴筹", "C10"),
    ("扫码进群领福利", "C11"),
    ("qq群 ①②③④⑤⑥⑦⑧", "C11"),  # a group number in circled digits
    ("🐧群号：壹贰叁肆伍陆", "C11"),  # 🐧 → qq, financial numerals → digits
    # gambling brands and bonuses, and a URL as C2 evidence
    ("今晚澳门新葡京 上线送彩金 www.xpj888.com", "C2"),
    ("今晚澳門新葡京，上線送彩金 ｗｗｗ．ｘｐｊ８８８．ｃｏｍ", "C2"),  # traditional, full-width
    ("博彩 彩票 xpj888.com", "C2"),  # two weak gambling words + a URL (weight 2 in C2)
    ("幸 运 飞 艇 计 划", "C2"),
    # a contact invitation with an id and a selling word
    ("加我微信 abc123，优惠多多", "C1"),
    ("加我微信：abc123 全场特价", "C1"),
    ("加我威信 abc123", "C1"),  # an evasive spelling is decisive alone
    # ad conventions
    ("退订回N", "C1"),
    ("代 开 普 票", "C1"),
    ("复制这条信息，打开手机淘宝", "C1"),
    ("黑户可贷，当天放款", "C1"),
    ("限时优惠 详情见 https://shop.example.top/sale", "C1"),  # promo + promise + URL
    # insults aimed at someone, foul-language initials
    ("你个垃圾", "C5"),
    ("你這個神經病", "C5"),  # traditional
    ("你 们 这 些 废 物", "C5"),  # spaced
    ("tmd 又改需求", "C5"),
    ("你妈卖批", "C5"),
    # incitement
    ("把他们砍死他们一个不留", "C4"),
    ("加裙 12345678", "C11"),  # 裙 for 群
    ("凭此短信到店享受折扣", "C1"),
    ("老师带单，稳赚不赔", "C10"),
    ("宝妈兼职，在家可做", "C10"),
]

BENIGN = [
    # must not match any keyword rule
    "管理", "测试", "加班", "这个功能我测试过了",
    "活动于9月30日结束，谢谢大家",  # 日结束 overrides 日结
    "当日结算的单据请交财务",
    "报价单价3000元，有问题打我电话13800138000",  # a price in a work quote
    "加微信群里说吧",  # a work context
    "sms 验证码收不到",
    "usb接口坏了，换一个USB线",  # sb must not hit in usb
    "开会用微信meeting都可以",  # a contact word followed by a word, not an id
    "这个bug在SMS模块里",
    "把垃圾分类一下，放进垃圾桶",  # allow-list superstrings of a weak insult word
    "今天加我的好友，一起去吃饭",
    "微信聊天记录发我一下",  # a contact word followed by words, not an id
    "上午十点开会，请大家准时参加",
    "哈哈哈哈哈",
    "师傅明天上门服务，记得留人",  # a home-service company's work chat
    "平台严查刷单行为，请运营注意",
    "好的👍",
    "18K彩金戒指很好看",  # 彩金 is also a jewellery word: weak, alone nothing
    "金沙江边散步",
    "进程都杀了，重启一下",  # "killed the processes"
    "把垃圾倒了，你们垃圾袋放哪了",  # 你们 + 垃圾: not aimed (垃圾袋 is allowed; 垃圾倒 no frame)
    "你个子挺高",
    "玉米棒子真好吃",
    "首付交了多少",
    "脑瘫患者康复中心的志愿者活动",
    "电子游艺厅改造项目的图纸",  # an arcade: a weak C2 word alone
]  # fmt: skip


class TestTables:
    @pytest.mark.parametrize("case", SANCTIONED, ids=[str(c[0]) for c in SANCTIONED])
    def test_a_finding_warns_with_a_strike(self, case: tuple[str, ...]) -> None:
        text, rule_id, *rest = case
        links = tuple(rest[0]) if rest else ()
        found = [d for d in judge(text, links=links) if d.rule_id == rule_id]
        assert found and found[0].verdict is W, judge(text, links=links)
        d = found[0]
        assert d.remedies == (Remedy.RECORD_STRIKE, Remedy.REMIND_PRIVATELY)
        assert d.span is not None and text[d.span[0] : d.span[1]] == d.matched
        assert d.reason.startswith(f"{rule_id} ") and "「" in d.reason
        assert d.evidence

    @pytest.mark.parametrize("text", BENIGN)
    def test_benign_look_alikes_do_not_match(self, text: str) -> None:
        assert judge(text) == []


class TestAllowList:
    @pytest.mark.parametrize("text", ["兼职同学的培训于9月30日结束", "兼职人员当日结算"])
    def test_an_allow_superstring_cancels_the_deny_word_inside(self, text: str) -> None:
        # 兼职 and 日结 are both weak C10 words: together they would go to review.
        assert judge(text) == []
        assert [d.verdict for d in judge(text.replace("结束", "结").replace("结算", "结"))] == [R]


class TestWeakEvidence:
    @pytest.mark.parametrize(
        "text",
        [
            "优惠活动咨询",  # weak words only, however many
            "优惠 加微信了解",  # a weak word and an invitation without an id
            "wx 1234567",  # a plain contact id alone
            "新品优惠，电话 13800138000",  # weak word + phone, below the sanction score
        ],
    )
    def test_weak_evidence_goes_to_review_never_a_strike(self, text: str) -> None:
        found = judge(text)
        assert found, text
        assert all(d.verdict is R and d.remedies == (Remedy.REVIEW,) for d in found)

    @pytest.mark.parametrize(
        "text",
        [
            "加我微信 abc123",  # an invitation with an id, nothing else: colleagues do this
            "加我微信 zs8888，活动细节私聊",  # + one business word: still no selling
            "这次促销活动的优惠券和折扣怎么设置",  # a marketing team's chat: selling words, no reach
            "活动详情见 https://intranet.example.com/event",  # business words + a URL
            "博彩 xpj888.com",  # one weak C2 word + a URL
            "微信 abc123456 优惠",  # a plain contact id (2) + one promo word (1): below the score
        ],
    )
    def test_the_line_between_review_and_a_strike(self, text: str) -> None:
        found = judge(text)
        assert found, text
        assert all(d.verdict is R for d in found), found

    def test_an_invitation_with_an_id_outweighs_a_plain_contact_id(self) -> None:
        assert [d.verdict for d in judge("加我微信 abc123，优惠多多")] == [W]
        assert [d.verdict for d in judge("我微信 abc123，优惠多多")] == [R]

    def test_a_url_counts_once_it_is_found_by_find_urls(self) -> None:
        # find_urls reads full-width dots and 点; the old private regex did not know "点com"
        d = judge("博彩 彩票 xpj888点com")[0]
        assert (d.rule_id, d.verdict) == ("C2", W)
        assert ("url", "xpj888点com") in d.evidence
        assert judge("博彩 彩票 report.pdf") and judge("博彩 彩票 report.pdf")[0].verdict is R  # not a URL

    @pytest.mark.parametrize("text", ["优惠", "今天有活动", "咨询一下"])
    def test_one_weak_word_alone_does_nothing(self, text: str) -> None:
        assert judge(text) == []

    def test_weak_words_far_apart_do_not_add_up(self) -> None:
        far = "优惠" + "，".join(["今天下午开会讨论方案"] * 8) + "电话13800138000 加微信 kf12345678"
        assert {d.verdict for d in judge(far)} <= {R}


class TestScope:
    def test_quoted_text_is_not_judged_again(self) -> None:
        quote = "代开发票，加微信 abc12345"
        text = f"「{quote}」\n这是广告吧？"
        assert judge(text, quoted=quote) == []
        assert judge(text)  # without the quote marked, the same words would be judged

    def test_spans_outside_the_quote_stay_original_offsets(self) -> None:
        quote = "请看这个"
        text = f"{quote} 你个傻逼"
        d = judge(text, quoted=quote)[0]
        assert d.span is not None and text[d.span[0] : d.span[1]] == "傻逼" == d.matched

    def test_seven_policies_share_one_scan(self, monkeypatch: pytest.MonkeyPatch) -> None:
        built: list[object] = []
        original = kw.Scan.__init__

        def counting(self: kw.Scan, *args: object) -> None:
            built.append(args[0])
            original(self, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(kw.Scan, "__init__", counting)
        scanner = KeywordScanner()
        m = message("代开发票")
        policies = keyword_policies(scanner)
        assert len(policies) == 7 and len({p.name for p in policies}) == 7
        for p in policies:
            p.evaluate(m, CTX)
        assert built == [m]


class TestAdminWords:
    def scanner(self, **lists: dict[str, WordList]) -> KeywordScanner:
        return KeywordScanner(build_vocabulary(lists.get("glob"), lists.get("group")))

    def test_an_added_word_is_decisive(self) -> None:
        s = self.scanner(glob={"C1": WordList.of(added=["团建套餐"])})
        assert [(d.rule_id, d.verdict) for d in judge("团 建 套 餐 了解一下", s)] == [("C1", W)]

    def test_a_removed_default_word_no_longer_matches(self) -> None:
        s = self.scanner(group={"C5": WordList.of(removed=["傻逼"])})
        assert judge("傻逼", s) == []
        assert judge("傻逼")  # other groups keep the default

    def test_the_group_overrides_the_global_list(self) -> None:
        s = self.scanner(
            glob={"C5": WordList.of(added=["菜狗"])}, group={"C5": WordList.of(removed=["菜狗"])}
        )
        assert judge("菜狗", s) == []

    def test_a_regex_runs_in_re2(self) -> None:
        s = self.scanner(glob={"C10": WordList.of(added=[r"re:年化\d+%"])})
        d = judge("年化12%的产品", s)[0]
        assert (d.rule_id, d.verdict, d.matched, d.span) == ("C10", W, "年化12%", (0, 5))

    @pytest.mark.parametrize("word", ["滚", "ａ", "[微笑]广"])
    def test_single_character_words_are_refused(self, word: str) -> None:
        with pytest.raises(ValueError, match="single character"):
            build_vocabulary({"C5": WordList.of(added=[word])})

    @pytest.mark.parametrize("word", ["re:(a", "re:(a)\\1", "re:"])
    def test_a_bad_regex_is_refused(self, word: str) -> None:
        with pytest.raises(ValueError, match="regular expression"):
            build_vocabulary({"C1": WordList.of(added=[word])})

    def test_an_unknown_rule_is_refused(self) -> None:
        with pytest.raises(ValueError, match="no keyword rule"):
            build_vocabulary({"C7": WordList.of(added=["夜里"])})

    def test_the_cache_shares_equal_lists(self) -> None:
        cache = VocabularyCache(maxsize=2)
        a = cache.get({"C1": WordList.of(added=["团建套餐"])})
        assert cache.get({"C1": WordList.of(added=["团建套餐"])}) is a
        assert cache.get() is not a
        cache.get(None, {"C1": WordList.of(added=["x套餐"])})
        assert cache.get({"C1": WordList.of(added=["团建套餐"])}) is not a  # evicted


class TestOptions:
    def test_a_wider_window_adds_far_evidence(self) -> None:
        text = "优惠" + "。" * 0 + "今天下午开会讨论方案" * 6 + "加微信 kf12345678 限时"
        narrow = AdKeywords(window=10).evaluate(message(text), CTX)
        wide = AdKeywords(window=200).evaluate(message(text), CTX)
        assert [d.verdict for d in wide] == [W]
        assert [d.verdict for d in narrow] != [W]

    def test_bad_options_are_refused(self) -> None:
        with pytest.raises(ValueError):
            InsultKeywords(review_score=3, sanction_score=2)
