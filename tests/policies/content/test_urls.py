"""find_urls: URLs with or without a scheme, full-width, IDN; file names, versions, prices are not."""

from __future__ import annotations

import pytest

from policies.content.urls import find_urls, mixed_script_label, skeleton, tld_set, to_unicode_host

BBC = "https://a.b.bbc.co.uk/news?id=1&x=2"
WIDE = "ｈｔｔｐｓ：／／ｗｗｗ．ｘ．ｃｏｍ／ａｂｃ"  # full-width scheme, dots, slash and path


@pytest.mark.parametrize(
    ("text", "url", "host", "domain"),
    [
        ("访问www.baidu.com看看", "www.baidu.com", "www.baidu.com", "baidu.com"),
        ("详情 x.cn/abc。谢谢", "x.cn/abc", "x.cn", "x.cn"),
        ("点这里bit.ly/xyz", "bit.ly/xyz", "bit.ly", "bit.ly"),
        (f"{BBC}，好的", BBC, "a.b.bbc.co.uk", "bbc.co.uk"),
        ("ｗｗｗ．ｂａｉｄｕ．ｃｏｍ", "ｗｗｗ．ｂａｉｄｕ．ｃｏｍ", "www.baidu.com", "baidu.com"),
        (f"{WIDE}，好", WIDE, "www.x.com", "x.com"),
        ("加我 baidu。com", "baidu。com", "baidu.com", "baidu.com"),
        ("看bet365点com", "bet365点com", "bet365.com", "bet365.com"),
        ("网址 xn--pple-43d.com/login", "xn--pple-43d.com/login", "xn--pple-43d.com", "xn--pple-43d.com"),
        ("аpple.com", "аpple.com", "xn--pple-43d.com", "xn--pple-43d.com"),  # Cyrillic а
        ("http://例子.中国/路径", "http://例子.中国/", "xn--fsqu00a.xn--fiqs8s", "xn--fsqu00a.xn--fiqs8s"),
        ("去baidu.中国的网站", "baidu.中国", "baidu.xn--fiqs8s", "baidu.xn--fiqs8s"),
        ("内网 http://192.168.1.1:8080/a 登录", "http://192.168.1.1:8080/a", "192.168.1.1", "192.168.1.1"),
        ("(见 https://github.com/a/b).", "https://github.com/a/b", "github.com", "github.com"),
        ("see baidu.com.", "baidu.com", "baidu.com", "baidu.com"),
        ("链接abchttps://x.com/a", "https://x.com/a", "x.com", "x.com"),
        ("代码在 x.py/abc", "x.py/abc", "x.py", "x.py"),  # a file-like TLD with a path is a URL
        ("Baidu.COM", "Baidu.COM", "baidu.com", "baidu.com"),
    ],
)
def test_finds(text: str, url: str, host: str, domain: str) -> None:
    [hit] = find_urls(text)
    assert (hit.url, hit.host, hit.domain) == (url, host, domain)
    assert text[hit.start : hit.end] == url


@pytest.mark.parametrize(
    "text",
    [
        "附件 report.pdf 请查收",
        "升级到 v1.2.3 以后",
        "单价 3.5元，共 12.80 元",
        "截止 2026.12.04 下午",
        "Python3.11 和 node.js 都装好了",
        "脚本 main.py、备份 backup.zip、说明 readme.md、设计稿 logo.ai",
        "Mr.Wang 和 Dr.Li 明天到，XX Co.Ltd 的合同",
        "发邮件到 zhang@corp.com 或 li.si@mail.example.cn",  # e-mail domains are contacts, not links
        "APP点游戏中心，HR点评一下，3点半开会",  # 点 between words is Chinese, not a dot
        "打开 a.app点游戏中心",  # … also after a dotted name (游戏 is a TLD)
        "好的。收到。OK。明白",
        "e.g. 这个 i.e. 那个",
    ],
)
def test_benign_look_alikes_are_not_urls(text: str) -> None:
    assert find_urls(text) == []


def test_several_urls_in_order_with_original_offsets() -> None:
    text = "一 a.b.c.d.e.f.com/x 二 y.cn 三"
    hits = find_urls(text)
    assert [(h.url, h.domain) for h in hits] == [("a.b.c.d.e.f.com/x", "f.com"), ("y.cn", "y.cn")]
    assert [text[h.start : h.end] for h in hits] == ["a.b.c.d.e.f.com/x", "y.cn"]


def test_scheme_is_reported() -> None:
    assert [h.scheme for h in find_urls("https://x.com ftp://y.cn z.cn")] == ["https", "ftp", ""]


def test_tld_set_is_the_bundled_public_suffix_list() -> None:
    tlds = tld_set()
    assert {"com", "cn", "ly", "中国", "xn--fiqs8s"} <= tlds
    assert not {"pdf", "exe", "docx", "3"} & tlds


def test_homograph_helpers() -> None:
    assert to_unicode_host("xn--pple-43d.com") == "аpple.com"
    assert skeleton("аpple.com") == "apple.com"
    assert skeleton("bäidu.com") == "baidu.com"
    assert mixed_script_label("раypal.com")  # Cyrillic р, а + Latin
    assert not mixed_script_label("пример.рф")  # all Cyrillic: a real Russian name
    assert not mixed_script_label("例子.中国")
