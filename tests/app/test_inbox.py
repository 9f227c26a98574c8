"""The inbox's group commit on a real database: a row the database refuses fails only its own
request, never its batch-mates; an old-format dedupe key still catches a WeCom retry."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import make_engine
from app.inbox import InboxRecord, InboxWriter
from app.models import EventSource
from app.wecom.crypto import parse_xml, xml_fields
from tests.dbutil import _fetch


async def fetch(url: str, sql: str) -> list[Any]:
    return await _fetch(url, sql, {})


def record(n: int, *, chat_id: str = "wrA") -> InboxRecord:
    return InboxRecord(
        dedupe_key=f"aibot:m-{n}",
        source=EventSource.AIBOT,
        msg_type="text",
        chat_id=chat_id,
        payload=f'{{"msgid": "m-{n}"}}',
    )


async def put_all(db_url: str, records: list[InboxRecord]) -> list[Any]:
    """Put all records before the writer runs: they form one group commit."""
    engine = make_engine(db_url)
    inbox = InboxWriter(engine, job_max_attempts=3)
    inbox.start()
    try:
        return await asyncio.gather(*(inbox.put(r) for r in records), return_exceptions=True)
    finally:
        await inbox.stop()
        await engine.dispose()


@pytest.mark.parametrize("poison", ["\ud800", "a\udfffb"])
async def test_a_row_the_database_refuses_fails_only_itself(db_url: str, poison: str) -> None:
    await _one_bad_row(db_url, poison)


async def test_a_nul_postgresql_refuses_fails_only_its_row(pg_url: str) -> None:
    await _one_bad_row(pg_url, "nul\x00")  # SQLite stores NUL in text


async def _one_bad_row(db_url: str, poison: str) -> None:
    records = [record(n) for n in range(10)]
    records.insert(4, record(99, chat_id=poison))  # bypasses the decoder's repair
    results = await put_all(db_url, records)
    assert isinstance(results[4], Exception)
    assert results[:4] + results[5:] == [True] * 10
    stored = await fetch(db_url, "SELECT dedupe_key FROM inbound_event ORDER BY id")
    assert sorted(r.dedupe_key for r in stored) == sorted(f"aibot:m-{n}" for n in range(10))
    assert (await fetch(db_url, "SELECT count(*) FROM job"))[0][0] >= 1


async def test_a_database_failure_is_not_retried_record_by_record(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = sqlite_url.split("///", 1)[1]
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE inbound_event RENAME TO inbound_event_away")
    with caplog.at_level("INFO", logger="warden"):
        results = await put_all(sqlite_url, [record(n) for n in range(5)])
    assert all(isinstance(r, sa.exc.OperationalError) for r in results)
    assert "inbox.commit_failed" in caplog.text and "inbox.record_failed" not in caplog.text


LEAVE = (
    "<xml><ToUserName>wwcorp</ToUserName><FromUserName>sys</FromUserName>"
    "<CreateTime>1763712000</CreateTime><MsgType>event</MsgType><Event>change_contact</Event>"
    "<ChangeType>delete_user</ChangeType><UserID>wujiu</UserID></xml>"
)


async def test_a_retry_of_an_event_stored_under_its_old_format_key_is_not_stored_again(db_url: str) -> None:
    old_key = "evt:sys|1763712000|change_contact|delete_user|||wujiu||"  # what 0.1 stored
    first = await put_all(
        db_url, [InboxRecord(dedupe_key=old_key, source=EventSource.APP, msg_type="event", payload=LEAVE)]
    )
    assert first == [True]
    retry = InboxRecord.from_xml_fields(xml_fields(parse_xml(LEAVE)), LEAVE)
    assert retry.dedupe_key != old_key and retry.legacy_key == old_key
    neighbour = record(1)
    assert await put_all(db_url, [retry, neighbour]) == [False, True]
    assert (await fetch(db_url, "SELECT count(*) FROM inbound_event"))[0][0] == 2
    # Two different events sharing an old-format key, both arriving after the upgrade: two events
    # (their old-format key is in no row), and each one's retry is still found.
    mobile, department = (
        LEAVE.replace("wujiu", "zhangsan")
        .replace("delete_user", "update_user")
        .replace("</xml>", f"{change}</xml>")
        for change in ("<Mobile>13800000000</Mobile>", "<Department>2</Department>")
    )
    pair = [InboxRecord.from_xml_fields(xml_fields(parse_xml(p)), p) for p in (mobile, department)]
    assert pair[0].legacy_key == pair[1].legacy_key
    assert await put_all(db_url, pair) == [True, True]
    assert await put_all(db_url, pair) == [False, False]
    assert (await fetch(db_url, "SELECT count(*) FROM inbound_event"))[0][0] == 4
