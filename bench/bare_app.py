"""Baseline: the callback handler most wechatpy users write, with no persistence.

`WeChatCrypto` is built once, the POST handler reads the signed query parameters and the body,
decrypts with `decrypt_message`, parses with `wechatpy.work.parse_message` and answers an empty 200.
Configured from the service's own variables (WARDEN_TOKEN, WARDEN_AES_KEY, WARDEN_CORP_ID).

Run: `.venv/bin/python -m bench.bare_app --host 127.0.0.1 --port 8090`
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn
from fastapi import FastAPI, Request, Response
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.work import parse_message
from wechatpy.work.crypto import WeChatCrypto


def create_app(token: str, encoding_aes_key: str, corp_id: str) -> FastAPI:
    crypto = WeChatCrypto(token, encoding_aes_key, corp_id)
    app = FastAPI()

    @app.post("/wecom/callback")
    async def callback(request: Request) -> Response:
        q = request.query_params
        body = await request.body()
        try:
            xml = crypto.decrypt_message(
                body, q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", "")
            )
        except InvalidSignatureException:
            return Response(status_code=403)
        parse_message(xml)
        return Response(status_code=200)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bare wechatpy callback handler (baseline)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    try:
        token, key, corp_id = (os.environ[f"WARDEN_{n}"] for n in ("TOKEN", "AES_KEY", "CORP_ID"))
    except KeyError as exc:
        print(f"bare_app: {exc.args[0]} is not set", file=sys.stderr)
        return 2
    # The same uvicorn options as `wecom-warden serve` (app/cli.py: cmd_serve); loop and http
    # stay "auto", i.e. uvloop and httptools when installed, exactly as for the service.
    uvicorn.run(
        create_app(token, key, corp_id),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
