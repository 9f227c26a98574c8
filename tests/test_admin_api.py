"""Admin API skeleton on a real server: bearer auth, events without message text, jobs incl. dead."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from app import jobs, repository
from app.db import in_session, make_engine, make_sessionmaker, session_scope
from app.main import create_app
from app.repository import hash_token
from app.serverthread import ThreadedServer
from tests.conftest import CORP_ID, make_settings
from tests.dbutil import fetch
from tests.test_callback_http import Client

SECRET_TEXT = "机密内容-请勿外传"


@pytest.fixture
def admin_service(db_url: str, live_server_factory: Any) -> Any:
    settings = make_settings(db_url)
    server = live_server_factory(create_app(settings, run_worker=True))
    token = settings.admin_token.get_secret_value()  # type: ignore[union-attr]
    return settings, server.url, db_url, {"Authorization": f"Bearer {token}"}


def post_text(settings: Any, url: str, msgid: int, content: str) -> None:
    xml = (f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>zhangsan</FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType>"
           f"<Content><![CDATA[{content}]]></Content><MsgId>{msgid}</MsgId></xml>")
    client = Client(settings, url)
    params, body = client.signed(xml)
    assert client.post(params, body).status_code == 200


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


class TestAuth:
    @pytest.mark.parametrize("headers", [
        {}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic abc"},
    ])
    def test_without_a_valid_token_401(self, admin_service: Any, headers: dict[str, str]) -> None:
        _, url, _, _ = admin_service
        for path in ("/api/v1/events", "/api/v1/jobs", "/api/v1/actions"):
            r = httpx.get(url + path, headers=headers)
            assert r.status_code == 401
            assert r.headers["www-authenticate"] == "Bearer"

    def test_tokens_are_stored_hashed(self, admin_service: Any) -> None:
        settings, _, db, _ = admin_service
        raw = settings.admin_token.get_secret_value()
        rows = fetch(db, "SELECT token_hash FROM admin_token")
        assert [r[0] for r in rows] == [hash_token(raw)]
        assert raw not in rows[0][0]


    def test_a_new_bootstrap_token_replaces_the_old_one(self, db_url: str) -> None:
        def codes(env_token: str) -> tuple[int, int]:
            app = create_app(make_settings(db_url, admin_token=env_token), run_worker=False)
            with ThreadedServer(app) as server:
                first, second = (httpx.get(f"{server.url}/api/v1/jobs",
                                           headers={"Authorization": f"Bearer {t}"}).status_code
                                 for t in (old, new))
            return first, second

        old, new = "old-admin-token-0123456789", "new-admin-token-0123456789"
        assert codes(old) == (200, 401)
        assert codes(new) == (401, 200)  # rotated: the old value no longer works
        # An instance still started with the old value neither revives it nor undoes the rotation.
        assert codes(old) == (401, 200)
        assert len(fetch(db_url, "SELECT id FROM admin_token")) == 2

    def test_a_revoked_bootstrap_token_stays_revoked_after_restart(self, db_url: str) -> None:
        token = "leaked-admin-token-0123456789"

        def start_and_ask() -> int:
            app = create_app(make_settings(db_url, admin_token=token), run_worker=False)
            with ThreadedServer(app) as server:
                return httpx.get(f"{server.url}/api/v1/jobs",
                                 headers={"Authorization": f"Bearer {token}"}).status_code

        assert start_and_ask() == 200
        assert asyncio.run(_revoke(db_url, repository.BOOTSTRAP_NAME)) == 1  # as revoke-token
        assert start_and_ask() == 401  # the restart does not bring it back


async def _revoke(url: str, name: str) -> int:
    return await in_session(url, lambda s: repository.revoke_admin_tokens(s, name=name))


class TestEvents:
    def test_recent_events_show_metadata_never_text(self, admin_service: Any) -> None:
        settings, url, _, auth = admin_service
        post_text(settings, url, 501, SECRET_TEXT)
        post_text(settings, url, 502, SECRET_TEXT)

        def processed() -> bool:
            items = httpx.get(url + "/api/v1/events", headers=auth).json()["items"]
            return len(items) == 2 and all(i["status"] == "processed" for i in items)

        wait_for(processed)
        r = httpx.get(url + "/api/v1/events", headers=auth, params={"limit": 1})
        assert r.status_code == 200
        body = r.json()
        assert SECRET_TEXT not in r.text
        (item,) = body["items"]
        assert item["dedupe_key"] == "msg:502" and item["type"] == "text"
        assert item["record_kind"] == "ChatMessage" and item["processed_at"] is not None
        assert body["next_before_id"] == item["id"]
        assert body["counts"] == {"processed": 2}
        nxt = httpx.get(url + "/api/v1/events", headers=auth,
                        params={"before_id": body["next_before_id"]}).json()
        assert [i["dedupe_key"] for i in nxt["items"]] == ["msg:501"]

    def test_bad_query_is_422_with_a_reason(self, admin_service: Any) -> None:
        _, url, _, auth = admin_service
        r = httpx.get(url + "/api/v1/events", headers=auth, params={"limit": 100000})
        assert r.status_code == 422 and "limit" in r.text


class TestJobs:
    def test_dead_jobs_are_listed_and_can_be_retried(self, admin_service: Any) -> None:
        _, url, db, auth = admin_service

        async def add_dead() -> int:
            engine = make_engine(db)
            async with session_scope(make_sessionmaker(engine)) as s:
                job_id = await jobs.enqueue(s, "no-such-kind", {"x": 1}, max_attempts=1)
            await engine.dispose()
            assert job_id is not None
            return job_id

        job_id = asyncio.run(add_dead())
        wait_for(lambda: httpx.get(url + "/api/v1/jobs", headers=auth,
                                   params={"status": "dead"}).json()["items"] != [])
        dead = httpx.get(url + "/api/v1/jobs", headers=auth, params={"status": "dead"}).json()
        (item,) = dead["items"]
        assert item["id"] == job_id and "no handler" in item["last_error"]
        first_death = fetch(db, "SELECT finished_at FROM job WHERE id = :i", i=job_id)[0][0]
        r = httpx.post(f"{url}/api/v1/jobs/{job_id}/retry", headers=auth)
        assert r.status_code == 200 and r.json()["status"] == "queued"
        # It fails again (still no handler) and is dead again: the retry really re-ran it.
        wait_for(lambda: tuple(fetch(
            db, "SELECT attempts, status, finished_at > :t FROM job WHERE id = :i",
            i=job_id, t=first_death)[0]) == (1, "dead", True))
        again = httpx.post(f"{url}/api/v1/jobs/999999/retry", headers=auth)
        assert again.status_code == 409


class TestHealth:
    def test_health_and_ready_and_openapi(self, admin_service: Any) -> None:
        _, url, _, _ = admin_service
        assert httpx.get(url + "/healthz").json() == {"status": "ok"}
        ready = httpx.get(url + "/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        spec = httpx.get(url + "/openapi.json").json()
        assert "/api/v1/events" in spec["paths"]
        assert {"get", "post"} <= set(spec["paths"]["/wecom/callback"])
        assert {"get", "post"} <= set(spec["paths"]["/wecom/aibot"])
        assert httpx.get(url + "/docs").status_code == 200

    def test_ready_says_no_when_the_in_process_worker_stopped(self, db_url: str,
                                                              live_server_factory: Any) -> None:
        app = create_app(make_settings(db_url), run_worker=True)
        url = live_server_factory(app).url
        assert httpx.get(url + "/readyz").json() == {"status": "ready", "worker": True}
        app.state.runtime.worker.stopped = True  # as Worker.run leaves it when it ends
        ready = httpx.get(url + "/readyz")
        assert ready.status_code == 503 and "worker stopped" in ready.json()["reason"]
