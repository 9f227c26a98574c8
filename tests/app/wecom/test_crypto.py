"""Unit level: the checks around wechatpy's decrypt (padding, exact signature, hostile nesting)."""

from __future__ import annotations

import base64
import secrets
import struct
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from app.wecom.crypto import (
    BadSignature,
    CallbackCrypto,
    MalformedCallback,
    SignedQuery,
    Undecodable,
    decode_aes_key,
    generate_aes_key,
    parse_xml,
    signature,
    xml_fields,
)

TOKEN, CORP = "tok123", "wwcorp0001"
AES_KEY = generate_aes_key()
KEY = decode_aes_key(AES_KEY)


def cipher_text(padded: bytes) -> str:
    """AES-256-CBC as WeCom uses it (IV = the key's first 16 bytes), no padding added."""
    encryptor = Cipher(algorithms.AES(KEY), modes.CBC(KEY[:16])).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def framed(message: bytes, receive_id: str = CORP) -> bytes:
    return secrets.token_bytes(16) + struct.pack(">I", len(message)) + message + receive_id.encode()


def pkcs7(data: bytes) -> bytes:
    n = 32 - len(data) % 32
    return data + bytes([n]) * n


def signed(encrypted: str) -> SignedQuery:
    return SignedQuery(signature(TOKEN, "1700000000", "n1", encrypted), "1700000000", "n1")


crypto = CallbackCrypto(TOKEN, AES_KEY, CORP)


def test_well_padded_message_decrypts() -> None:
    enc = cipher_text(pkcs7(framed(b"hello")))
    assert crypto.verify_url(signed(enc), enc) == "hello"


@pytest.mark.parametrize(
    "tail",
    [
        lambda n: bytes(range(1, n + 1)),  # only the last byte says n: wechatpy alone accepted this
        lambda n: b"\x00" * n,  # pad byte 0
    ],
)
def test_bad_padding_is_undecodable(tail: Callable[[int], bytes]) -> None:
    body = framed(b"hello")
    n = 32 - len(body) % 32
    enc = cipher_text(body + tail(n))
    with pytest.raises(Undecodable, match="bad_padding"):
        crypto.verify_url(signed(enc), enc)


def test_pad_byte_over_the_block_is_undecodable() -> None:
    body = framed(b"x" * 3)
    n = 32 - len(body) % 32
    enc = cipher_text(body + b"\x00" * (n - 1) + bytes([33]))
    with pytest.raises(Undecodable, match="bad_padding"):
        crypto.verify_url(signed(enc), enc)


@pytest.mark.parametrize("mangle", [str.upper, lambda s: "é" + s[1:], lambda s: s + " "])
def test_signature_must_match_exactly(mangle: Callable[[str], str]) -> None:
    enc = cipher_text(pkcs7(framed(b"hello")))
    q = signed(enc)
    bad = SignedQuery(mangle(q.msg_signature), q.timestamp, q.nonce)
    assert bad.msg_signature != q.msg_signature
    with pytest.raises(BadSignature):
        crypto.verify_url(bad, enc)


def test_deeply_nested_json_envelope_is_malformed() -> None:
    bot = CallbackCrypto(TOKEN, AES_KEY, "")
    q = SignedQuery("a" * 40, "1700000000", "n1")
    with pytest.raises(MalformedCallback, match="malformed_json"):
        bot.decrypt_json(q, b"[" * 100_000)


def test_xml_nested_deeper_than_wecom_is_malformed() -> None:
    shallow = "<xml><MemChangeList><Item>a</Item></MemChangeList></xml>"
    assert xml_fields(parse_xml(shallow)) == {"MemChangeList": ["a"]}
    deep = "<xml>" + "<a>" * 2000 + "x" + "</a>" * 2000 + "</xml>"
    with pytest.raises(MalformedCallback, match="xml_too_deep"):
        xml_fields(parse_xml(deep))


@pytest.mark.parametrize(
    ("encrypted", "reason"),
    [
        ("not*base64!", "bad_base64"),
        ("QUJD", "bad_cipher_length"),
        (cipher_text(pkcs7(framed(b"hello", receive_id="wwSomeoneElse"))), "wrong_receiver"),
        (cipher_text(pkcs7(framed(b"\xff\xfe not utf-8"))), "bad_plaintext"),
    ],
)
def test_every_failure_after_the_signature_is_one_kind(encrypted: str, reason: str) -> None:
    """The reason differs (for the log); the exception, hence the answer, does not."""
    with pytest.raises(Undecodable, match=reason) as info:
        crypto.verify_url(signed(encrypted), encrypted)
    assert (info.value.status, info.value.answer) == (400, "undecodable")


def test_failures_before_the_signature_still_say_why() -> None:
    with pytest.raises(BadSignature) as info:
        crypto.verify_url(SignedQuery("0" * 40, "1700000000", "n1"), "QUJD")
    assert (info.value.status, info.value.answer) == (403, "bad signature")


def test_unknown_xml_encoding_is_malformed_not_a_crash() -> None:
    with pytest.raises(MalformedCallback, match="unknown_xml_encoding"):
        parse_xml(b'<?xml version="1.0" encoding="x-unknown"?><xml><Encrypt>a</Encrypt></xml>')


@pytest.mark.parametrize("text", ["<xml><a>&#xD800;</a></xml>", "<xml><a>&#0;</a></xml>"])
def test_xml_cannot_carry_unstorable_characters(text: str) -> None:
    """What the AI bot's JSON can spell (lone surrogate, NUL) the XML parser refuses."""
    with pytest.raises(MalformedCallback, match="malformed_xml"):
        parse_xml(text)
