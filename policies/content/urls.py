"""URLs in chat text (C2 links, ad evidence): `find_urls(text) -> list[UrlHit]`, offline and fast.

What counts as a URL here:
- with a scheme (`https://…`, `ftp://…`, also written `ｈｔｔｐｓ：／／`), any host, IPv4 included;
- without one (`www.x.com`, `x.cn/abc`, `bit.ly/xyz`, `baidu.com`) when the last label is a real
  top-level domain: the TLD set (≈1,450 TLDs, Unicode and punycode forms) comes from the public
  suffix list bundled with `tldextract`, so `report.pdf`, `v1.2.3`, `3.5元` and `2026.12.04` are
  never domains;
- full-width letters, digits, dots and slashes (ｂａｉｄｕ．ｃｏｍ, `x。cn／abc`, `baidu点com`) are read as
  their ASCII selves; offsets stay those of the original text (the regex reads the original, only
  the few matched characters are folded);
- IDN both ways: `例子.中国` and `аpple.com` (Cyrillic а) give the punycode host, `xn--…` stays
  ASCII. CJK labels need a scheme (`http://例子.中国`): without one nothing tells where a Chinese
  host begins in Chinese text. A CJK TLD after ASCII labels works (`baidu.中国`), trailing CJK
  text is cut off at the longest real TLD (`baidu.com看看` → `baidu.com`).

Not URLs, on purpose:
- an e-mail address's domain (`zhang@corp.com`): an address is a contact id (the ad engine reads
  those), not a page a member opens; C2 is about pages;
- a bare `name.ext` whose TLD is also a common file extension (`main.py`, `backup.zip`,
  `readme.md`, `design.ai`) or a two-label "Mr.Wang"/"Co.Ltd" (honorific first label): these need
  a scheme, `www.`, a port or a path to count;
- trailing punctuation and CJK never belong to the URL (`见 x.cn/abc。谢谢` ends at `abc`).

The registrable domain comes from `tldextract` built once, lazily, with `suffix_list_urls=()`
and `cache_dir=None`: its bundled snapshot, no network, no cache files. Costs (bench/links.py):
about 2-4 µs for a 200-character message without a URL, a few µs more per URL.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import Any, NamedTuple

import idna
import tldextract


class UrlHit(NamedTuple):
    """One URL found in a text (a NamedTuple: built per hit, it costs a fifth of a dataclass)."""

    start: int  # original offsets: text[start:end] == url
    end: int
    url: str  # as written (full-width characters and all)
    host: str  # lower-case ASCII; IDN labels as punycode (xn--…)
    domain: str  # registrable domain (eTLD+1, ASCII), or the host itself for IPs and bare names
    scheme: str = ""  # "http", "https" or "ftp" when written, else ""


# -- character classes (BMP plus nothing astral: cheap for `re`) ---------------------------------

# Full-width ASCII (！-～) → ASCII, and every dot members use in place of "." in a host.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FOLD.update({ord(ch): ord(".") for ch in "。｡﹒．点點"})

_ALNUM = "0-9A-Za-z\uff10-\uff19\uff21-\uff3a\uff41-\uff5a"
_IDN_LETTERS = "\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"  # Latin ext., Greek, Cyrillic (homographs)
_L = f"[{_ALNUM}{_IDN_LETTERS}]"
_LH = f"[{_ALNUM}{_IDN_LETTERS}\\-\uff0d]"
_CJK = "[\u3400-\u4dbf\u4e00-\u9fff]"
_DOT = "[.\u3002\uff0e\uff61\ufe52\u70b9\u9ede]"
_REAL_DOT = "[.\u3002\uff0e\uff61\ufe52]"  # 点 before a CJK word is Chinese ("APP点游戏"), not a dot
_SLASH = "[/\uff0f]"
_COLON = "[:\uff1a]"
_SCHEME = "(?:[hHｈＨ][tTｔＴ][tTｔＴ][pPｐＰ][sSｓＳ]?|[fFｆＦ][tTｔＴ][pPｐＰ])"
# A path: printable ASCII but quotes and angle brackets, and the full-width slash.
_PATH = "[!#-&(-;=?-~\uff0f-\uff19\uff21-\uff3a\uff3f\uff41-\uff5a]*"

_URL_RE = re.compile(
    rf"""
    (?:
        (?P<scheme>{_SCHEME}){_COLON}{_SLASH}{_SLASH}
        (?P<shost>(?:(?:{_L}{_LH}*|{_CJK}+){_DOT})+(?:{_L}{_LH}*|{_CJK}+)
                 |\d{{1,3}}(?:\.\d{{1,3}}){{3}})
      |
        (?P<host>(?:{_L}{_LH}*{_DOT})+{_L}{_LH}*
                |(?:{_L}{_LH}*{_DOT})*{_L}{_LH}*{_REAL_DOT}{_CJK}+)
    )
    (?P<port>{_COLON}\d{{1,5}}(?!\d))?
    (?P<path>[/\uff0f?#]{_PATH})?
    """,
    re.VERBOSE,
)

# Where a URL may begin: a label character before a dot and a letter (TLDs start with one) or
# before "://". Cheap (one charset
# scan, ~1 µs per 200 characters), so the full pattern runs only near candidates.
_QUICK = re.compile(f"{_L}(?:{_DOT}[A-Za-z\uff21-\uff3a\uff41-\uff5a]|{_REAL_DOT}{_CJK}|{_COLON}{_SLASH})")
# Characters a host token is made of, to walk back from a candidate to where its token begins.
_TOKEN_CHARS = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-.\u3002\uff0e\uff61\ufe52\uff0d点點"
    + "".join(chr(c) for c in range(0x00C0, 0x0500))
    + "".join(chr(c) for c in range(0xFF10, 0xFF1A))
    + "".join(chr(c) for c in range(0xFF21, 0xFF3B))
    + "".join(chr(c) for c in range(0xFF41, 0xFF5B))
)
# A token right after one of these is an e-mail address's domain or part of a path / identifier.
_LEFT_STOP = frozenset("@_/\\\uff0f\uff20")
_SCHEME_TAIL = re.compile(f"{_SCHEME}$")

# Trailing characters that end a sentence rather than a URL.
_TRAILING = ".,;:!?)]}'*>\"\uff0f"

# TLDs that are also common file extensions: `main.py` alone is a file name, `x.py/abc` a URL.
_FILE_LIKE_TLDS = frozenset(
    {"ai", "app", "cc", "java", "md", "mov", "pl", "ps", "py", "rs", "sh", "so", "zip", "apk", "exe"}
)
# "Mr.Wang", "Dr.Li", "Co.Ltd", "No.1": an English abbreviation glued to a word, not a host.
_HONORIFICS = frozenset({"mr", "mrs", "ms", "dr", "miss", "prof", "sr", "jr", "st", "co", "no", "vs", "inc"})


@cache
def _extractor() -> tldextract.TLDExtract:
    # suffix_list_urls=(): never the network; cache_dir=None: never a file. The snapshot inside
    # the tldextract wheel is the list (ICANN section; private suffixes like github.io are not
    # registrable boundaries here, so x.github.io belongs to github.io).
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


@cache
def tld_set() -> frozenset[str]:
    """Every top-level domain of the bundled public suffix list, Unicode and punycode forms."""
    tlds: set[str] = set()
    for suffix in _extractor().tlds:
        tld = suffix.rsplit(".", 1)[-1]
        tlds.add(tld)
        if not tld.isascii():
            try:
                tlds.add(idna.encode(tld, uts46=True).decode("ascii"))
            except idna.IDNAError:
                continue
    return frozenset(tlds)


@lru_cache(maxsize=8192)
def registrable_domain(host: str) -> str:
    """eTLD+1 of an ASCII host (`a.b.bbc.co.uk` → `bbc.co.uk`); the host itself when it has no
    public suffix (an IP, `localhost`). tldextract costs ~4 µs a host; the same hosts come back
    all day, so answers are cached (8,192 hosts, ~1 MB)."""
    return _extractor().extract_str(host).top_domain_under_public_suffix or host


def to_ascii_host(host: str) -> str | None:
    """A host as lower-case ASCII (IDN labels → punycode); None when IDNA refuses it."""
    if host.isascii():
        return host.lower()
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None


def to_unicode_host(host: str) -> str:
    """The Unicode form of an ASCII host (`xn--pple-43d.com` → `аpple.com`); unchanged if not IDN."""
    if "xn--" not in host:
        return host
    try:
        return str(idna.decode(host))
    except idna.IDNAError:
        return host


def _cut_tld(host: str, tlds: frozenset[str]) -> str | None:
    """The host up to the end of a real TLD, or None. Trailing text glued to the last label
    (`com看看`, `中国的`) is cut where the longest real TLD ends."""
    head, _, last = host.rpartition(".")
    lowered = last.lower()
    if lowered in tlds:
        return host
    if not last[:1].isascii():  # a CJK TLD followed by more CJK text: longest real prefix
        for size in range(min(len(last) - 1, 6), 0, -1):
            if last[:size] in tlds:
                return f"{head}.{last[:size]}"
        return None
    ascii_part = re.match(r"[0-9a-z-]+", lowered)
    if ascii_part and ascii_part.end() < len(last) and ascii_part.group() in tlds:
        return f"{head}.{last[: ascii_part.end()]}"
    return None


def _hit(text: str, match: re.Match[str], tlds: frozenset[str]) -> UrlHit | None:
    scheme = (match["scheme"] or "").translate(_FOLD).lower()
    raw_host = match["shost"] if scheme else match["host"]
    host = raw_host.translate(_FOLD)
    is_ip = scheme != "" and re.fullmatch(r"[\d.]+", host) is not None
    if not is_ip:
        cut = _cut_tld(host, tlds)
        if cut is None:
            return None
        host = cut
        if "-." in host or ".-" in host or host.startswith("-") or host.endswith("-"):
            return None
    start = match.start()
    host_end = match.start("shost" if scheme else "host") + len(host)
    truncated = len(host) < len(raw_host)
    end = host_end if truncated else match.end()
    if not truncated and match["path"]:
        path = match["path"]
        trimmed = path.rstrip(_TRAILING)
        end = match.end() - (len(path) - len(trimmed)) if trimmed else match.start("path")
    if not scheme:
        labels = host.lower().split(".")
        bare = end == host_end and labels[0] != "www"
        if bare and (labels[-1] in _FILE_LIKE_TLDS or (len(labels) == 2 and labels[0] in _HONORIFICS)):
            return None
    ascii_host = to_ascii_host(host)
    if ascii_host is None:
        return None
    domain = ascii_host if is_ip else registrable_domain(ascii_host)
    return UrlHit(start, end, text[start:end], ascii_host, domain, scheme)


def find_urls(text: str) -> list[UrlHit]:
    """Every URL in `text`, in order, with original offsets (see the module docstring for what
    counts). Pure and offline; safe to call on every message."""
    tlds = tld_set()
    hits: list[UrlHit] = []
    pos = 0
    while (quick := _QUICK.search(text, pos)) is not None:
        start = _token_start(text, quick.start(), pos)
        match = _URL_RE.match(text, start)
        if match is None and text[quick.start() + 1] in ":\uff1a":  # "链接abchttps://…"
            scheme = _SCHEME_TAIL.search(text, start, quick.start() + 1)
            match = _URL_RE.match(text, scheme.start()) if scheme else None
        if match is None or _in_address(text, match):
            pos = match.end() if match is not None else _token_end(text, quick.end())
            continue
        hit = _hit(text, match, tlds)
        if hit is not None:
            hits.append(hit)
        pos = max(match.end(), quick.end())
    return hits


def _in_address(text: str, match: re.Match[str]) -> bool:
    """The match is part of an e-mail address (either side of its @) or of a path / identifier."""
    start, end = match.start(), match.end()
    return (start > 0 and text[start - 1] in _LEFT_STOP) or (end < len(text) and text[end] in "@\uff20")


def _token_end(text: str, index: int) -> int:
    """Where the host-like token holding text[index - 1] ends: the next search starts there, never
    inside the token (a rejected token must not leave its tail behind as a URL)."""
    end = index
    while end < len(text) and text[end] in _TOKEN_CHARS:
        end += 1
    return end


def _token_start(text: str, index: int, floor: int) -> int:
    """Where the host-like token holding text[index] begins (not before `floor`)."""
    start = index
    while start > floor and text[start - 1] in _TOKEN_CHARS:
        start -= 1
    while start < index and text[start] in "-.\u3002\uff0e\uff61\ufe52\uff0d点點":
        start += 1
    return start


# -- homographs ----------------------------------------------------------------------------------

# Non-Latin letters that look like Latin ones (a subset of Unicode's confusables.txt, written by
# us for the scripts IDN phishing uses: Cyrillic and Greek). Accented Latin letters are handled by
# stripping their marks (NFKD), so `pаypаl`, `gοοgle` and `bäidu` all have a Latin skeleton.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
        "ԛ": "q", "ԝ": "w", "ӏ": "l", "һ": "h", "ɡ": "g", "ɩ": "i", "ı": "i",
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j",
    }
)  # fmt: skip


def skeleton(unicode_host: str) -> str:
    """What a host looks like to a reader, in ASCII where it can be (`аpple.com` → `apple.com`)."""
    folded = unicode_host.lower().translate(_CONFUSABLES)
    decomposed = unicodedata.normalize("NFKD", folded)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _script(ch: str) -> str:
    if ch.isascii():
        return "latin" if ch.isalpha() else ""
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0].lower()


def mixed_script_label(unicode_host: str) -> bool:
    """A label mixing Latin with Cyrillic or Greek letters (`раypal`): never a real name."""
    for label in unicode_host.split("."):
        scripts: set[Any] = {_script(ch) for ch in label} - {""}
        if "latin" in scripts and scripts & {"cyrillic", "greek"}:
            return True
    return False
