"""`wecom-warden simulate`: the WeCom simulator in the foreground on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import secrets

from app.settings import ConfigError, load_settings
from app.simulator.runner import serve_simulator
from app.simulator.sender import CallbackTarget
from app.wecom.crypto import generate_aes_key, generate_token


def run_simulate(args: argparse.Namespace) -> int:
    """Use the WARDEN_* credentials when they are all set (so `serve` and `simulate` share one
    environment); otherwise make up a set and print it for the service."""
    try:
        s = load_settings()
        corp_id, agent_id, secret = s.corp_id, s.agent_id, s.secret.get_secret_value()
        contacts = s.contacts_secret.get_secret_value() if s.contacts_secret else None
        token, aes_key = s.token.get_secret_value(), s.aes_key.get_secret_value()
        print("simulator: using the WARDEN_* credentials from the environment")
    except ConfigError:
        corp_id, agent_id = "wwsimcorp0000001", 1000002
        secret, token, aes_key = secrets.token_urlsafe(24), generate_token(), generate_aes_key()
        contacts = None
        base = f"http://127.0.0.1:{args.port}"
        print("simulator: WARDEN_* not fully set; start the service with these to pair them:")
        print(
            f"  export WARDEN_CORP_ID={corp_id} WARDEN_AGENT_ID={agent_id} "
            f"WARDEN_SECRET={secret} WARDEN_TOKEN={token} WARDEN_AES_KEY={aes_key} "
            f"WARDEN_WECOM_BASE_URL={base}"
        )
    callback = None
    if args.callback_url:
        callback = CallbackTarget(
            url=args.callback_url,
            token=token,
            encoding_aes_key=aes_key,
            corp_id=corp_id,
            agent_id=agent_id,
            aibot_url=args.callback_url.replace("/wecom/callback", "/wecom/aibot"),
        )
    print(
        f"simulator: http://127.0.0.1:{args.port}  (qyapi under /cgi-bin, control API under "
        "/_sim: calls, faults, clock/advance, state, archive/messages, callbacks)"
    )
    asyncio.run(
        serve_simulator(
            host="127.0.0.1",
            port=args.port,
            org_path=args.org,
            corp_id=corp_id,
            agent_id=agent_id,
            secret=secret,
            contacts_secret=contacts,
            callback=callback,
        )
    )
    return 0
