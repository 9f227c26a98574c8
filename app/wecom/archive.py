"""Where chat-archive (会话内容存档) messages come from: one `ArchiveClient` per WARDEN_ARCHIVE_SOURCE.

Every client answers the same question, "the items after this seq, at most `limit` (≤ 1000)",
with each item's seq, msgid and the decrypted message dict exactly as WeCom documents it
(`msgid`, `action`, `from`, `tolist`, `roomid`, `msgtime` in ms, `msgtype`, the body under its type):

- `simulator`: the embedded simulator's archive, through the WeCom client's `archive_pull`;
- `bridge`: the HTTP protocol of API.md, for companies that run the Finance SDK on another host;
- `sdk`: Tencent's Finance SDK through the optional extra `archive-sdk` (pyweworkfinance, installed
  at deploy time; its `.so` is never part of this repository). We do the RSA step ourselves:
  `encrypt_random_key` is unwrapped (PKCS#1 v1.5) with the private key of its `publickey_ver`,
  then the SDK's DecryptData opens `encrypt_chat_msg` with it.

Errors are typed (`ArchiveError` and its kinds); none of them carries a secret or message text.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import importlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.logs import log_event

if TYPE_CHECKING:
    from app.settings import Settings
    from app.wecom.reader import WeComReader

MAX_LIMIT = 1000  # GetChatData refuses more (WECOM.md §3.2)
SDK_MODULE = "pyweworkfinance"  # the optional extra `archive-sdk`
SDK_TIMEOUT_S = 10  # GetChatData's own timeout argument (seconds)
BRIDGE_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)


class ArchiveError(Exception):
    """The archive could not be read this time (the pull retries later)."""


class ArchiveUnavailable(ArchiveError):
    """The source cannot work in this process (the SDK did not load): pulls are skipped."""


class ArchiveProtocolError(ArchiveError):
    """The source answered something that is not the documented shape."""


class ArchiveSourceError(ArchiveError):
    """The source answered with an error code (WeCom's, the SDK's or the bridge's)."""

    def __init__(self, errcode: int, what: str) -> None:
        self.errcode = errcode
        super().__init__(f"{what}: errcode {errcode}")


# The `action` of the stand-in for an item that could not be decrypted (SdkArchive.decrypt_or_keep).
UNDECRYPTABLE = "undecryptable"


@dataclass(frozen=True, slots=True)
class ArchiveItem:
    seq: int
    msgid: str
    message: dict[str, Any]  # the decrypted archive message as WeCom documents it


class ArchiveClient(Protocol):
    # The seq space this client reads (one cursor each): sdk and bridge read the same corp's archive.
    cursor_name: str

    async def fetch(self, *, seq: int, limit: int = MAX_LIMIT) -> list[ArchiveItem]:
        """The items after `seq` (seq+1 onwards), at most `limit` ≤ 1000, in seq order."""
        ...


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_LIMIT}, not {limit}")


def _items(chatdata: Any, *, decrypted: bool = True) -> list[dict[str, Any]]:
    if not isinstance(chatdata, list) or not all(isinstance(i, dict) for i in chatdata):
        raise ArchiveProtocolError("chatdata is not a list of objects")
    return chatdata


def _item(raw: Mapping[str, Any], message: Any) -> ArchiveItem:
    seq, msgid = raw.get("seq"), raw.get("msgid")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ArchiveProtocolError("an item without an integer seq")
    if not isinstance(message, dict):
        raise ArchiveProtocolError(f"item {seq}: the message is not an object")
    if not isinstance(msgid, str) or not msgid:
        msgid = message.get("msgid")
        if not isinstance(msgid, str) or not msgid:
            raise ArchiveProtocolError(f"item {seq}: no msgid")
    return ArchiveItem(seq=seq, msgid=msgid, message=message)


def _in_order(items: list[ArchiveItem], after: int) -> list[ArchiveItem]:
    items.sort(key=lambda i: i.seq)
    if items and items[0].seq <= after:
        raise ArchiveProtocolError(f"seq {items[0].seq} is not after {after}")
    return items


# -- simulator ------------------------------------------------------------------------------------


class SimulatorArchive:
    """The simulator's archive through the WeCom client (plaintext, like GetChatData + DecryptData)."""

    def __init__(self, wecom: WeComReader, *, corp_id: str) -> None:
        self._wecom = wecom
        self.cursor_name = f"simulator:{corp_id}"

    async def fetch(self, *, seq: int, limit: int = MAX_LIMIT) -> list[ArchiveItem]:
        _check_limit(limit)
        data = await self._wecom.archive_pull(seq=seq, limit=limit)
        return _in_order([_item(i, i.get("message")) for i in _items(data.get("chatdata"))], seq)


# -- bridge ---------------------------------------------------------------------------------------


class BridgeArchive:
    """API.md's bridge: `POST {url}` with `Authorization: Bearer {token}` and {"seq", "limit"} →
    {"errcode": 0, "chatdata": [{"seq", "msgid", "message"}]}."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        corp_id: str,
        timeout: httpx.Timeout = BRIDGE_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout
        self._transport = transport
        self.cursor_name = f"wecom:{corp_id}"

    async def fetch(self, *, seq: int, limit: int = MAX_LIMIT) -> list[ArchiveItem]:
        _check_limit(limit)
        try:
            # A client per pull (one a minute or per notice): nothing to close at shutdown.
            async with httpx.AsyncClient(
                timeout=self._timeout, transport=self._transport, follow_redirects=False
            ) as http:
                response = await http.post(
                    self._url, json={"seq": seq, "limit": limit}, headers=self._headers
                )
        except httpx.TimeoutException as exc:
            raise ArchiveError(f"bridge timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise ArchiveError(f"bridge unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise ArchiveError(f"bridge answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise ArchiveProtocolError("bridge answered something that is not JSON") from None
        if not isinstance(body, dict):
            raise ArchiveProtocolError("bridge answered JSON that is not an object")
        errcode = body.get("errcode")
        if errcode != 0:
            raise ArchiveSourceError(errcode if isinstance(errcode, int) else -1, "bridge")
        return _in_order([_item(i, i.get("message")) for i in _items(body.get("chatdata"))], seq)


# -- Finance SDK ----------------------------------------------------------------------------------


def load_private_keys(value: str) -> dict[int, rsa.RSAPrivateKey]:
    """WARDEN_ARCHIVE_PRIVATE_KEYS: JSON {publickey_ver: PEM}, or the path of a file holding it.
    ValueError names what is wrong, never the key."""
    text = value.strip()
    if not text.startswith(("{", "[")):  # else a path
        path = Path(text).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(
                f"WARDEN_ARCHIVE_PRIVATE_KEYS: cannot read the key file ({type(exc).__name__})"
            ) from None
    try:
        raw = json.loads(text)
    except ValueError:
        raise ValueError("WARDEN_ARCHIVE_PRIVATE_KEYS is not JSON {publickey_ver: PEM}") from None
    if not isinstance(raw, dict) or not raw:
        raise ValueError("WARDEN_ARCHIVE_PRIVATE_KEYS is not JSON {publickey_ver: PEM}")
    keys: dict[int, rsa.RSAPrivateKey] = {}
    for ver, pem in raw.items():
        try:
            number = int(ver)
        except ValueError:
            raise ValueError(f"WARDEN_ARCHIVE_PRIVATE_KEYS: {ver!r} is not a publickey_ver") from None
        try:
            key = serialization.load_pem_private_key(str(pem).encode(), password=None)
        except (ValueError, TypeError):
            raise ValueError(
                f"WARDEN_ARCHIVE_PRIVATE_KEYS: version {number} is not a PEM private key"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"WARDEN_ARCHIVE_PRIVATE_KEYS: version {number} is not an RSA key")
        keys[number] = key
    return keys


def unwrap_random_key(encrypt_random_key: str, key: rsa.RSAPrivateKey) -> str:
    """base64 → RSA PKCS#1 v1.5 decrypt: the key DecryptData takes (ASCII text)."""
    try:
        wrapped = base64.b64decode(encrypt_random_key, validate=True)
        return key.decrypt(wrapped, padding.PKCS1v15()).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ArchiveSourceError(10008, "encrypt_random_key does not unwrap") from None


class FinanceSdk(Protocol):
    """What we use of pyweworkfinance.WeWorkFinance (blocking C calls)."""

    def get_chat_data(
        self, seq: int = 0, limit: int = 1000, proxy: str = "", passwd: str = "", timeout: int = 0
    ) -> Any: ...

    def decrypt_data(self, encrypt_key: str, encrypt_msg: str) -> Any: ...


def load_sdk(corp_id: str, secret: str) -> FinanceSdk:
    """The Finance SDK, imported only now; any failure (the extra not installed, the .so not
    loading on this platform, Init refusing) is ArchiveUnavailable with one line saying why."""
    try:
        module = importlib.import_module(SDK_MODULE)
        # Its own logger prints the secret and every message at DEBUG, and errors to stdout.
        logging.getLogger(SDK_MODULE).setLevel(logging.CRITICAL)
        sdk: FinanceSdk = module.WeWorkFinance(corp_id, secret, default_timeout=SDK_TIMEOUT_S)
    except ImportError:
        raise ArchiveUnavailable(
            f"the Finance SDK is not installed (the extra 'archive-sdk' provides {SDK_MODULE})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - OSError from ctypes, the wrapper's own errors, …
        code = getattr(exc, "err_code", None)
        detail = f"errcode {code}" if isinstance(code, int) else type(exc).__name__
        raise ArchiveUnavailable(f"the Finance SDK did not load ({detail})") from None
    return sdk


class SdkArchive:
    """GetChatData, our RSA unwrap, then DecryptData; the SDK's blocking calls run on a thread."""

    def __init__(self, sdk: FinanceSdk, keys: Mapping[int, rsa.RSAPrivateKey], *, corp_id: str) -> None:
        self._sdk = sdk
        self._keys = dict(keys)
        self.cursor_name = f"wecom:{corp_id}"

    async def fetch(self, *, seq: int, limit: int = MAX_LIMIT) -> list[ArchiveItem]:
        _check_limit(limit)
        return await asyncio.to_thread(self._fetch, seq, limit)

    def _fetch(self, seq: int, limit: int) -> list[ArchiveItem]:
        try:
            data = self._sdk.get_chat_data(seq=seq, limit=limit, timeout=SDK_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the wrapper raises its own error type
            raise _sdk_error(exc, "GetChatData") from None
        chatdata = getattr(data, "chatdata", None)
        if chatdata is None and isinstance(data, dict):
            chatdata = data.get("chatdata")
        items = [self.decrypt_or_keep(_as_dict(i)) for i in (chatdata or [])]
        return _in_order(items, seq)

    def decrypt_or_keep(self, raw: Mapping[str, Any]) -> ArchiveItem:
        """`decrypt`, or, for an item that cannot be decrypted (a `publickey_ver` whose private key
        is not configured, say after a key rotation), a stand-in that keeps it encrypted: one bad
        item must not stall the archive for good, and nothing is lost (it is stored with its
        ciphertext and the reason, and can be decrypted once the key is configured)."""
        try:
            return self.decrypt(raw)
        except ArchiveError as exc:
            seq, msgid = raw.get("seq"), raw.get("msgid")
            if not isinstance(seq, int) or not isinstance(msgid, str) or not msgid:
                raise
            log_event(
                "archive.undecryptable",
                level=logging.WARNING,
                seq=seq,
                publickey_ver=raw.get("publickey_ver"),
                error=str(exc),
            )
            kept = {f: raw.get(f) for f in ("publickey_ver", "encrypt_random_key", "encrypt_chat_msg")}
            return ArchiveItem(
                seq=seq,
                msgid=msgid,
                message={"msgid": msgid, "action": UNDECRYPTABLE, "error": str(exc), "encrypted": kept},
            )

    def decrypt(self, raw: Mapping[str, Any]) -> ArchiveItem:
        """One encrypted item → ArchiveItem (the message decrypted)."""
        ver = raw.get("publickey_ver")
        key = self._keys.get(ver) if isinstance(ver, int) else None
        if key is None:
            raise ArchiveSourceError(10007, f"no private key for publickey_ver {ver}")
        random_key = unwrap_random_key(str(raw.get("encrypt_random_key") or ""), key)
        try:
            message = self._sdk.decrypt_data(random_key, str(raw.get("encrypt_chat_msg") or ""))
        except Exception as exc:  # noqa: BLE001 - see above
            raise _sdk_error(exc, "DecryptData") from None
        if isinstance(message, str | bytes):
            try:
                message = json.loads(message)
            except ValueError:
                raise ArchiveProtocolError("DecryptData gave something that is not JSON") from None
        return _item(raw, message)


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    fields = ("seq", "msgid", "publickey_ver", "encrypt_random_key", "encrypt_chat_msg")
    return {f: getattr(item, f, None) for f in fields}


def _sdk_error(exc: Exception, call: str) -> ArchiveError:
    code = getattr(exc, "err_code", None)
    if isinstance(code, int):
        return ArchiveSourceError(code, call)
    return ArchiveError(f"{call} failed ({type(exc).__name__})")


class UnavailableArchive:
    """The source that could not load: every fetch says so (the pull skips quietly)."""

    def __init__(self, reason: str, *, cursor_name: str) -> None:
        self.reason = reason
        self.cursor_name = cursor_name

    async def fetch(self, *, seq: int, limit: int = MAX_LIMIT) -> list[ArchiveItem]:
        raise ArchiveUnavailable(self.reason)


def make_archive_client(settings: Settings, wecom: WeComReader) -> ArchiveClient | None:
    """The client WARDEN_ARCHIVE_SOURCE names (None when off). An SDK that cannot load is said in
    one line here, at start-up, and the service keeps serving without the archive."""
    source = settings.archive_source
    corp = settings.corp_id
    if source == "off":
        return None
    if source == "simulator":
        return SimulatorArchive(wecom, corp_id=corp)
    if source == "bridge":
        assert settings.archive_bridge_url and settings.archive_bridge_token  # Settings checked
        return BridgeArchive(
            settings.archive_bridge_url, settings.archive_bridge_token.get_secret_value(), corp_id=corp
        )
    assert settings.archive_secret and settings.archive_private_keys  # Settings checked
    keys = load_private_keys(settings.archive_private_keys.get_secret_value())
    try:
        sdk = load_sdk(corp, settings.archive_secret.get_secret_value())
    except ArchiveUnavailable as exc:
        log_event("archive.sdk_unavailable", level=logging.WARNING, detail=str(exc))
        return UnavailableArchive(str(exc), cursor_name=f"wecom:{corp}")
    return SdkArchive(sdk, keys, corp_id=corp)
