"""Links (C2) and private information (C12) on 200-character messages: median and p99 µs.

    .venv/bin/python -m bench.links [--messages 3000] [--rounds 5] [--seed 7]

Messages are work-chat phrases cut to 200 characters; a share of them carry a URL in one of the
forms members write (scheme, none, full-width, 。 as a dot, short link, IDN) or an ID / bank-card
number. Rows, each timed per message over every round:

- `find_urls`: policies.content.urls.find_urls alone;
- `malicious-links`: MaliciousLinks.evaluate (find_urls + lists + homographs), allowed company
  domains configured;
- `private-info`: PrivateInfo.evaluate with phones on (the costlier setting);
- `both policies`: the two evaluate calls one after the other, as the content service runs them;
- the comparison, in the same run on the same messages: `urlextract` (URLExtract().find_urls,
  when installed: `pip install urlextract`) and a naive URL regex (`https?://\\S+|www\\.\\S+`, which
  finds far less). Ratios are theirs over ours, medians.

The registrable-domain cache is cleared before every round, so hosts are looked up afresh once
per round (the real service keeps them across messages; steady state is faster).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from policies.base import ChatMessage, MessageSource, PolicyContext
from policies.content.links import MaliciousLinks
from policies.content.pii import PrivateInfo
from policies.content.urls import find_urls, registrable_domain

PHRASES = [
    "各位同事，明天上午十点在三楼大会议室开周例会，请提前准备好本周的工作总结。",
    "收到，我这边马上处理。",
    "麻烦把上个月的报销单据在周五之前交给财务部王老师。",
    "客户那边刚刚来电话，说合同第三条的付款方式还需要再确认一下。",
    "今天下午两点系统升级，届时内网会中断大约半小时，请大家提前保存好文件。",
    "新版本 v2.3.1 的测试报告已经上传到共享盘了，请产品组的同事抽空看一下。",
    "报价单已经更新，单价 3.5元，比上次下调了百分之五。",
    "截止日期 2026.12.04，逾期不候。",
    "好的👍",
    "OK，没问题。",
    "附件 report.pdf 请查收，有问题随时联系。",
    "本周五团建，地点在城东的农家乐，中午十二点集合出发。",
]
URLS = [
    "https://www.corp.example.cn/oa/notice?id=123",
    "www.baidu.com",
    "详情见 docs.python.org/3/library/re.html",
    "ｗｗｗ．ｂｅｔ３６５．ｃｏｍ",
    "pornhub。com",
    "t.cn/A6xYzAbc",
    "аpple.com/id",
    "http://例子.中国/活动",
    "github.com/org/repo/pull/42",
]
NUMBERS = ["身份证 11010519491231002X", "卡号 6222 0212 3456 7890 128", "电话 13800138000"]
NAIVE = re.compile(r"https?://\S+|www\.\S+")


def messages(count: int, seed: int, with_url: float, with_number: float) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        parts: list[str] = []
        extra = []
        if rng.random() < with_url:
            extra.append(rng.choice(URLS))
        if rng.random() < with_number:
            extra.append(rng.choice(NUMBERS))
        budget = 200 - sum(len(e) + 1 for e in extra)
        while sum(map(len, parts)) < budget:
            parts.append(rng.choice(PHRASES))
        text = "".join(parts)[:budget]
        for e in extra:
            cut = rng.randint(0, len(text))
            text = f"{text[:cut]} {e} {text[cut:]}"
        out.append(text[:200] if not extra else text)
    return out


def timed(fn: Callable[[str], Any], texts: list[str], rounds: int) -> list[float]:
    samples: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        registrable_domain.cache_clear()
        for text in texts:
            t0 = clock()
            fn(text)
            samples.append((clock() - t0) / 1000)
    return samples


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--with-url", type=float, default=0.3, help="share of messages with a URL")
    parser.add_argument("--with-number", type=float, default=0.1, help="share with an ID/card/phone")
    args = parser.parse_args()

    texts = messages(args.messages, args.seed, args.with_url, args.with_number)
    ctx = PolicyContext(now=datetime(2026, 12, 4, 10, tzinfo=UTC), timezone=ZoneInfo("Asia/Shanghai"))
    links = MaliciousLinks(allow_domains=["baidu.com", "apple.com"], company_domains=["corp.example.cn"])
    pii = PrivateInfo(phones=True)

    def message(text: str) -> ChatMessage:
        return ChatMessage("m", "u", ctx.now, "text", text, MessageSource.ARCHIVE, "c")

    def both(text: str) -> None:
        msg = message(text)
        links.evaluate(msg, ctx)
        pii.evaluate(msg, ctx)

    rows: list[tuple[str, Callable[[str], Any]]] = [
        ("find_urls", find_urls),
        ("malicious-links", lambda t: links.evaluate(message(t), ctx)),
        ("private-info", lambda t: pii.evaluate(message(t), ctx)),
        ("both policies", both),
    ]
    try:
        from urlextract import URLExtract  # type: ignore[import-not-found,import-untyped,unused-ignore]

        extractor = URLExtract()
        rows.append(("urlextract", extractor.find_urls))
    except ImportError:
        print("urlextract is not installed (pip install urlextract): comparing with the naive regex only")
    rows.append(("naive regex", NAIVE.findall))

    for _, fn in rows:  # warm-up: tldextract's snapshot, regex caches
        for text in texts[:200]:
            fn(text)

    found = sum(len(find_urls(t)) for t in texts)
    print(
        f"{len(texts)} messages of ~200 chars, {args.rounds} rounds; {found} URLs found by find_urls, "
        f"{sum(len(NAIVE.findall(t)) for t in texts)} by the naive regex"
    )
    head = f"{'row':<18}{'median µs':>12}{'p99 µs':>10}"
    print(head)
    print("-" * len(head))
    medians: dict[str, float] = {}
    for name, fn in rows:
        samples = timed(fn, texts, args.rounds)
        medians[name] = statistics.median(samples)
        print(f"{name:<18}{medians[name]:>12.2f}{p99(samples):>10.2f}")
    print()
    for other in ("urlextract", "naive regex"):
        if other in medians:
            print(f"ratio {other} / find_urls (medians): {medians[other] / medians['find_urls']:.2f}×")


if __name__ == "__main__":
    main()
