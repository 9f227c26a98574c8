"""The published WeCom callback vectors (../shared/vectors/official.json) through a real server."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from app.main import create_app
from tests.conftest import ROOT, make_settings
from tests.dbutil import fetch

VECTORS_FILE = ROOT.parent / "shared" / "vectors" / "official.json"  # shared/ beside the project
VECTORS: list[dict[str, Any]] = (
    json.loads(VECTORS_FILE.read_text())["vectors"] if VECTORS_FILE.exists() else []
)


def _altered(sig: str, position: int) -> str:
    """The signature with one character changed (hex stays hex)."""
    replacement = "0" if sig[position] != "0" else "1"
    return sig[:position] + replacement + sig[position + 1 :]


@pytest.fixture(params=VECTORS, ids=[v["name"] for v in VECTORS])
def vector_server(request: pytest.FixtureRequest, sqlite_url: str, live_server_factory: Any) -> Any:
    v = request.param
    settings = make_settings(
        sqlite_url, token=v["token"], aes_key=v["encoding_aes_key"], corp_id=v["corp_id"], replay_window_s=0
    )  # the vectors are old
    return v, live_server_factory(create_app(settings, run_worker=False)), sqlite_url


def test_vectors_file_is_present() -> None:
    assert len(VECTORS) >= 3, f"expected the published vectors at {VECTORS_FILE}"


class TestOfficialVectors:
    def test_url_check_answers_plaintext_echostr(self, vector_server: Any) -> None:
        v, server, _ = vector_server
        g = v["verify_url"]
        params = {k: g[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
        r = httpx.get(f"{server.url}/wecom/callback", params=params)  # httpx URL-encodes + / =
        assert r.status_code == 200
        assert r.text == g["expected_reply"]
        assert r.headers["content-type"].startswith("text/plain")

    def test_post_is_accepted_and_decrypted(self, vector_server: Any) -> None:
        v, server, url = vector_server
        p = v["post"]
        params = {k: p[k] for k in ("msg_signature", "timestamp", "nonce")}
        r = httpx.post(f"{server.url}/wecom/callback", params=params, content=p["body"].encode())
        assert r.status_code == 200
        assert r.content == b""
        rows = fetch(url, "SELECT payload, msg_type, dedupe_key FROM inbound_event")
        assert len(rows) == 1
        assert rows[0].payload == p["expected_plaintext"]
        assert rows[0].msg_type == "text"
        assert rows[0].dedupe_key.startswith("msg:")

    @pytest.mark.parametrize("position", [0, 17, 39])
    def test_one_changed_character_in_a_signature_is_refused(self, vector_server: Any, position: int) -> None:
        v, server, url = vector_server
        g, p = v["verify_url"], v["post"]
        get = httpx.get(
            f"{server.url}/wecom/callback",
            params={
                "msg_signature": _altered(g["msg_signature"], position),
                "timestamp": g["timestamp"],
                "nonce": g["nonce"],
                "echostr": g["echostr"],
            },
        )
        post = httpx.post(
            f"{server.url}/wecom/callback",
            params={
                "msg_signature": _altered(p["msg_signature"], position),
                "timestamp": p["timestamp"],
                "nonce": p["nonce"],
            },
            content=p["body"].encode(),
        )
        assert (get.status_code, post.status_code) == (403, 403)
        assert g["expected_reply"] not in get.text
        assert fetch(url, "SELECT count(*) FROM inbound_event")[0][0] == 0
