"""`wecom-warden demo`: the service on a SQLite file of its own beside the simulator, playing a short
story. The file (./wecom-warden-demo.db unless --database-url says otherwise) is recreated on each run,
so the demo never writes into the database `serve` uses. Every line of the story reports what the
service or WeCom (the simulator) really did.

Everything runs on 127.0.0.1: the WeCom simulator, the service (real uvicorn, real worker), and a
simulated WeCom sending encrypted callbacks. The first chapters plan a few acts themselves (the
membership and acknowledgement policies come later), through the outbox and executor; the content
chapters (app.devtools.demo_content) script nothing on the service's side: members write through
the simulator's chat archive (WARDEN_ARCHIVE_SOURCE=simulator) and the service judges and acts.
When something the story expects does not happen, the demo says so and exits 1.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from app import repository
from app.db import head_revision, in_session, run_migrations, session_scope
from app.devtools.demo_content import play_content
from app.devtools.serverthread import ThreadedServer
from app.inbox import xml_dedupe_key
from app.logs import configure_logging
from app.main import create_app
from app.models import ActionKind
from app.runtime import Runtime
from app.settings import Settings, check_database_url, mask_url
from app.simulator import sender as cb
from app.simulator.runner import SimulatorServer
from app.simulator.sender import CallbackSender, CallbackTarget
from app.simulator.state import SimConfig
from app.wecom.crypto import generate_aes_key, generate_token

SALES, LUNCH = "wrsales2024", "wrlunch2024"
STORY_EVENTS = 6  # distinct callbacks _deliver_story sends
# The demo's own database, recreated on each run (never the `serve` default, ./wecom-warden.db).
DEMO_DATABASE_FILE = "wecom-warden-demo.db"
DEMO_DATABASE_URL = f"sqlite+aiosqlite:///./{DEMO_DATABASE_FILE}"


class Story:
    """Prints the story as it happens, one step at a time."""

    def __init__(self, pace: float) -> None:
        self.pace = pace
        self.step = 0
        self.failures: list[str] = []

    def chapter(self, title: str) -> None:
        self.step += 1
        time.sleep(self.pace)
        print(f"\n== {self.step}. {title}", flush=True)

    def line(self, text: str, result: str = "") -> None:
        dots = "." * max(2, 58 - _width(text))
        print(f"   {text} {dots} {result}" if result else f"   {text}", flush=True)
        time.sleep(self.pace / 4)

    def fail(self, expected: str) -> None:
        """Something the story expects did not happen: said plainly, and the demo exits 1."""
        self.failures.append(expected)
        print(f"   ✗ DID NOT HAPPEN: {expected}", flush=True)


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _status(delivery: cb.Delivery) -> str:
    last = delivery.attempts[-1]
    return f"{last.status} in {last.elapsed_s * 1000:.0f} ms" if last.status else str(last.error)


async def _deliver_story(story: Story, sender: CallbackSender, corp: str, agent: int) -> cb.Delivery:
    """The callbacks of an ordinary morning; returns the first delivery, retried later."""
    msg_id = secrets.randbelow(10**15)
    text = cb.app_text_xml(corp_id=corp, agent_id=agent, from_user="zhangsan", content="收到", msg_id=msg_id)
    first = await sender.send_xml(text)
    story.line("张三 replies 收到 to the app (single chat)", _status(first))
    steps: list[tuple[str, str]] = [
        (
            "directory: 吴九 (wujiu) has left the company",
            cb.change_contact_xml(corp_id=corp, change_type=cb.ContactChange.DELETE_USER, userid="wujiu"),
        ),
        (
            "customer group: 陈先生 joined by QR code",
            cb.change_external_chat_xml(
                corp_id=corp,
                chat_id="wrOgQhDgAAcwMTB7YmDkbeBsgT_Kmz3Q",
                update_detail=cb.ExternalChatChange.ADD_MEMBER,
                members=["wmQ2vRDgAAhZk9wD2pT8xYFq1mGx_n4A"],
                join_scene=3,
            ),
        ),
        ("chat archive: new messages to pull", cb.msgaudit_notify_xml(corp_id=corp, agent_id=agent)),
        (
            "赵六 presses 收到 on a notice card",
            cb.template_card_event_xml(
                corp_id=corp,
                agent_id=agent,
                from_user="zhaoliu",
                event_key="ack",
                task_id=f"notice-{msg_id}",
                response_code=secrets.token_hex(8),
            ),
        ),
    ]
    for label, xml in steps:
        story.line(label, _status(await sender.send_xml(xml)))
    bot = await sender.send_aibot(
        cb.aibot_text_json(aibotid="aib-warden", chatid=SALES, from_user="zhouba", content="@warden 收到")
    )
    story.line("AI bot: 周八 writes “@warden 收到” in 销售部工作群", _status(bot))
    return first


async def _hostile(story: Story, url: str, target: CallbackTarget) -> None:
    crypto = target.app_crypto()
    now = str(int(time.time()))
    body, sig = crypto.envelope_xml(
        "<xml><MsgType>text</MsgType><MsgId>1</MsgId></xml>",
        timestamp=now,
        nonce="1",
        agent_id=str(target.agent_id),
    )
    stale = str(int(time.time()) - 3600)
    old_body, old_sig = crypto.envelope_xml(
        "<xml><MsgType>text</MsgType><MsgId>2</MsgId></xml>", timestamp=stale, nonce="1", agent_id="1"
    )
    attempts: list[tuple[str, dict[str, str], bytes]] = [
        ("a forged signature", {"msg_signature": "0" * 40, "timestamp": now, "nonce": "1"}, body),
        ("a replay from an hour ago", {"msg_signature": old_sig, "timestamp": stale, "nonce": "1"}, old_body),
        (
            "an XML entity bomb",
            {"msg_signature": sig, "timestamp": now, "nonce": "1"},
            b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml>&b;</xml>',
        ),
        (
            "a 100 KiB body",
            {"msg_signature": sig, "timestamp": now, "nonce": "1"},
            b"<xml>" + b"x" * 100_000 + b"</xml>",
        ),
    ]
    async with httpx.AsyncClient(trust_env=False) as http:
        for label, params, payload in attempts:
            r = await http.post(url, params=params, content=payload)
            story.line(f"someone sends {label}", f"{r.status_code} {r.text}")


def _wait_processed(admin: httpx.Client, expected: int, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        page: dict[str, Any] = admin.get("/api/v1/events", params={"limit": 20}).json()
        if page["counts"].get("processed", 0) >= expected or time.monotonic() > deadline:
            return page
        time.sleep(0.1)


async def _act(runtime: Runtime, run: str) -> dict[str, int]:
    """Plan what the policies will plan (A1 reminder, M5 removal, an advised-group attempt)."""
    ids: dict[str, int] = {}
    async with session_scope(runtime.sessions) as session:
        plans: list[tuple[str, ActionKind, dict[str, Any], str]] = [
            (
                "remind",
                ActionKind.SEND_PRIVATE_MESSAGE,
                {
                    "touser": ["lisi"],
                    "msgtype": "text",
                    "body": {"content": "【通知】明早9点销售例会，请回复“收到”。(A1)"},
                },
                "A1: notice not yet acknowledged after 30 min",
            ),
            (
                "remove",
                ActionKind.REMOVE_MEMBER,
                {"chatid": SALES, "userids": ["wujiu"]},
                "M5: 吴九 has left the company (change_contact delete_user)",
            ),
            (
                "advised",
                ActionKind.REMOVE_MEMBER,
                {"chatid": LUNCH, "userids": ["zhengshi"]},
                "M1: 郑十 never activated WeCom",
            ),
        ]
        for name, kind, params, reason in plans:
            planned = await runtime.planner.plan(
                session,
                kind=kind,
                params=params,
                reason=reason,
                idempotency_key=f"demo-{run}-{name}",
                requested_by="demo",
            )
            ids[name] = planned.id
    return ids


def _fresh_demo_database() -> str:
    """./wecom-warden-demo.db, emptied: each run starts from nothing and leaves nothing elsewhere."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(DEMO_DATABASE_FILE + suffix).unlink(missing_ok=True)
    return DEMO_DATABASE_URL


def _terminate_like_ctrl_c(signum: int, _frame: Any) -> None:
    """SIGTERM (docker stop, systemd, kill) ends the demo through the same path as Ctrl-C, so its
    printed admin token is revoked; a second SIGTERM during that clean-up is ignored."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def run_demo(*, keep_running: bool = False, database_url: str | None = None, pace: float = 0.4) -> int:
    story = Story(float(os.environ.get("WARDEN_DEMO_PACE", pace)))
    configure_logging("ERROR")  # the story is the output; the service logs only real errors
    # Not WARDEN_DATABASE_URL: that is the database `serve` uses, and demo rows do not belong there.
    url = check_database_url(database_url) if database_url else _fresh_demo_database()
    run = secrets.token_hex(3)
    sim_config = SimConfig(corp_id="wwdemo0000000001", agent_id=1000002)
    admin_token = "ww_demo_" + secrets.token_urlsafe(16)
    story.chapter("Setting up")
    run_migrations(url)
    story.line(f"database {mask_url(url)}", f"migrated to {head_revision()}")
    # A token of its own, revoked when the demo ends (it is printed, so it must not outlive it).
    token_name = f"demo {run}"
    asyncio.run(in_session(url, lambda s: repository.add_admin_token(s, name=token_name, token=admin_token)))
    previous = signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
    try:
        _play(story, url, run, sim_config, admin_token, keep_running=keep_running)
    finally:
        asyncio.run(in_session(url, lambda s: repository.revoke_admin_tokens(s, name=token_name)))
        signal.signal(signal.SIGTERM, previous)
    if story.failures:
        print(f"\nThe story did not go as expected ({len(story.failures)}):", flush=True)
        for expected in story.failures:
            print(f"  ✗ {expected}", flush=True)
        return 1
    return 0


def _play(
    story: Story, url: str, run: str, sim_config: SimConfig, admin_token: str, *, keep_running: bool
) -> None:
    with SimulatorServer(config=sim_config) as sim:
        org = sim.state.org
        story.line(f"WeCom simulator {sim.base_url}", f"{len(org.users)} people, {len(org.app_chats)} groups")
        settings = Settings(
            corp_id=sim_config.corp_id,
            agent_id=sim_config.agent_id,
            secret=sim_config.secret,
            token=generate_token(),
            aes_key=generate_aes_key(),
            database_url=url,
            wecom_base_url=sim.base_url,
            admin_token=None,
            robot_keys={c.chatid: c.robot_key for c in org.app_chats.values() if c.robot_key},
            # WARDEN_ARCHIVE_SOURCE=simulator: group messages come from the simulator's chat
            # archive; it starts empty, so reading it from the start misses nothing.
            archive_source="simulator",
            archive_start="earliest",
        )
        app = create_app(settings)
        with ThreadedServer(app) as server:
            story.line(f"wecom-warden {server.url}", "worker running, chat archive: simulator")
            target = CallbackTarget(
                url=f"{server.url}/wecom/callback",
                aibot_url=f"{server.url}/wecom/aibot",
                token=settings.token.get_secret_value(),
                encoding_aes_key=settings.aes_key.get_secret_value(),
                corp_id=settings.corp_id,
                agent_id=settings.agent_id,
            )
            sim.set_callback_target(target)  # where WeCom's archive notices go
            sender = CallbackSender(target)
            admin = httpx.Client(
                base_url=server.url, trust_env=False, headers={"Authorization": f"Bearer {admin_token}"}
            )
            before = admin.get("/api/v1/events", params={"limit": 1}).json()["counts"]

            story.chapter("IT saves the callback URL in the WeCom console; WeCom checks it")
            check = asyncio.run(sender.verify_url())
            story.line(
                "GET /wecom/callback with an encrypted echostr",
                f"{check.status} “{check.answer}”"
                if check.passed
                else f"FAILED {check.status} {check.error}",
            )

            story.chapter("Callbacks arrive: verified, decrypted, stored, answered 200 at once")
            first_delivery = asyncio.run(_deliver_story(story, sender, settings.corp_id, settings.agent_id))

            story.chapter("WeCom did not hear back in time and retries the same request")
            first = _wait_processed(admin, 0)
            stored_before = sum(first["counts"].values())
            with httpx.Client(trust_env=False) as http:
                for n in range(3):  # WeCom resends the identical request, up to 3 times
                    r = http.post(target.url, params=first_delivery.params, content=first_delivery.body)
                    story.line(f"retry {n + 1} of 张三's message", f"{r.status_code}")
            stored_after = sum(admin.get("/api/v1/events").json()["counts"].values())
            story.line(
                "events stored before / after the retries",
                f"{stored_before} / {stored_after} (de-duplicated)",
            )

            story.chapter("Someone tries to feed the service false callbacks")
            asyncio.run(_hostile(story, target.url, target))

            story.chapter("The worker turns each event into a record for the policies")
            page = _wait_processed(admin, sum(before.values()) + STORY_EVENTS)
            for item in reversed(page["items"][:STORY_EVENTS]):
                story.line(
                    f"#{item['id']} {item['source']}: {item['type']}",
                    f"{item['status']} → {item['record_kind']}",
                )

            story.chapter("The service acts, only through the executor (policies plan these later)")
            runtime: Runtime = app.state.runtime
            ids = asyncio.run(_act(runtime, run))
            actions = _wait_actions(admin, set(ids.values()))
            for name in ("remind", "remove", "advised"):
                a = actions[ids[name]]
                answer = f"errcode {a['wecom_errcode']}"
                if a["wecom_msgid"]:
                    answer += f", msgid {a['wecom_msgid'][:10]}…"
                story.line(f"{a['kind']} ({a['reason'][:22]}…)", f"{a['status']}, {answer}")
            chats = sim.state.snapshot()["app_chats"]
            story.line("销售部工作群 members now", ", ".join(chats[SALES]["members"]))
            if actions[ids["advised"]]["wecom_errcode"] == 86008:
                story.line(
                    "午饭搭子 (86008: not created by the app) members now", ", ".join(chats[LUNCH]["members"])
                )

            story.chapter("李四 replies 收到 to the reminder")
            _reply_and_recall(story, sender, admin, runtime, run, actions[ids["remind"]])

            story.chapter("What WeCom saw so far (the simulator's record of every call)")
            for call in sim.state.calls_snapshot():
                story.line(f"{call['method']} {call['path']}", f"errcode {call['errcode']}")

            play_content(story, admin, sim, settings.timezone)

            print(f"\nDone. The service kept a record of every act: {server.url}/docs")
            if keep_running:
                print(f"  database: {mask_url(url)} (the demo's own)")
                print(
                    f"  curl -H 'Authorization: Bearer {admin_token}' "
                    f"{server.url}/api/v1/actions\n"
                    "Both keep running; Ctrl-C to stop (the demo's admin token is revoked "
                    "then).",
                    flush=True,
                )
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
            admin.close()


def _reply_and_recall(
    story: Story,
    sender: CallbackSender,
    admin: httpx.Client,
    runtime: Runtime,
    run: str,
    reminder: dict[str, Any],
) -> None:
    """李四 really replies (a callback); the reminder is recalled only if that reply was stored and
    processed and the reminder was delivered."""
    target = sender.target
    msg_id = secrets.randbelow(10**15)
    reply = asyncio.run(
        sender.send_xml(
            cb.app_text_xml(
                corp_id=target.corp_id,
                agent_id=target.agent_id,
                from_user="lisi",
                content="收到",
                msg_id=msg_id,
            )
        )
    )
    story.line("李四 replies 收到 to the app (single chat)", _status(reply))
    event = _wait_event(admin, xml_dedupe_key({"MsgId": str(msg_id)}, ""))
    if event is None:
        story.line("the reply was not stored", "nothing to recall")
        return
    story.line(
        f"#{event['id']} {event['source']}: {event['type']}", f"{event['status']} → {event['record_kind']}"
    )
    if event["status"] != "processed" or not reminder["wecom_msgid"]:
        story.line(
            "the reminder is not recalled",
            "it was never delivered" if not reminder["wecom_msgid"] else f"the reply is {event['status']}",
        )
        return
    recall = asyncio.run(_recall(runtime, run, reminder["wecom_msgid"]))
    recalled = _wait_actions(admin, {recall})[recall]
    story.line(
        "recall_message (the reminder is no longer needed)",
        f"{recalled['status']}, errcode {recalled['wecom_errcode']}",
    )


def _wait_event(admin: httpx.Client, dedupe_key: str, timeout: float = 30.0) -> dict[str, Any] | None:
    """The stored event with this key once the worker is done with it (None if never stored)."""
    deadline = time.monotonic() + timeout
    while True:
        items = admin.get("/api/v1/events", params={"limit": 20}).json()["items"]
        event: dict[str, Any] | None = next((e for e in items if e["dedupe_key"] == dedupe_key), None)
        if (event and event["status"] != "received") or time.monotonic() > deadline:
            return event
        time.sleep(0.1)


async def _recall(runtime: Runtime, run: str, msgid: str) -> int:
    async with session_scope(runtime.sessions) as session:
        planned = await runtime.planner.plan(
            session,
            kind=ActionKind.RECALL_MESSAGE,
            params={"msgid": msgid},
            reason="A3: acknowledged, the reminder is no longer needed",
            idempotency_key=f"demo-{run}-recall",
            requested_by="demo",
        )
    return planned.id


def _wait_actions(admin: httpx.Client, ids: set[int], timeout: float = 30.0) -> dict[int, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        items = admin.get("/api/v1/actions", params={"limit": 50}).json()["items"]
        found = {a["id"]: a for a in items if a["id"] in ids}
        finished = all(a["status"] not in ("planned", "executing") for a in found.values())
        if (len(found) == len(ids) and finished) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)
