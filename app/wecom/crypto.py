"""WeCom callback crypto: signature, AES-256-CBC and envelope parsing around wechatpy.

wechatpy does the signature check, the decryption and the receiveid (CorpID) check. We parse the
outer envelope ourselves with defusedxml (faster than xmltodict, and entity declarations are refused)
and validate the base64 strictly first, because wechatpy's decoder silently drops bad characters
and lets malformed input surface as struct/Unicode errors.

Once the signature checks out, every failure is one `Undecodable`: one status, one body, the
reason for the log only (see there why).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import string
import struct
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.work.crypto import PrpCrypto, WeChatCrypto
from wechatpy.work.exceptions import InvalidCorpIdException

AES_KEY_LENGTH = 43  # EncodingAESKey: 43 characters of base64 → 32-byte AES key
PAD_BLOCK = 32  # WeCom pads plaintext to a multiple of 32 bytes (not AES's 16)
MAX_XML_DEPTH = 8  # WeCom's messages nest 3 deep at most (xml/MemChangeList/Item)


class CallbackRejected(Exception):
    """A callback that must be refused; `status` is the HTTP answer, `reason` a stable log key."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def answer(self) -> str:
        """The response body: the reason in words (safe to say before the signature check)."""
        return self.reason.replace("_", " ")


class BadSignature(CallbackRejected):
    status = 403


class MalformedCallback(CallbackRejected):
    status = 400


UNDECODABLE_STATUS, UNDECODABLE_ANSWER = 400, "undecodable"


class Undecodable(CallbackRejected):
    """Anything wrong with a correctly signed callback: base64, padding, plaintext, receiveid
    (CorpID, or "" for the AI bot), the payload inside.

    One status and one body whatever the reason, which goes to the log only. The signature needs
    only the Token, so distinct answers (`bad padding` / `bad plaintext` / `wrong receiver`) made
    us a padding oracle: a Token holder could decrypt captured messages and forge events without
    the AES key. Unforeseen errors after the check get the same answer (app.api.callback).
    """

    status = UNDECODABLE_STATUS

    @property
    def answer(self) -> str:
        return UNDECODABLE_ANSWER


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """Return the 32-byte AES key, or raise ValueError saying what is wrong with it."""
    if len(encoding_aes_key) != AES_KEY_LENGTH:
        raise ValueError(f"must be {AES_KEY_LENGTH} characters, got {len(encoding_aes_key)}")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("must be base64 (letters and digits)") from exc
    if len(key) != 32:
        raise ValueError("does not decode to a 32-byte key")
    return key


def generate_aes_key() -> str:
    """A fresh EncodingAESKey as the WeCom console makes them: 43 letters and digits."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(AES_KEY_LENGTH))


def generate_token() -> str:
    """A fresh callback Token (≤32 letters and digits)."""
    return secrets.token_hex(16)


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """msg_signature = sha1 of the four strings sorted and concatenated (WeCom 加解密方案)."""
    parts = sorted([token, timestamp, nonce, encrypted])
    return hashlib.sha1("".join(parts).encode()).hexdigest()  # noqa: S324 - WeCom's protocol


def parse_xml(text: str | bytes) -> Element:
    """Parse XML, refusing DTDs and entity declarations (billion laughs, XXE)."""
    try:
        return fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException) as exc:
        raise MalformedCallback("malformed_xml") from exc
    except LookupError as exc:  # <?xml encoding="x-unknown"?>: the sender's mistake, not our bug
        raise MalformedCallback("unknown_xml_encoding") from exc


def xml_fields(root: Element, depth: int = 1) -> dict[str, Any]:
    """Flatten a WeCom message/event XML into a dict of field → text.

    Repeated or nested elements (MemChangeList/Item, …) become lists or dicts, always lists for
    `Item` so one member and many members look the same. Deeper than WeCom ever nests is refused.
    """
    if depth > MAX_XML_DEPTH:
        raise MalformedCallback("xml_too_deep")
    out: dict[str, Any] = {}
    for child in root:
        value: Any
        if len(child):
            items = [c.text or "" for c in child if c.tag == "Item"]
            value = items if items else xml_fields(child, depth + 1)
        else:
            value = (child.text or "").strip() if child.tag != "Content" else (child.text or "")
        out[child.tag] = value
    return out


def _decode_cipher(encrypted: str) -> bytes:
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedCallback("bad_base64") from exc
    if not raw or len(raw) % PAD_BLOCK:
        raise MalformedCallback("bad_cipher_length")
    return raw


def _check_padding(key: bytes, raw: bytes) -> None:
    """WeCom pads to 32 bytes, PKCS#7 style; wechatpy only reads the last byte, so check it all.

    Decrypts just the last 32 bytes (CBC: the block before them is their IV; the key's first
    16 bytes when there is none).
    """
    iv = raw[-48:-32] if len(raw) >= 48 else key[:16]
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    tail = decryptor.update(raw[-32:]) + decryptor.finalize()
    pad = tail[-1]
    if not 1 <= pad <= PAD_BLOCK or tail[-pad:] != bytes([pad]) * pad:
        raise MalformedCallback("bad_padding")


@dataclass(frozen=True, slots=True)
class SignedQuery:
    msg_signature: str
    timestamp: str
    nonce: str


class CallbackCrypto:
    """One instance per (token, AES key, receiveid); reused across requests."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self._key = decode_aes_key(encoding_aes_key)
        self._token = token
        self._receive_id = receive_id
        self._wechatpy = WeChatCrypto(token, encoding_aes_key, receive_id)

    def _verified_decrypt(self, q: SignedQuery, encrypted: str) -> str:
        expected = signature(self._token, q.timestamp, q.nonce, encrypted)
        # Constant-time and exact (bytes: any text compares); wechatpy repeats it with `!=`.
        if not hmac.compare_digest(expected.encode(), q.msg_signature.encode()):
            raise BadSignature("bad_signature")
        # Signed: from here on every failure is the same Undecodable (no padding oracle).
        try:
            _check_padding(self._key, _decode_cipher(encrypted))
        except CallbackRejected as exc:
            raise Undecodable(exc.reason) from exc
        try:
            text: str = self._wechatpy.decrypt_message(
                {"Encrypt": encrypted}, q.msg_signature, q.timestamp, q.nonce
            )
        except InvalidSignatureException as exc:  # cannot happen after our own check
            raise Undecodable("bad_signature_after_check") from exc
        except InvalidCorpIdException as exc:
            raise Undecodable("wrong_receiver") from exc
        except (struct.error, UnicodeDecodeError, ValueError, IndexError) as exc:
            raise Undecodable("bad_plaintext") from exc
        return text

    def verify_url(self, q: SignedQuery, echostr: str) -> str:
        """GET URL check: verify and return the plaintext echostr."""
        return self._verified_decrypt(q, echostr)

    def decrypt_xml(self, q: SignedQuery, body: bytes) -> str:
        """POST body `<xml><ToUserName/><Encrypt/><AgentID/></xml>` → decrypted inner XML."""
        encrypted = parse_xml(body).findtext("Encrypt")
        if not encrypted:
            raise MalformedCallback("missing_encrypt")
        return self._verified_decrypt(q, encrypted.strip())

    def decrypt_json(self, q: SignedQuery, body: bytes) -> str:
        """AI-bot POST body `{"encrypt": "..."}` → decrypted inner JSON text."""
        try:
            envelope = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: `[[[[…` nested too deep
            raise MalformedCallback("malformed_json") from exc
        encrypted = envelope.get("encrypt") if isinstance(envelope, dict) else None
        if not isinstance(encrypted, str) or not encrypted:
            raise MalformedCallback("missing_encrypt")
        return self._verified_decrypt(q, encrypted)

    # -- the sending side (simulator, tests, benchmarks) --------------------------------------

    def encrypt(self, plaintext: str, *, timestamp: str, nonce: str) -> tuple[str, str]:
        """Encrypt as WeCom does; return (encrypted base64, msg_signature)."""
        prp = PrpCrypto(self._wechatpy.key)
        prp.get_random_string = lambda: secrets.token_hex(8)  # wechatpy uses `random`
        encrypted = prp.encrypt(plaintext, self._receive_id).decode()
        return encrypted, signature(self._token, timestamp, nonce, encrypted)

    def envelope_xml(self, plaintext: str, *, timestamp: str, nonce: str, agent_id: str) -> tuple[bytes, str]:
        """The POST body WeCom sends for `plaintext`, and its msg_signature."""
        encrypted, sig = self.encrypt(plaintext, timestamp=timestamp, nonce=nonce)
        body = (
            f"<xml><ToUserName><![CDATA[{self._receive_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<AgentID><![CDATA[{agent_id}]]></AgentID></xml>"
        )
        return body.encode(), sig

    def envelope_json(self, plaintext: str, *, timestamp: str, nonce: str) -> tuple[bytes, str]:
        """The AI-bot POST body for `plaintext`, and its msg_signature."""
        encrypted, sig = self.encrypt(plaintext, timestamp=timestamp, nonce=nonce)
        return json.dumps({"encrypt": encrypted}).encode(), sig
