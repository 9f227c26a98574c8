"""Admin API skeleton on a real server: bearer auth, events without message text, jobs incl. dead."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from app import jobs, repository
from app.actions import ActionPlanner
from app.db import in_session, make_engine, make_sessionmaker, session_scope
from app.devtools.serverthread import ThreadedServer
from app.main import create_app
from app.models import Action, ActionKind
from app.repository import hash_token
from tests.callbacks import post_text, wait_for
from tests.conftest import make_settings
from tests.dbutil import fetch

SECRET_TEXT = "机密内容-请勿外传"


@pytest.fixture
def admin_service(db_url: str, live_server_factory: Any) -> Any:
    settings = make_settings(db_url)
    server = live_server_factory(create_app(settings, run_worker=True))
    token = settings.admin_token.get_secret_value()  # type: ignore[union-attr]
    return settings, server.url, db_url, {"Authorization": f"Bearer {token}"}


class TestAuth:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": "Basic abc"},
        ],
    )
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
                first, second = (
                    httpx.get(
                        f"{server.url}/api/v1/jobs", headers={"Authorization": f"Bearer {t}"}
                    ).status_code
                    for t in (old, new)
                )
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
                return httpx.get(
                    f"{server.url}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}
                ).status_code

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
        nxt = httpx.get(
            url + "/api/v1/events", headers=auth, params={"before_id": body["next_before_id"]}
        ).json()
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
        wait_for(
            lambda: (
                httpx.get(url + "/api/v1/jobs", headers=auth, params={"status": "dead"}).json()["items"] != []
            )
        )
        dead = httpx.get(url + "/api/v1/jobs", headers=auth, params={"status": "dead"}).json()
        (item,) = dead["items"]
        assert item["id"] == job_id and "no handler" in item["last_error"]
        first_death = fetch(db, "SELECT finished_at FROM job WHERE id = :i", i=job_id)[0][0]
        r = httpx.post(f"{url}/api/v1/jobs/{job_id}/retry", headers=auth)
        assert r.status_code == 200 and r.json()["status"] == "queued"
        # It fails again (still no handler) and is dead again: the retry really re-ran it.
        wait_for(
            lambda: (
                tuple(
                    fetch(
                        db,
                        "SELECT attempts, status, finished_at > :t FROM job WHERE id = :i",
                        i=job_id,
                        t=first_death,
                    )[0]
                )
                == (1, "dead", True)
            )
        )


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

    def test_ready_says_no_when_the_in_process_worker_stopped(
        self, db_url: str, live_server_factory: Any
    ) -> None:
        app = create_app(make_settings(db_url), run_worker=True)
        url = live_server_factory(app).url
        assert httpx.get(url + "/readyz").json() == {"status": "ready", "worker": True}
        app.state.runtime.worker.stopped = True  # as Worker.run leaves it when it ends
        ready = httpx.get(url + "/readyz")
        assert ready.status_code == 503 and "worker stopped" in ready.json()["reason"]


async def _set_action(db: str, status: str) -> int:
    engine = make_engine(db)
    try:
        async with session_scope(make_sessionmaker(engine)) as s:
            planned = await ActionPlanner(job_max_attempts=4).plan(
                s,
                kind=ActionKind.SEND_PRIVATE_MESSAGE,
                idempotency_key=f"t-{status}",
                params={"touser": ["lisi"], "msgtype": "text", "body": {"content": "x"}},
                reason="A2: test",
            )
            await s.execute(sa.update(Action).where(col(Action.id) == planned.id).values(status=status))
            return planned.id
    finally:
        await engine.dispose()


@pytest.fixture
def idle_service(db_url: str, live_server_factory: Any) -> Any:
    """The API without a worker: what is queued stays queued for the test to see."""
    settings = make_settings(db_url)
    server = live_server_factory(create_app(settings, run_worker=False))
    token = settings.admin_token.get_secret_value()  # type: ignore[union-attr]
    return server.url, db_url, {"Authorization": f"Bearer {token}"}


class TestPaging:
    def test_a_last_page_that_is_exactly_full_has_no_next(self, admin_service: Any) -> None:
        settings, url, _, auth = admin_service
        post_text(settings, url, 601, "一")
        post_text(settings, url, 602, "二")
        page = httpx.get(url + "/api/v1/events", headers=auth, params={"limit": 2}).json()
        assert (len(page["items"]), page["next_before_id"]) == (2, None)

    @pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/jobs", "/api/v1/actions"])
    def test_ids_past_the_database_range_are_422(self, idle_service: Any, path: str) -> None:
        url, _, auth = idle_service
        r = httpx.get(url + path, headers=auth, params={"before_id": 2**63})
        assert r.status_code == 422 and "before_id" in r.text
        for post in ("/api/v1/jobs/9223372036854775808/retry", "/api/v1/actions/2147483648/resolve"):
            r = httpx.post(url + post, headers=auth, json={"outcome": "done"})
            assert r.status_code == 422, post


class TestActions:
    def test_status_filter_is_checked_and_counts_are_given(self, idle_service: Any) -> None:
        url, db, auth = idle_service
        asyncio.run(_set_action(db, "unknown"))
        asyncio.run(_set_action(db, "done"))
        bad = httpx.get(url + "/api/v1/actions", headers=auth, params={"status": "sent"})
        assert bad.status_code == 422 and "status" in bad.text
        page = httpx.get(url + "/api/v1/actions", headers=auth, params={"status": "unknown"}).json()
        assert [a["status"] for a in page["items"]] == ["unknown"]
        assert page["counts"] == {"unknown": 1, "done": 1}

    @pytest.mark.parametrize(
        ("outcome", "status", "queued"),
        [
            ("done", "done", 0),
            ("failed", "failed", 0),
            ("replan", "planned", 1),
        ],
    )
    def test_an_admin_resolves_an_unknown_action(
        self, idle_service: Any, outcome: str, status: str, queued: int
    ) -> None:
        url, db, auth = idle_service
        action_id = asyncio.run(_set_action(db, "unknown"))
        jobs_before = fetch(db, "SELECT count(*) FROM job WHERE kind = 'execute_action'")[0][0]
        r = httpx.post(
            f"{url}/api/v1/actions/{action_id}/resolve",
            headers=auth,
            json={"outcome": outcome, "note": "checked the member's chat"},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["status"], body["resolution_note"]) == (status, "checked the member's chat")
        assert body["resolved_by"] == "bootstrap (WARDEN_ADMIN_TOKEN)"
        jobs_after = fetch(db, "SELECT count(*) FROM job WHERE kind = 'execute_action'")[0][0]
        assert jobs_after - jobs_before == queued
        again = httpx.post(
            f"{url}/api/v1/actions/{action_id}/resolve", headers=auth, json={"outcome": "done"}
        )
        assert again.status_code == 409 and "not unknown" in again.json()["detail"]
        missing = httpx.post(f"{url}/api/v1/actions/99999/resolve", headers=auth, json={"outcome": "done"})
        assert missing.status_code == 404 and "does not exist" in missing.json()["detail"]


class TestErrors:
    def test_retrying_a_missing_job_is_404_and_a_live_one_409(self, idle_service: Any) -> None:
        url, db, auth = idle_service

        async def add_queued() -> int:
            engine = make_engine(db)
            async with session_scope(make_sessionmaker(engine)) as s:
                job_id = await jobs.enqueue(s, "no-such-kind", {}, max_attempts=1)
            await engine.dispose()
            assert job_id is not None
            return job_id

        queued = asyncio.run(add_queued())
        r = httpx.post(f"{url}/api/v1/jobs/999999/retry", headers=auth)
        assert r.status_code == 404 and r.json() == {"detail": "job 999999 does not exist"}
        r = httpx.post(f"{url}/api/v1/jobs/{queued}/retry", headers=auth)
        assert r.status_code == 409 and "queued, not dead" in r.json()["detail"]


class TestTokenUse:
    def test_last_used_is_recorded(self, idle_service: Any) -> None:
        url, db, auth = idle_service
        assert fetch(db, "SELECT last_used_at FROM admin_token")[0][0] is None
        assert httpx.get(url + "/api/v1/jobs", headers=auth).status_code == 200
        assert fetch(db, "SELECT last_used_at FROM admin_token")[0][0] is not None

    def test_a_refused_login_is_logged_with_client_and_path(
        self, idle_service: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        url, _, _ = idle_service
        with caplog.at_level("INFO"):
            assert (
                httpx.get(url + "/api/v1/jobs", headers={"Authorization": "Bearer nope"}).status_code == 401
            )
        (line,) = [r.getMessage() for r in caplog.records if "admin.unauthorized" in r.getMessage()]
        assert "client=127.0.0.1" in line and "path=/api/v1/jobs" in line
