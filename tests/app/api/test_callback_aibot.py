"""/wecom/aibot on a real server: the AI bot's encrypted JSON (receiveid "") with the same guarantees."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.wecom.crypto import CallbackCrypto
from tests.callbacks import aibot_message, post_aibot, wait_processed
from tests.conftest import CORP_ID, make_settings
from tests.dbutil import fetch, snapshot
from tests.factories import Recorder


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def bot(db_url: str, live_server_factory: Any, recorder: Recorder) -> Any:
    settings = make_settings(db_url)
    server = live_server_factory(create_app(settings, run_worker=True, domains=[recorder.domain()]))
    crypto = CallbackCrypto(settings.token.get_secret_value(), settings.aes_key.get_secret_value(), "")
    return crypto, server.url, db_url, settings


class TestAibot:
    def test_message_is_stored_deduplicated_and_normalised(self, bot: Any, recorder: Recorder) -> None:
        crypto, url, db, _ = bot
        for _ in range(3):  # the original and two retries
            r = post_aibot(crypto, url, aibot_message("m-100"))
            assert (r.status_code, r.content) == (200, b"")
        assert snapshot(db)[:2] == (1, 1)
        wait_processed(db, 1)
        (row,) = fetch(db, "SELECT dedupe_key, source, chat_id, from_user, record_kind FROM inbound_event")
        assert (row.dedupe_key, row.source, row.chat_id, row.from_user, row.record_kind) == (
            "aibot:m-100",
            "aibot",
            "wrkSFfCgAAAA",
            "zhaoliu",
            "ChatMessage",
        )
        (record,) = recorder.records  # routed to the domains once, whatever the retries
        assert (record.text, record.source, record.chat_id) == ("@warden 收到", "aibot", "wrkSFfCgAAAA")

    def test_url_check(self, bot: Any) -> None:
        crypto, url, _, _ = bot
        ts = str(int(time.time()))
        enc, sig = crypto.encrypt("777888999", timestamp=ts, nonce="n")
        r = httpx.get(
            f"{url}/wecom/aibot", params={"msg_signature": sig, "timestamp": ts, "nonce": "n", "echostr": enc}
        )
        assert (r.status_code, r.text) == (200, "777888999")

    def test_corp_id_as_receiveid_is_refused(self, bot: Any) -> None:
        _, url, db, settings = bot
        wrong = CallbackCrypto(
            settings.token.get_secret_value(),  # the app's receiveid
            settings.aes_key.get_secret_value(),
            CORP_ID,
        )
        r = post_aibot(wrong, url, aibot_message("m-1"))
        assert (r.status_code, r.text) == (400, "undecodable")  # signed: the uniform answer
        assert snapshot(db) == (0, 0, 0)

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            (b"not json", 400),
            (b'{"encrypt": 5}', 400),
            (b'["encrypt"]', 400),
            (b'{"encrypt": "' + b"A" * 70_000 + b'"}', 413),
            (b"[" * 30_000, 400),  # nested deeper than the JSON parser recurses
        ],
    )
    def test_malformed_bodies(self, bot: Any, body: bytes, status: int) -> None:
        _, url, db, _ = bot
        r = httpx.post(
            f"{url}/wecom/aibot",
            content=body,
            params={"msg_signature": "a" * 40, "timestamp": str(int(time.time())), "nonce": "n"},
        )
        assert r.status_code == status
        assert snapshot(db) == (0, 0, 0)

    def test_bad_signature_and_stale_timestamp_are_403(self, bot: Any) -> None:
        crypto, url, db, _ = bot
        assert post_aibot(crypto, url, aibot_message("m-2"), sig="b" * 40).status_code == 403
        assert post_aibot(crypto, url, aibot_message("m-3"), ts=int(time.time()) - 3600).status_code == 403
        assert snapshot(db) == (0, 0, 0)

    def test_plaintext_that_is_not_json_is_400(self, bot: Any) -> None:
        crypto, url, db, _ = bot
        assert post_aibot(crypto, url, "{ not: json").status_code == 400
        assert snapshot(db) == (0, 0, 0)
