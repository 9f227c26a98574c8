"""`POST /api/v1/policies/evaluate` and word lists end to end, through the simulator's chat archive
and a live service, on SQLite and PostgreSQL: evaluate reads a group's document, word lists and
the sender's real strikes and stores nothing; a word-list change is judged on the next message."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa

from app.content.evaluate import MAX_TEXT_CHARS
from app.db import make_engine
from tests.app.content import test_enforcement_e2e as enforcement
from tests.app.content.test_enforcement_e2e import AD, APP_CHAT, WORK, World, _daytime_ms
from tests.callbacks import wait_for
from tests.dbutil import fetch

world = enforcement.world  # the fixture: a live service beside the simulator, two groups


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _row_counts(url: str) -> dict[str, int]:
    """Every table's row count (admin tokens aside: a request touches its token's last use)."""

    async def run() -> dict[str, int]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
                return {
                    n: int((await conn.execute(sa.text(f'SELECT count(*) FROM "{n}"'))).scalar_one())
                    for n in sorted(names)
                }
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _flagged(world: World) -> list[tuple[str, str]]:
    rows = fetch(world.db, "SELECT member, rule_id FROM violation ORDER BY id")
    return [(r.member, r.rule_id) for r in rows]


class TestEvaluate:
    def test_without_a_chat_the_preset_and_a_first_offence(self, world: World) -> None:
        day = _iso(_daytime_ms())  # outside quiet hours (C7)
        r = world.api("POST", "/api/v1/policies/evaluate", {"text": AD, "sent_at": day})
        assert r.status_code == 200, r.text
        [d] = r.json()["decisions"]
        assert (d["policy"], d["rule_id"], d["verdict"], d["offence"]) == ("ad-keywords", "C1", "warn", 1)
        start, end = d["span"]
        assert AD[start:end] == d["matched"] and "薇" in d["matched"]
        [act] = r.json()["actions"]
        assert act["kind"] == "send_private_message" and act["target"] == "(sender)"
        assert "C1" in act["summary"] and "请自行撤回" in act["summary"]
        assert world.api("POST", "/api/v1/policies/evaluate", {"text": WORK, "sent_at": day}).json() == {
            "decisions": [],
            "actions": [],
        }

    def test_with_a_chat_the_senders_real_strikes_and_nothing_is_stored_or_acted(self, world: World) -> None:
        world.quiet_hours(APP_CHAT, None)
        at = _daytime_ms()
        world.archive({"from": "lisi", "roomid": APP_CHAT, "content": AD, "msgtime": at})
        wait_for(lambda: world.judged() == 1)
        world.settle()
        before, sent = _row_counts(world.db), world.sent()

        body = {"text": AD, "chat_id": APP_CHAT, "sender": "lisi", "sent_at": _iso(at + 120_000)}
        r = world.api("POST", "/api/v1/policies/evaluate", body)
        assert r.status_code == 200, r.text
        [d] = r.json()["decisions"]
        assert (d["rule_id"], d["verdict"], d["offence"]) == ("C1", "remove", 2)
        acts = [(a["kind"], a["target"]) for a in r.json()["actions"]]
        assert acts == [
            ("remove_member", "lisi"),
            ("send_group_message", APP_CHAT),
            ("send_private_message", "lisi"),
        ]
        assert "申诉" in r.json()["actions"][2]["summary"]
        # Another member, no strikes: a first offence, a warning.
        r = world.api("POST", "/api/v1/policies/evaluate", {**body, "sender": "zhouba"})
        assert [(d["verdict"], d["offence"]) for d in r.json()["decisions"]] == [("warn", 1)]
        # The group's owner is exempt: found, never sanctioned.
        r = world.api("POST", "/api/v1/policies/evaluate", {**body, "sender": "zhangsan"})
        assert [d["exempt"] for d in r.json()["decisions"]] == [True] and r.json()["actions"] == []

        world.settle()
        assert _row_counts(world.db) == before
        assert world.sent() == sent and "lisi" in world.members(APP_CHAT)

    def test_the_groups_document_is_read(self, world: World) -> None:
        r = world.api("PUT", f"/api/v1/groups/{APP_CHAT}/policy", {"document": {"C6": {"max_chars": 10}}})
        assert r.status_code == 200, r.text
        body = {"text": WORK, "sent_at": _iso(_daytime_ms())}
        assert world.api("POST", "/api/v1/policies/evaluate", body).json()["decisions"] == []
        r = world.api("POST", "/api/v1/policies/evaluate", {**body, "chat_id": APP_CHAT})
        assert [(d["rule_id"], d["verdict"]) for d in r.json()["decisions"]] == [("C6", "remind")]

    def test_an_unknown_chat_is_404_and_a_long_text_422(self, world: World) -> None:
        r = world.api("POST", "/api/v1/policies/evaluate", {"text": AD, "chat_id": "wrnobody"})
        assert r.status_code == 404 and "wrnobody" in r.json()["detail"]
        r = world.api("POST", "/api/v1/policies/evaluate", {"text": "长" * (MAX_TEXT_CHARS + 1)})
        assert r.status_code == 422 and "text" in str(r.json()["detail"])


class TestWordListsTakeEffect:
    def test_a_word_added_then_swapped_is_judged_on_the_next_message(self, world: World) -> None:
        at = _daytime_ms()
        r = world.api("POST", "/api/v1/wordlists/C1", {"words": ["蓝莓果园"], "scope": APP_CHAT})
        assert r.status_code == 200, r.text
        evaluated = world.api(
            "POST",
            "/api/v1/policies/evaluate",
            {"text": "周末去蓝莓果园摘果", "chat_id": APP_CHAT, "sent_at": _iso(at)},
        ).json()
        assert [d["matched"] for d in evaluated["decisions"]] == ["蓝莓果园"]

        world.archive({"from": "zhouba", "roomid": APP_CHAT, "content": "周末去蓝莓果园摘果", "msgtime": at})
        wait_for(lambda: world.judged() == 1)
        assert _flagged(world) == [("zhouba", "C1")]

        # Drop the word and add another: on SQLite the new row takes the dropped row's id.
        dropped = world.api("DELETE", "/api/v1/wordlists/C1", {"words": ["蓝莓果园"], "scope": APP_CHAT})
        assert dropped.json()["words"] == []
        world.api("POST", "/api/v1/wordlists/C1", {"words": ["草莓果园"], "scope": APP_CHAT})
        world.archive(
            {"from": "sunqi", "roomid": APP_CHAT, "content": "周末去蓝莓果园摘果", "msgtime": at + 1000},
            {"from": "wujiu", "roomid": APP_CHAT, "content": "周末去草莓果园摘果", "msgtime": at + 2000},
        )
        wait_for(lambda: world.judged() == 3)
        assert _flagged(world) == [("zhouba", "C1"), ("wujiu", "C1")]

    def test_a_global_word_removed_for_one_group_stays_quiet_there(self, world: World) -> None:
        at = _daytime_ms()
        world.api("POST", "/api/v1/wordlists/C1", {"words": ["蓝莓果园"]})
        world.archive({"from": "zhouba", "roomid": APP_CHAT, "content": "周末去蓝莓果园摘果", "msgtime": at})
        wait_for(lambda: world.judged() == 1)
        r = world.api("DELETE", "/api/v1/wordlists/C1", {"words": ["蓝莓果园"], "scope": APP_CHAT})
        assert r.json()["removed"] == ["蓝莓果园"]
        world.archive(
            {"from": "sunqi", "roomid": APP_CHAT, "content": "周末去蓝莓果园玩", "msgtime": at + 1000}
        )
        wait_for(lambda: world.judged() == 2)
        assert _flagged(world) == [("zhouba", "C1")]
