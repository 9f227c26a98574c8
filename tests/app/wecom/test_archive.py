"""The archive sources: the bridge against a real HTTP server on 127.0.0.1, the RSA unwrap with a key
made here, the Finance SDK adapter (the C library stood in for at unit level), an SDK that cannot
load (one line at start-up, the service keeps serving), and the settings that choose among them."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
import types
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.archive.pull import inbox_record
from app.main import create_app
from app.settings import ConfigError, load_settings
from app.wecom.archive import (
    SDK_MODULE,
    UNDECRYPTABLE,
    ArchiveError,
    ArchiveItem,
    ArchiveProtocolError,
    ArchiveSourceError,
    ArchiveUnavailable,
    BridgeArchive,
    SdkArchive,
    UnavailableArchive,
    load_private_keys,
    make_archive_client,
    unwrap_random_key,
)
from handlers.archive import handle_archive
from handlers.base import UnknownEvent
from tests.callbacks import Client
from tests.conftest import CORP_ID, make_settings

TOKEN = "bridge-token-" + "x" * 20
MESSAGE = {
    "msgid": "m1",
    "action": "send",
    "from": "zhangsan",
    "tolist": ["lisi"],
    "roomid": "wrA",
    "msgtime": 1_700_000_000_000,
    "msgtype": "text",
    "text": {"content": "你好"},
}


class Bridge:
    """A bridge as API.md describes it; `mode` breaks it in one way at a time."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, Any], str | None]] = []
        self.mode = "ok"
        self.chatdata: list[dict[str, Any]] = [{"seq": 8, "msgid": "m1", "message": MESSAGE}]
        self.app = FastAPI()

        @self.app.post("/chatdata")
        async def chatdata(request: Request) -> Response:
            body = await request.json()
            self.requests.append((body, request.headers.get("authorization")))
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"errcode": 401}, status_code=401)
            if self.mode == "slow":
                await asyncio.sleep(2)
            if self.mode == "not-json":
                return PlainTextResponse("<html>proxy error</html>")
            if self.mode == "errcode":
                return JSONResponse({"errcode": 10009, "errmsg": "ip not allowed"})
            if self.mode == "bad-items":
                return JSONResponse({"errcode": 0, "chatdata": [{"seq": "8", "message": MESSAGE}]})
            after = -1 if self.mode == "ignores-seq" else body["seq"]
            items = [i for i in self.chatdata if i["seq"] > after][: body["limit"]]
            return JSONResponse({"errcode": 0, "chatdata": items})


@pytest.fixture
def bridge(live_server_factory: Any) -> tuple[Bridge, str]:
    server = Bridge()
    return server, live_server_factory(server.app).url + "/chatdata"


def client_for(url: str, token: str = TOKEN, **kw: Any) -> BridgeArchive:
    return BridgeArchive(url, token, corp_id=CORP_ID, **kw)


class TestBridge:
    async def test_the_protocol(self, bridge: tuple[Bridge, str]) -> None:
        server, url = bridge
        items = await client_for(url).fetch(seq=7, limit=100)
        assert items == [ArchiveItem(seq=8, msgid="m1", message=MESSAGE)]
        assert server.requests == [({"seq": 7, "limit": 100}, f"Bearer {TOKEN}")]
        assert await client_for(url).fetch(seq=8) == []

    async def test_a_wrong_token_is_an_error_without_the_token(self, bridge: tuple[Bridge, str]) -> None:
        _, url = bridge
        with pytest.raises(ArchiveError) as caught:
            await client_for(url, token="wrong-token-value").fetch(seq=0)
        assert "401" in str(caught.value) and "wrong-token-value" not in str(caught.value)

    @pytest.mark.parametrize(
        ("mode", "error", "text"),
        [
            ("not-json", ArchiveProtocolError, "not JSON"),
            ("errcode", ArchiveSourceError, "10009"),
            ("bad-items", ArchiveProtocolError, "seq"),
        ],
    )
    async def test_typed_errors(
        self, bridge: tuple[Bridge, str], mode: str, error: type[Exception], text: str
    ) -> None:
        server, url = bridge
        server.mode = mode
        with pytest.raises(error, match=text):
            await client_for(url).fetch(seq=0)

    async def test_an_explicit_timeout(self, bridge: tuple[Bridge, str]) -> None:
        server, url = bridge
        server.mode = "slow"
        with pytest.raises(ArchiveError, match="timed out"):
            await client_for(url, timeout=httpx.Timeout(0.2)).fetch(seq=0)

    async def test_nothing_listening(self) -> None:
        with pytest.raises(ArchiveError, match="unreachable"):
            await client_for("http://127.0.0.1:9/chatdata").fetch(seq=0)

    async def test_limit_is_at_most_1000(self, bridge: tuple[Bridge, str]) -> None:
        with pytest.raises(ValueError, match="limit"):
            await client_for(bridge[1]).fetch(seq=0, limit=1001)

    async def test_items_out_of_order_are_sorted_and_old_ones_refused(
        self, bridge: tuple[Bridge, str]
    ) -> None:
        server, url = bridge
        server.chatdata = [
            {"seq": s, "msgid": f"m{s}", "message": {**MESSAGE, "msgid": f"m{s}"}} for s in (9, 8)
        ]
        assert [i.seq for i in await client_for(url).fetch(seq=0)] == [8, 9]
        # a bridge that ignores seq would hand back what the cursor has passed
        server.mode = "ignores-seq"
        with pytest.raises(ArchiveProtocolError, match="not after"):
            await client_for(url).fetch(seq=8)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def wrap(random_key: str, key: rsa.RSAPrivateKey) -> str:
    """What WeCom does with the public key of a publickey_ver (PKCS#1 v1.5)."""
    return base64.b64encode(key.public_key().encrypt(random_key.encode(), padding.PKCS1v15())).decode()


class FakeSdk:
    """pyweworkfinance.WeWorkFinance's two calls, at unit level (the C library is not here)."""

    def __init__(self, items: list[dict[str, Any]], messages: dict[str, dict[str, Any]]) -> None:
        self.items = items
        self.messages = messages  # random key → the message it decrypts
        self.calls: list[tuple[str, Any]] = []

    def get_chat_data(
        self, seq: int = 0, limit: int = 1000, proxy: str = "", passwd: str = "", timeout: int = 0
    ) -> Any:
        self.calls.append(("GetChatData", (seq, limit)))
        return types.SimpleNamespace(
            errcode=0, errmsg="ok", chatdata=[types.SimpleNamespace(**i) for i in self.items]
        )

    def decrypt_data(self, encrypt_key: str, encrypt_msg: str) -> Any:
        self.calls.append(("DecryptData", (encrypt_key, encrypt_msg)))
        if encrypt_key not in self.messages:
            raise type("WeWorkFinanceError", (Exception,), {})("bad key")
        return self.messages[encrypt_key]


class TestSdk:
    def test_rsa_unwrap_with_a_key_made_here(self) -> None:
        key = new_key()
        assert unwrap_random_key(wrap("0123456789abcdef0123456789abcdef", key), key) == (
            "0123456789abcdef0123456789abcdef"
        )
        with pytest.raises(ArchiveSourceError, match="10008"):
            unwrap_random_key(wrap("x" * 32, key), new_key())  # the key of another version
        with pytest.raises(ArchiveSourceError, match="10008"):
            unwrap_random_key("not base64!", key)

    async def test_fetch_unwraps_with_the_key_of_each_version_then_decrypts(self) -> None:
        old, new = new_key(), new_key()
        items = [
            {
                "seq": 1,
                "msgid": "m1",
                "publickey_ver": 1,
                "encrypt_random_key": wrap("k-one", old),
                "encrypt_chat_msg": "c1",
            },
            {
                "seq": 2,
                "msgid": "m2",
                "publickey_ver": 2,
                "encrypt_random_key": wrap("k-two", new),
                "encrypt_chat_msg": "c2",
            },
        ]
        sdk = FakeSdk(items, {"k-one": {**MESSAGE, "msgid": "m1"}, "k-two": {**MESSAGE, "msgid": "m2"}})
        archive = SdkArchive(sdk, {1: old, 2: new}, corp_id=CORP_ID)
        got = await archive.fetch(seq=0, limit=10)
        assert [(i.seq, i.msgid, i.message["msgid"]) for i in got] == [(1, "m1", "m1"), (2, "m2", "m2")]
        assert ("DecryptData", ("k-one", "c1")) in sdk.calls and ("DecryptData", ("k-two", "c2")) in sdk.calls
        assert archive.cursor_name == f"wecom:{CORP_ID}"

    async def test_an_item_that_cannot_be_decrypted_is_kept_encrypted_and_the_page_goes_on(self) -> None:
        """A publickey_ver without its private key (a rotation not configured yet) must not stall
        the archive: the item is kept with its ciphertext and the reason, its neighbours decrypt,
        and the pull stores it as an event (never judged) so nothing is lost."""
        key = new_key()
        items = [
            {"seq": 1, "msgid": "m1", "publickey_ver": 3, "encrypt_random_key": wrap("k", key)},
            {"seq": 2, "msgid": "m2", "publickey_ver": 1, "encrypt_random_key": wrap("k2", key)},
        ]
        items[0]["encrypt_chat_msg"], items[1]["encrypt_chat_msg"] = "c", "c2"
        sdk = FakeSdk(items, {"k2": {**MESSAGE, "msgid": "m2"}})
        first, second = await SdkArchive(sdk, {1: key}, corp_id=CORP_ID).fetch(seq=0)
        assert first.message["action"] == UNDECRYPTABLE and "10007" in first.message["error"]
        assert first.message["encrypted"]["encrypt_chat_msg"] == "c"
        assert first.message["encrypted"]["publickey_ver"] == 3
        assert second.message["msgid"] == "m2"
        stored = inbox_record(first)
        assert (stored.dedupe_key, stored.msg_type) == ("archive:m1", UNDECRYPTABLE)
        record = handle_archive(json.loads(stored.payload))
        assert isinstance(record, UnknownEvent) and record.msg_type == UNDECRYPTABLE

    def test_private_keys_as_json_or_a_file(self, tmp_path: Path) -> None:
        key = new_key()
        text = json.dumps({"1": pem(key)})
        assert list(load_private_keys(text)) == [1]
        path = tmp_path / "keys.json"
        path.write_text(text)
        assert list(load_private_keys(str(path))) == [1]

    @pytest.mark.parametrize(
        ("value", "says"),
        [
            (
                '{"1": "-----BEGIN RSA PRIVATE KEY-----\\nsecretstuff\\n-----END RSA PRIVATE KEY-----"}',
                "version 1",
            ),
            ('{"one": "x"}', "'one' is not a publickey_ver"),
            ("[1]", "not JSON"),
            ("/nonexistent/keys.json", "cannot read"),
        ],
    )
    def test_bad_private_keys_say_what_without_the_key(self, value: str, says: str) -> None:
        with pytest.raises(ValueError, match=says) as caught:
            load_private_keys(value)
        assert "secretstuff" not in str(caught.value)


def sdk_settings(tmp_path: Path, db: str = "sqlite+aiosqlite:///unused.db", **kw: Any) -> Any:
    return make_settings(
        db,
        archive_source="sdk",
        archive_secret="archive-secret-" + "y" * 16,
        archive_private_keys=json.dumps({"1": pem(new_key())}),
        **kw,
    )


class TestSdkCannotLoad:
    def test_not_installed_is_one_line_and_no_client(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(sys.modules, SDK_MODULE, None)  # import fails, installed or not
        settings = sdk_settings(tmp_path)
        with caplog.at_level(logging.INFO):
            client = make_archive_client(settings, wecom=None)  # type: ignore[arg-type]
        assert isinstance(client, UnavailableArchive)
        lines = [r.getMessage() for r in caplog.records if "archive" in r.getMessage()]
        assert len(lines) == 1 and lines[0].startswith("archive.sdk_unavailable")
        assert "not installed" in lines[0] and "archive-secret" not in lines[0]

    def test_a_library_that_does_not_load_is_said_too(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        module = types.ModuleType(SDK_MODULE)

        def refuse(*args: Any, **kw: Any) -> Any:
            raise OSError("libWeWorkFinanceSdk_C.so: cannot open shared object file")

        module.WeWorkFinance = refuse  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, SDK_MODULE, module)
        with caplog.at_level(logging.INFO):
            client = make_archive_client(sdk_settings(tmp_path), wecom=None)  # type: ignore[arg-type]
        assert isinstance(client, UnavailableArchive) and "did not load (OSError)" in client.reason
        with pytest.raises(ArchiveUnavailable):
            asyncio.run(client.fetch(seq=0))

    def test_the_service_starts_and_serves_without_it(
        self,
        sqlite_url: str,
        tmp_path: Path,
        live_server_factory: Any,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        monkeypatch.setitem(sys.modules, SDK_MODULE, None)
        settings = sdk_settings(tmp_path, sqlite_url)
        with caplog.at_level(logging.INFO):
            server = live_server_factory(create_app(settings, run_worker=True))
            assert httpx.get(f"{server.url}/readyz").status_code == 200
            assert Client(settings, server.url).send_text(9001, "还在服务").status_code == 200
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("archive.")]
        assert [line.split()[0] for line in lines] == ["archive.sdk_unavailable"]


class TestSettings:
    @pytest.mark.parametrize(
        ("overrides", "says"),
        [
            (
                {"archive_source": "sdk"},
                "WARDEN_ARCHIVE_SOURCE=sdk needs WARDEN_ARCHIVE_SECRET and WARDEN_ARCHIVE_PRIVATE_KEYS",
            ),
            (
                {"archive_source": "bridge", "archive_bridge_url": "https://sdk-host.internal/chatdata"},
                "WARDEN_ARCHIVE_SOURCE=bridge needs WARDEN_ARCHIVE_BRIDGE_TOKEN",
            ),
            (
                {"archive_source": "simulator", "wecom_base_url": "https://qyapi.weixin.qq.com"},
                "is WeCom itself",
            ),
            ({"archive_source": "sdk", "archive_secret": "s" * 20, "archive_private_keys": "{}"}, "not JSON"),
            ({"archive_source": "nas"}, "WARDEN_ARCHIVE_SOURCE"),
            ({"archive_start": "soon"}, "WARDEN_ARCHIVE_START"),
            ({"archive_poll_s": 0}, "WARDEN_ARCHIVE_POLL_S"),
            ({"archive_bridge_url": "ftp://x"}, "WARDEN_ARCHIVE_BRIDGE_URL"),
            ({"archive_bridge_token": "changeme"}, "WARDEN_ARCHIVE_BRIDGE_TOKEN is empty or a placeholder"),
        ],
    )
    def test_a_malformed_combination_is_refused_in_one_line(
        self, overrides: dict[str, Any], says: str
    ) -> None:
        base = make_settings("sqlite+aiosqlite:///x.db").model_dump()
        values = {k: (v.get_secret_value() if hasattr(v, "get_secret_value") else v) for k, v in base.items()}
        values["robot_keys"] = {}
        with pytest.raises(ConfigError, match=says.replace("(", r"\(")) as caught:
            load_settings(**{**values, **overrides})
        assert "\n" not in str(caught.value)

    def test_defaults_and_masking(self) -> None:
        settings = make_settings("sqlite+aiosqlite:///x.db")
        assert (settings.archive_source, settings.archive_poll_s, settings.archive_start) == (
            "off",
            60,
            "latest",
        )
        bridge = make_settings(
            "sqlite+aiosqlite:///x.db",
            archive_source="bridge",
            archive_bridge_url="https://sdk-host.internal/chatdata",
            archive_bridge_token=TOKEN,
        )
        described = bridge.describe()
        assert TOKEN not in json.dumps(described)
        assert described["WARDEN_ARCHIVE_BRIDGE_TOKEN"].startswith("******")
        assert described["WARDEN_ARCHIVE_SOURCE"] == "bridge"
