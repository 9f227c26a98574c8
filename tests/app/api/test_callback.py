"""/wecom/callback on a real uvicorn server: accepted, de-duplicated, and every hostile input refused
with its status while storing nothing."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from app.api import callback
from app.main import create_app
from app.wecom.crypto import CallbackCrypto
from tests.callbacks import Client, text_message
from tests.conftest import CORP_ID, make_settings
from tests.dbutil import fetch, snapshot


@pytest.fixture
def service(db_url: str, live_server_factory: Any) -> tuple[Client, str]:
    settings = make_settings(db_url)
    server = live_server_factory(create_app(settings, run_worker=False))
    return Client(settings, server.url), db_url


class TestAccepted:
    def test_event_is_stored_with_a_job_and_answered_empty(self, service: Any) -> None:
        client, url = service
        params, body = client.signed(text_message(7001))
        r = client.post(params, body)
        assert (r.status_code, r.content) == (200, b"")
        rows = fetch(url, "SELECT dedupe_key, msg_type, from_user, status FROM inbound_event")
        assert [tuple(r) for r in rows] == [("msg:7001", "text", "zhangsan", "received")]
        jobs = fetch(url, "SELECT kind, status FROM job")
        assert [tuple(j) for j in jobs] == [("process_event", "queued")]

    def test_retry_and_replay_are_answered_200_and_change_nothing(self, service: Any) -> None:
        client, url = service
        params, body = client.signed(text_message(7002))
        assert client.post(params, body).status_code == 200
        before = snapshot(url)
        # WeCom's retry is the identical request; a re-signed copy of the same event too.
        assert client.post(params, body).status_code == 200
        params2, body2 = client.signed(text_message(7002))
        assert client.post(params2, body2).status_code == 200
        assert snapshot(url) == before == (1, 1, 0)

    def test_events_without_msgid_dedupe_on_their_identity(self, service: Any) -> None:
        client, url = service
        ts = int(time.time())
        event = (
            "<xml><ToUserName>{c}</ToUserName><FromUserName>sys</FromUserName>"
            "<CreateTime>{ts}</CreateTime><MsgType>event</MsgType>"
            "<Event>change_external_chat</Event><ChatId>{chat}</ChatId>"
            "<ChangeType>update</ChangeType><UpdateDetail>add_member</UpdateDetail></xml>"
        )
        for chat in ("wrA", "wrB", "wrA"):
            params, body = client.signed(event.format(c=CORP_ID, ts=ts, chat=chat))
            assert client.post(params, body).status_code == 200
        rows = fetch(url, "SELECT chat_id, dedupe_key FROM inbound_event ORDER BY chat_id")
        assert [r.chat_id for r in rows] == ["wrA", "wrB"]
        assert all(r.dedupe_key.startswith("xml-body:") for r in rows)


def _entity_body() -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><xml><Encrypt>&b;</Encrypt></xml>'
    )


class TestRefused:
    """Each hostile input gets its status, stores nothing, and never a 500."""

    def _assert_refused(self, url: str, response: httpx.Response, status: int) -> None:
        assert response.status_code == status, response.text
        assert snapshot(url) == (0, 0, 0)

    def test_bad_signature_is_403(self, service: Any) -> None:
        client, url = service
        params, body = client.signed(text_message(1))
        params["msg_signature"] = "0" * 40
        self._assert_refused(url, client.post(params, body), 403)

    def test_wrong_corp_id_is_400_undecodable(self, service: Any) -> None:
        """Signed correctly: the same answer as every other failure after the signature check."""
        client, url = service
        other = CallbackCrypto(
            client.settings.token.get_secret_value(),
            client.settings.aes_key.get_secret_value(),
            "wwSomeoneElse",
        )
        params, body = client.signed(text_message(2), crypto=other)
        r = client.post(params, body)
        self._assert_refused(url, r, 400)
        assert r.text == "undecodable"

    def test_stale_timestamp_is_403(self, service: Any) -> None:
        client, url = service
        params, body = client.signed(text_message(3), ts=int(time.time()) - 360)
        self._assert_refused(url, client.post(params, body), 403)

    def test_future_timestamp_is_403(self, service: Any) -> None:
        client, url = service
        params, body = client.signed(text_message(3), ts=int(time.time()) + 360)
        self._assert_refused(url, client.post(params, body), 403)

    def test_malformed_xml_is_400(self, service: Any) -> None:
        client, url = service
        params, _ = client.signed(text_message(4))
        self._assert_refused(url, client.post(params, b"<xml><Encrypt>abc</Encr"), 400)

    def test_entity_declarations_are_400(self, service: Any) -> None:
        client, url = service
        params, _ = client.signed(text_message(5))
        self._assert_refused(url, client.post(params, _entity_body()), 400)

    def test_external_entity_is_400(self, service: Any) -> None:
        client, url = service
        params, _ = client.signed(text_message(5))
        xxe = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<xml><Encrypt>&e;</Encrypt></xml>"
        )
        self._assert_refused(url, client.post(params, xxe), 400)

    @pytest.mark.parametrize(
        "encrypt",
        [
            "not*base64!",  # bad characters
            "QUJD",  # valid base64, 3 bytes: not a whole AES block
            base64.b64encode(b"x" * 32).decode()[:-2],  # broken padding
        ],
    )
    def test_bad_base64_or_cipher_is_400(self, service: Any, encrypt: str) -> None:
        client, url = service
        params, body = client.raw_signed(encrypt)
        r = client.post(params, body)
        self._assert_refused(url, r, 400)
        assert r.text == "undecodable"

    def test_garbage_plaintext_under_a_valid_signature_is_refused(self, service: Any) -> None:
        client, url = service
        params, body = client.raw_signed(base64.b64encode(secrets.token_bytes(64)).decode())
        r = client.post(params, body)
        self._assert_refused(url, r, 400)
        assert r.text == "undecodable"

    def test_body_over_64_kib_is_413(self, service: Any) -> None:
        client, url = service
        params, _ = client.signed(text_message(6))
        self._assert_refused(url, client.post(params, b"<xml>" + b"a" * 65_536 + b"</xml>"), 413)

    def test_chunked_body_over_64_kib_is_413(self, service: Any) -> None:
        client, url = service
        params, _ = client.signed(text_message(6))

        def chunks() -> Any:
            for _ in range(80):
                yield b"a" * 1024

        self._assert_refused(url, client.post(params, chunks()), 413)  # no Content-Length

    @pytest.mark.parametrize("mangle", [str.upper, lambda sig: "é" * 40])
    def test_signature_not_exactly_ours_is_403(self, service: Any, mangle: Any) -> None:
        client, url = service
        params, body = client.signed(text_message(10))
        params["msg_signature"] = mangle(params["msg_signature"])
        self._assert_refused(url, client.post(params, body), 403)

    def test_non_ascii_digits_in_timestamp_are_400(self, service: Any) -> None:
        client, url = service
        params, body = client.signed(text_message(11))
        params["timestamp"] = "²" * 10  # str.isdigit() says yes, int() says no
        r = client.post(params, body)
        self._assert_refused(url, r, 400)
        assert r.text == "malformed signature parameters"

    def test_bad_padding_under_a_valid_signature_is_400(self, service: Any) -> None:
        client, url = service
        key = base64.b64decode(client.settings.aes_key.get_secret_value() + "=")
        encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        message = text_message(12).encode()  # a valid message: only the padding is wrong
        framed = secrets.token_bytes(16) + len(message).to_bytes(4, "big") + message + CORP_ID.encode()
        n = 32 - len(framed) % 32
        cipher = encryptor.update(framed + bytes(range(1, n + 1))) + encryptor.finalize()
        params, body = client.raw_signed(base64.b64encode(cipher).decode())
        r = client.post(params, body)
        self._assert_refused(url, r, 400)
        assert r.text == "undecodable"  # not "bad padding": that answer was a padding oracle

    def test_an_unforeseen_decoding_error_is_400_not_500(
        self, service: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        client, url = service

        def buggy(*_: Any) -> Any:
            raise KeyError("a bug in decoding")

        monkeypatch.setitem(callback.DECODERS, callback.APP_PATH, ("callback", buggy))
        params, body = client.signed(text_message(13))
        with caplog.at_level("ERROR", logger="warden"):
            r = client.post(params, body)
        self._assert_refused(url, r, 400)
        assert r.text == "undecodable"
        assert "callback.undecodable" in caplog.text and "KeyError" in caplog.text

    def test_missing_parameters_are_400(self, service: Any) -> None:
        client, url = service
        _, body = client.signed(text_message(8))
        self._assert_refused(url, client.post({}, body), 400)

    def test_url_check_with_non_ascii_signature_is_403(self, service: Any) -> None:
        client, url = service
        enc, _sig = client.crypto.encrypt("12345", timestamp="1", nonce="2")
        r = httpx.get(
            f"{client.url}/wecom/callback",
            params={
                "msg_signature": "é" * 40,
                "timestamp": str(int(time.time())),
                "nonce": "2",
                "echostr": enc,
            },
        )
        self._assert_refused(url, r, 403)

    def test_url_check_with_bad_signature_is_403(self, service: Any) -> None:
        client, url = service
        enc, _sig = client.crypto.encrypt("12345", timestamp="1", nonce="2")
        ts = str(int(time.time()))
        r = httpx.get(
            f"{client.url}/wecom/callback",
            params={"msg_signature": "f" * 40, "timestamp": ts, "nonce": "2", "echostr": enc},
        )
        self._assert_refused(url, r, 403)

    def test_refusals_log_no_secrets(self, service: Any, caplog: pytest.LogCaptureFixture) -> None:
        client, _ = service
        params, body = client.signed(text_message(9))
        params["msg_signature"] = "1" * 40
        with caplog.at_level("INFO", logger="warden"):
            assert client.post(params, body).status_code == 403
        text = caplog.text
        assert "callback.refused" in text and "bad_signature" in text
        for secret in (client.settings.token, client.settings.aes_key, client.settings.secret):
            assert secret.get_secret_value() not in text


class TestUrlCheck:
    def test_url_check_answers_the_plaintext(self, service: Any) -> None:
        client, _ = service
        ts = str(int(time.time()))
        enc, sig = client.crypto.encrypt("8203941234567", timestamp=ts, nonce="99")
        r = httpx.get(
            f"{client.url}/wecom/callback",
            params={"msg_signature": sig, "timestamp": ts, "nonce": "99", "echostr": enc},
        )
        assert (r.status_code, r.text) == (200, "8203941234567")


class TestDatabaseTrouble:
    def test_unstorable_event_is_503_and_the_retry_is_stored(
        self, sqlite_url: str, live_server_factory: Any
    ) -> None:
        """Nothing is lost: while the event cannot be stored WeCom gets 503 and retries."""
        import sqlite3

        settings = make_settings(sqlite_url)
        server = live_server_factory(create_app(settings, run_worker=False))
        client = Client(settings, server.url)
        params, body = client.signed(text_message(8801))
        path = sqlite_url.split("///", 1)[1]
        with sqlite3.connect(path) as db:  # the table vanishes behind the service's back
            db.execute("ALTER TABLE inbound_event RENAME TO inbound_event_away")
        refused = client.post(params, body)
        with sqlite3.connect(path) as db:
            db.execute("ALTER TABLE inbound_event_away RENAME TO inbound_event")
            assert db.execute("SELECT count(*) FROM job").fetchone()[0] == 0
        assert (refused.status_code, refused.text) == (503, "temporarily unavailable")
        assert client.post(params, body).status_code == 200  # WeCom's retry
        assert snapshot(sqlite_url) == (1, 1, 0)
