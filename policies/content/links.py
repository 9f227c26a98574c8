"""C2 links: no pornography, gambling or virus / malicious links (REGULATIONS.md C2).

Reads the URLs of a message's text (`find_urls`: with or without a scheme, full-width dots, IDN)
and of its cards (`ChatMessage.links`: link and weapp cards, news items). Each URL's host is
checked, in this order, against:

1. `allow_domains` and `company_domains` (the company's own domains, allowed per group) → nothing;
2. `deny_domains` plus the bundled default deny list (policies/data/deny_domains.txt) →
   `WARN` with a strike and a private reminder ("C2 禁止发布色情、赌博、病毒等违规链接：…");
3. short-link domains (policies/data/short_link_domains.txt): where they lead is unknown →
   `REVIEW` (an admin decides), never a sanction;
4. homographs: an IDN host that reads like an allowed or company domain (`аpple.com` with a
   Cyrillic а when apple.com is allowed), or a label mixing Latin with Cyrillic / Greek letters
   → `REVIEW`;
5. anything else → nothing, unless `review_unknown=True` (strict groups: every link that is not
   allowed goes to review).

A list entry covers the domain and its subdomains (`bet365.com` covers `www.bet365.com`); a bare
TLD (`xxx`) covers the TLD. Entries may be written as Unicode (`例子.中国`) or punycode.
One decision per message: the most severe finding, with every flagged URL in the evidence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from urllib.parse import urlsplit

from policies.base import ChatMessage, Decision, PolicyContext, Remedy, Verdict
from policies.content.urls import (
    UrlHit,
    find_urls,
    mixed_script_label,
    registrable_domain,
    skeleton,
    to_ascii_host,
    to_unicode_host,
)

RULE = "C2 禁止发布色情、赌博、病毒等违规链接"
CATEGORY_LABELS = {
    "porn": "色情网站",
    "gambling": "赌博网站",
    "malware": "恶意网站",
    "test": "安全测试网站",
    "custom": "禁止的网站",
}


def _data_lines(name: str) -> list[list[str]]:
    text = resources.files("policies").joinpath("data", name).read_text(encoding="utf-8")
    rows = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            rows.append(fields)
    return rows


@cache
def default_deny_domains() -> dict[str, str]:
    """The bundled deny list: ASCII domain (or TLD) → category."""
    return {normalize_domain(row[0]): row[1] for row in _data_lines("deny_domains.txt")}


@cache
def default_short_link_domains() -> frozenset[str]:
    """The bundled URL-shortener domains (ASCII)."""
    return frozenset(normalize_domain(row[0]) for row in _data_lines("short_link_domains.txt"))


def normalize_domain(entry: str) -> str:
    """A list entry as the ASCII host it matches: lower case, punycode, no scheme, path, port or
    leading `*.`; ValueError when nothing domain-like is left."""
    value = entry.strip().lower()
    if "/" in value:
        value = urlsplit(value if "//" in value else f"//{value}").hostname or ""
    value = value.removeprefix("*.").strip(".").split(":", 1)[0]
    host = to_ascii_host(value) if value else None
    if not host or " " in host or "@" in host:
        raise ValueError(f"{entry!r} is not a domain")
    return host


def _listed(host: str, domains: Iterable[str] | dict[str, str] | frozenset[str]) -> str | None:
    """The entry of `domains` that covers `host` (itself or a parent domain), or None."""
    candidate = host
    while True:
        if candidate in domains:
            return candidate
        _, dot, candidate = candidate.partition(".")
        if not dot:
            return None


@dataclass(frozen=True, slots=True)
class _Finding:
    verdict: Verdict
    hit: UrlHit
    in_text: bool
    kind: str  # deny:<category> | short-link | homograph:<domain> | mixed-script | unknown
    reason: str


class MaliciousLinks:
    """C2: porn, gambling and malicious links → warning with a strike; short links, look-alikes
    of allowed domains (and, when asked, unknown domains) → admin review. See the module docstring."""

    name = "malicious-links"
    rule_id = "C2"

    def __init__(
        self,
        *,
        allow_domains: Iterable[str] = (),
        deny_domains: Iterable[str] = (),
        company_domains: Iterable[str] = (),
        default_deny: bool = True,
        short_link_domains: Iterable[str] | None = None,
        review_unknown: bool = False,
    ) -> None:
        """`default_deny=False` drops the bundled deny list; `short_link_domains=None` uses the
        bundled shorteners (pass () for none). Entries that are not domains raise ValueError."""
        self.allowed = frozenset(normalize_domain(d) for d in (*allow_domains, *company_domains))
        denied = dict(default_deny_domains()) if default_deny else {}
        denied.update({normalize_domain(d): "custom" for d in deny_domains})
        self.denied = denied
        self.short_links = (
            default_short_link_domains()
            if short_link_domains is None
            else frozenset(normalize_domain(d) for d in short_link_domains)
        )
        self.review_unknown = review_unknown

    def evaluate(self, subject: ChatMessage, context: PolicyContext) -> list[Decision]:
        findings: list[_Finding] = []
        for hit in find_urls(subject.text):
            finding = self._judge(hit, in_text=True)
            if finding is not None:
                findings.append(finding)
        for link in subject.links:
            card = _card_hit(link)
            if card is not None and (finding := self._judge(card, in_text=False)) is not None:
                findings.append(finding)
        if not findings:
            return []
        worst = Verdict.WARN if any(f.verdict is Verdict.WARN for f in findings) else Verdict.REVIEW
        first = next(f for f in findings if f.verdict is worst)
        evidence: list[tuple[str, str]] = []
        for f in findings:
            for item in (("url", f.hit.url), ("domain", f.hit.domain), ("link", f.kind)):
                if item not in evidence:
                    evidence.append(item)
        remedies = (
            (Remedy.RECORD_STRIKE, Remedy.REMIND_PRIVATELY) if worst is Verdict.WARN else (Remedy.REVIEW,)
        )
        return [
            Decision(
                self.name,
                self.rule_id,
                worst,
                first.reason,
                span=(first.hit.start, first.hit.end) if first.in_text else None,
                matched=first.hit.url,
                evidence=tuple(evidence),
                remedies=remedies,
            )
        ]

    def _judge(self, hit: UrlHit, *, in_text: bool) -> _Finding | None:
        host = hit.host
        if _listed(host, self.allowed):
            return None
        entry = _listed(host, self.denied)
        if entry is not None:
            category = self.denied[entry]
            label = CATEGORY_LABELS.get(category, CATEGORY_LABELS["custom"])
            reason = f"{RULE}：{hit.url} 属于{label}（{hit.domain}），请自行撤回该消息。"
            return _Finding(Verdict.WARN, hit, in_text, f"deny:{category}", reason)
        if _listed(host, self.short_links):
            reason = f"{RULE}：短链接 {hit.url} 无法确认去向，已交管理员审核。"
            return _Finding(Verdict.REVIEW, hit, in_text, "short-link", reason)
        if "xn--" in host:
            unicode_host = to_unicode_host(host)
            look = skeleton(unicode_host)
            target = _listed(look, self.allowed) if look.isascii() else None
            if target is not None and registrable_domain(look) != hit.domain:
                reason = f"{RULE}：{hit.url} 疑似仿冒 {target}，已交管理员审核。"
                return _Finding(Verdict.REVIEW, hit, in_text, f"homograph:{target}", reason)
            if mixed_script_label(unicode_host):
                reason = f"{RULE}：{hit.url} 的域名混用多种文字，疑似仿冒网站，已交管理员审核。"
                return _Finding(Verdict.REVIEW, hit, in_text, "mixed-script", reason)
        if self.review_unknown:
            reason = f"{RULE}：{hit.url} 不在本群允许的网站名单中，已交管理员审核。"
            return _Finding(Verdict.REVIEW, hit, in_text, "unknown", reason)
        return None


def _card_hit(link: str) -> UrlHit | None:
    """A card's URL as a hit (no span in the text): find_urls first, urlsplit for the rest."""
    hits = find_urls(link)
    if hits:
        return hits[0]._replace(start=0, end=len(link), url=link)
    try:
        hostname = urlsplit(link if "//" in link else f"//{link}").hostname
    except ValueError:
        return None
    host = to_ascii_host(hostname) if hostname else None
    if not host:
        return None
    return UrlHit(0, len(link), link, host, registrable_domain(host), urlsplit(link).scheme)
