"""Member-facing texts: admins change the wording, unknown placeholders are refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.content.templates import DEFAULTS, render
from app.main import create_app
from tests.conftest import make_settings


@pytest.fixture
def api(db_url: str, live_server_factory: Any) -> tuple[str, dict[str, str]]:
    settings = make_settings(db_url)
    server = live_server_factory(create_app(settings, run_worker=False))
    token = settings.admin_token.get_secret_value()  # type: ignore[union-attr]
    return server.url + "/api/v1/templates", {"Authorization": f"Bearer {token}"}


class TestTemplatesApi:
    def test_list_shows_defaults(self, api: tuple[str, dict[str, str]]) -> None:
        url, auth = api
        items = httpx.get(url, headers=auth).json()
        assert {t["name"] for t in items} == set(DEFAULTS)
        assert all(not t["overridden"] and t["body"] == t["default"] for t in items)

    def test_put_then_reset(self, api: tuple[str, dict[str, str]]) -> None:
        url, auth = api
        body = "请注意 ${rule_id}：${reason}"
        r = httpx.put(f"{url}/warning", json={"body": body}, headers=auth)
        assert r.status_code == 200 and r.json()["overridden"] and r.json()["body"] == body
        listed = {t["name"]: t for t in httpx.get(url, headers=auth).json()}
        assert listed["warning"]["body"] == body
        r = httpx.delete(f"{url}/warning", headers=auth)
        assert r.json()["body"] == DEFAULTS["warning"] and not r.json()["overridden"]

    def test_unknown_placeholder_is_422_naming_it(self, api: tuple[str, dict[str, str]]) -> None:
        url, auth = api
        r = httpx.put(f"{url}/warning", json={"body": "你好 ${nmae}"}, headers=auth)
        assert r.status_code == 422 and "${nmae}" in r.json()["detail"]

    def test_unknown_template_is_404(self, api: tuple[str, dict[str, str]]) -> None:
        url, auth = api
        assert httpx.put(f"{url}/nope", json={"body": "x"}, headers=auth).status_code == 404


class TestRender:
    def test_override_wins_and_a_value_not_given_stays_as_written(self) -> None:
        assert (
            render("warning", {"rule_id": "C1"}, {"warning": "违反 ${rule_id}${reason}"})
            == "违反 C1${reason}"
        )
        text = render("warning", {"rule_id": "C1", "rule": "群内禁止发布商业广告", "reason": "含联系方式"})
        assert "C1" in text and "群内禁止发布商业广告" in text and "请自行撤回" in text
