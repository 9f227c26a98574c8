"""GET /api/v1/violations and /strikes against API.md's contract (a live server, both databases)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.main import create_app
from tests.conftest import make_settings


@pytest.fixture
def api(db_url: str, live_server_factory: Any) -> tuple[str, dict[str, str]]:
    settings = make_settings(db_url)
    server = live_server_factory(create_app(settings, run_worker=False))
    token = settings.admin_token.get_secret_value()  # type: ignore[union-attr]
    return server.url + "/api/v1", {"Authorization": f"Bearer {token}"}


class TestSince:
    def test_a_time_with_its_offset_filters(self, api: tuple[str, dict[str, str]]) -> None:
        url, auth = api
        r = httpx.get(f"{url}/violations", params={"since": "2030-03-01T08:00:00+08:00"}, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["items"] == [] and r.json()["next_before_id"] is None

    @pytest.mark.parametrize("since", ["2030-03-01T08:00:00", "2030-03-01"])
    def test_a_time_without_an_offset_is_422_naming_since(
        self, api: tuple[str, dict[str, str]], since: str
    ) -> None:
        """API.md: times carry their offset; one without is the caller's mistake (not a 500)."""
        url, auth = api
        for fmt in ("json", "csv"):
            r = httpx.get(f"{url}/violations", params={"since": since, "format": fmt}, headers=auth)
            assert r.status_code == 422, r.text
            assert "since" in str(r.json()["detail"])
