"""Word lists over a live server, on SQLite and PostgreSQL: scopes, PUT/POST/DELETE, plain-text
import, the engine's own checks (422 naming the word, nothing half-done), 404s, the actor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.repository import BOOTSTRAP_NAME
from policies.content.vocabulary import RULE_FILES
from tests.conftest import make_settings
from tests.dbutil import fetch

GROUP = "wrpeople01"


@dataclass
class Api:
    url: str
    auth: dict[str, str]
    db: str

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, json=body, headers=self.auth, timeout=30, **kw)

    def text(self, method: str, path: str, text: str) -> httpx.Response:
        headers = {**self.auth, "Content-Type": "text/plain; charset=utf-8"}
        return httpx.request(method, self.url + path, content=text.encode(), headers=headers, timeout=30)

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        return [
            (r.rule_id, r.scope, r.word, r.kind, r.added_by)
            for r in fetch(self.db, "SELECT * FROM word_entry ORDER BY rule_id, scope, word")
        ]


@pytest.fixture
def api(db_url: str, live_server_factory: Any) -> Api:
    settings = make_settings(db_url)
    server = live_server_factory(create_app(settings, run_worker=False))
    token = settings.admin_token.get_secret_value()  # type: ignore[union-attr]
    api = Api(server.url + "/api/v1", {"Authorization": f"Bearer {token}"}, db_url)
    r = api.call("POST", "/groups", {"chat_id": GROUP, "kind": "internal", "owner": "zhaoliu"})
    assert r.status_code == 201, r.text
    return api


class TestReading:
    def test_every_keyword_rule_is_listed_with_its_default_count(self, api: Api) -> None:
        r = api.call("GET", "/wordlists")
        assert r.status_code == 200
        items = {i["rule_id"]: i for i in r.json()["items"]}
        assert list(items) == list(RULE_FILES)
        assert all(i["defaults"] > 0 and i["scopes"] == {} for i in items.values())

    def test_counts_per_scope(self, api: Api) -> None:
        assert api.call("POST", "/wordlists/C1", {"words": ["团购群", "拼单链接"]}).status_code == 200
        assert api.call("POST", "/wordlists/C1", {"words": ["内部福利"], "scope": GROUP}).status_code == 200
        default = api.call("GET", "/wordlists/C1").json()["defaults"][0]
        assert api.call("DELETE", "/wordlists/C1", {"words": [default], "scope": GROUP}).status_code == 200
        c1 = next(i for i in api.call("GET", "/wordlists").json()["items"] if i["rule_id"] == "C1")
        assert c1["scopes"] == {"global": {"added": 2, "removed": 0}, GROUP: {"added": 1, "removed": 1}}

    def test_one_list_shows_its_words_and_the_defaults(self, api: Api) -> None:
        api.call("POST", "/wordlists/C5", {"words": ["菜狗子"], "scope": GROUP})
        r = api.call("GET", f"/wordlists/C5?scope={GROUP}").json()
        assert r["rule_id"] == "C5" and r["scope"] == GROUP and r["words"] == ["菜狗子"]
        assert r["removed"] == [] and len(r["defaults"]) > 10
        assert api.call("GET", "/wordlists/C5").json()["words"] == []  # global is untouched


class TestWriting:
    def test_put_replaces_post_adds_and_the_actor_is_recorded(self, api: Api) -> None:
        assert api.call("PUT", "/wordlists/C10", {"words": ["代理加盟", "日赚千元"]}).json()["words"] == [
            "代理加盟",
            "日赚千元",
        ]
        assert api.call("POST", "/wordlists/C10", {"words": ["躺赚项目"]}).json()["words"] == [
            "代理加盟",
            "日赚千元",
            "躺赚项目",
        ]
        assert api.call("PUT", "/wordlists/C10", {"words": ["躺赚项目"]}).json()["words"] == ["躺赚项目"]
        [row] = api.rows()
        assert row == ("C10", "global", "躺赚项目", "add", BOOTSTRAP_NAME)

    def test_delete_drops_an_added_word_and_switches_off_a_default_one(self, api: Api) -> None:
        default = api.call("GET", "/wordlists/C1").json()["defaults"][0]
        api.call("POST", "/wordlists/C1", {"words": ["团购群"]})
        r = api.call("DELETE", "/wordlists/C1", {"words": ["团购群", default, "从没有过"]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["words"] == [] and body["removed"] == [default] and body["unchanged"] == ["从没有过"]
        assert [(w, k) for _, _, w, k, _ in api.rows()] == [(default, "remove")]

    def test_a_group_removes_a_global_word_and_adding_it_again_matches_it_again(self, api: Api) -> None:
        api.call("POST", "/wordlists/C1", {"words": ["团购群"]})
        r = api.call("DELETE", "/wordlists/C1", {"words": ["团购群"], "scope": GROUP}).json()
        assert r["removed"] == ["团购群"] and r["unchanged"] == []
        r = api.call("POST", "/wordlists/C1", {"words": ["团购群"], "scope": GROUP}).json()
        assert r["removed"] == [] and r["words"] == ["团购群"]

    def test_plain_text_import_one_word_a_line(self, api: Api) -> None:
        r = api.text("POST", f"/wordlists/C2?scope={GROUP}", "\ufeff赌场开户\r\n\n  线上棋牌  \n赌场开户\n")
        assert r.status_code == 200, r.text
        assert sorted(r.json()["words"]) == sorted(["线上棋牌", "赌场开户"])
        assert {w for _, s, w, _, _ in api.rows() if s == GROUP} == {"赌场开户", "线上棋牌"}

    def test_a_regex_is_kept_as_written(self, api: Api) -> None:
        r = api.call("POST", "/wordlists/C1", {"words": ["re:加.{0,3}群\\d{5,}"]})
        assert r.status_code == 200 and r.json()["words"] == ["re:加.{0,3}群\\d{5,}"]


class TestRefusals:
    @pytest.mark.parametrize(
        ("word", "named"),
        [("群", "'群'"), ("Ａ", "'Ａ'"), ("re:(unclosed", "(unclosed"), ("re:", "empty regular expression")],
    )
    def test_a_bad_word_is_422_naming_it_and_nothing_is_written(
        self, api: Api, word: str, named: str
    ) -> None:
        api.call("POST", "/wordlists/C1", {"words": ["团购群"]})
        before = api.rows()
        r = api.call("PUT", "/wordlists/C1", {"words": ["拼单链接", word]})
        detail = r.json()["detail"]
        assert r.status_code == 422 and detail.startswith("words.1:") and named in detail
        assert api.rows() == before

    def test_a_bad_line_in_a_plain_text_import_names_its_word(self, api: Api) -> None:
        r = api.text("POST", "/wordlists/C1", "拼单链接\nx\n团购群\n")
        assert r.status_code == 422 and "words.1:" in r.json()["detail"] and "'x'" in r.json()["detail"]
        assert api.rows() == []

    def test_an_unknown_rule_id_is_404(self, api: Api) -> None:
        r = api.call("POST", "/wordlists/C6", {"words": ["团购群"]})
        assert r.status_code == 404 and "C6" in r.json()["detail"]
        assert api.call("GET", "/wordlists/C99").status_code == 404

    def test_an_unknown_chat_scope_is_404(self, api: Api) -> None:
        r = api.call("POST", "/wordlists/C1", {"words": ["团购群"], "scope": "wrnobody"})
        assert r.status_code == 404 and "wrnobody" in r.json()["detail"]
        assert api.text("POST", "/wordlists/C1?scope=wrnobody", "团购群").status_code == 404
        assert api.call("GET", "/wordlists/C1?scope=wrnobody").status_code == 404
        assert api.rows() == []

    def test_a_word_too_long_for_the_column_is_422(self, api: Api) -> None:
        r = api.call("POST", "/wordlists/C1", {"words": ["长" * 201]})
        assert r.status_code == 422 and "words.0" in r.json()["detail"]

    def test_a_body_without_words_is_422_naming_the_field(self, api: Api) -> None:
        r = api.call("POST", "/wordlists/C1", {"scope": "global"})
        assert r.status_code == 422 and r.json()["detail"].startswith("words:")

    def test_without_a_token_401(self, api: Api) -> None:
        assert httpx.get(api.url + "/wordlists").status_code == 401
        assert httpx.post(api.url + "/wordlists/C1", json={"words": ["团购群"]}).status_code == 401
