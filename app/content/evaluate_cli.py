"""`wecom-warden policies evaluate [--chat-id ID] FILE|-`: admins test their word lists on their own
messages. One JSON line out per line in (a plain text line, or a JSON object `{"text": …}` with
optional `sender`, `sent_at`, `msg_type`), the decisions and actions of
`POST /api/v1/policies/evaluate`; a line that cannot be judged gives `{"line": n, "error": …}`.

`--sent-at` dates the lines that give no `sent_at` (default: now, so quiet hours depend on the hour).
Progress goes to stderr every `--progress-every` lines or once a second, and a summary at the end
(lines, flagged per rule id, errors). Exit 0 unless the input cannot be read (or, with --chat-id,
the group or the database cannot be found: 2).

Without --chat-id: the `work-group` preset and a first offence, with the global word lists of
WARDEN_DATABASE_URL when that variable is set, the bundled words otherwise. With --chat-id: the
group's document, word lists and mode and each sender's strikes, from WARDEN_DATABASE_URL (read
only: nothing is stored or acted).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.content.evaluate import EvaluateIn, Evaluator
from app.content.service import load_group_by_chat
from app.settings import DEFAULT_DATABASE_URL, ConfigError, check_database_url

LINE_FIELDS = frozenset({"text", "sender", "sent_at", "msg_type"})


def _say(message: str) -> None:
    print(f"wecom-warden: {message}", file=sys.stderr, flush=True)


def _timezone() -> ZoneInfo:
    name = os.environ.get("WARDEN_TIMEZONE", "Asia/Shanghai")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"configuration error: WARDEN_TIMEZONE {name!r} is not a known time zone") from None


def _database_url(chat_id: str | None) -> str | None:
    url = os.environ.get("WARDEN_DATABASE_URL")
    if url is None and chat_id is None:
        return None  # the bundled words alone
    try:
        return check_database_url(url or DEFAULT_DATABASE_URL)
    except ValueError as exc:
        raise ConfigError(f"configuration error: WARDEN_DATABASE_URL {exc}") from None


def _body(raw: bytes, chat_id: str | None, first: bool, sent_at: str | None = None) -> EvaluateIn:
    """One input line → the evaluate request (ValueError names what is wrong with it)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 (byte {exc.start})") from None
    text = text.rstrip("\r\n")
    if first:
        text = text.removeprefix("\ufeff")
    fields: dict[str, Any] = {"text": text}
    if text.lstrip().startswith("{"):
        try:
            found = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(found, dict) or "text" not in found:
            raise ValueError('a JSON line must be an object with "text"')
        unknown = sorted(set(found) - LINE_FIELDS)
        if unknown:
            raise ValueError(f"unknown field {', '.join(unknown)} (known: {', '.join(sorted(LINE_FIELDS))})")
        fields = found
    if sent_at is not None:
        fields = {"sent_at": sent_at, **fields}
    try:
        return EvaluateIn.model_validate({**fields, "chat_id": chat_id})
    except ValidationError as exc:
        first_error = exc.errors()[0]
        where = ".".join(str(p) for p in first_error["loc"])
        raise ValueError(f"{where}: {first_error['msg']}") from None


class Progress:
    """Every `every` lines or once a second on stderr; the summary at the end."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.lines = 0
        self.flagged = 0
        self.errors = 0
        self.rules: Counter[str] = Counter()
        self._last = time.monotonic()

    def count(self, result: dict[str, Any]) -> None:
        self.lines += 1
        if "error" in result:
            self.errors += 1
        elif result["decisions"]:
            self.flagged += 1
            self.rules.update({d["rule_id"] for d in result["decisions"]})
        now = time.monotonic()
        if self.lines % self.every == 0 or now - self._last >= 1.0:
            self._last = now
            _say(f"{self.lines} lines, {self.flagged} flagged, {self.errors} errors…")

    def summary(self) -> str:
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(self.rules.items(), key=lambda kv: -kv[1]))
        flagged = f"{self.flagged} flagged" + (f" ({rules})" if rules else "")
        return f"{self.lines} lines, {flagged}, {self.errors} errors"


@asynccontextmanager
async def _sessions(url: str | None) -> AsyncIterator[async_sessionmaker[AsyncSession] | None]:
    if url is None:
        yield None
        return
    from app.db import check_migrated, make_engine, make_sessionmaker

    engine = make_engine(url)
    try:
        await check_migrated(engine)
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _evaluate(
    lines: Iterable[bytes], out: IO[str], args: argparse.Namespace, progress: Progress
) -> int:
    chat_id: str | None = args.chat_id
    if args.sent_at is not None:
        try:
            datetime.fromisoformat(args.sent_at)
        except ValueError:
            raise ConfigError(f"--sent-at {args.sent_at!r} is not an ISO 8601 time") from None
    evaluator = Evaluator(_timezone(), lambda: datetime.now(UTC))
    async with _sessions(_database_url(chat_id)) as sessions:
        if chat_id is not None:
            assert sessions is not None
            async with sessions() as session:
                if await load_group_by_chat(session, chat_id) is None:
                    _say(f"no registered group with chat_id {chat_id!r} in the database")
                    return 2
        _say(
            f"evaluating {'in group ' + chat_id if chat_id else 'under the work-group preset'}, "
            f"{'word lists from the database' if sessions else 'the bundled words only'}"
        )
        for n, raw in enumerate(lines, 1):
            result: dict[str, Any]
            try:
                body = _body(raw, chat_id, n == 1, args.sent_at)
                if sessions is None:
                    answer = await evaluator.evaluate(None, body)
                else:
                    async with sessions() as session:  # read only: never committed
                        answer = await evaluator.evaluate(session, body)
                result = {"line": n, **answer.model_dump()}
            except ValueError as exc:
                result = {"line": n, "error": str(exc)}
            except Exception as exc:  # noqa: BLE001 (one line's failure is that line's answer, never a crash)
                result = {"line": n, "error": f"{type(exc).__name__}: {exc}"[:500]}
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
            progress.count(result)
    out.flush()
    return 0


def run_policies_evaluate(args: argparse.Namespace) -> int:
    import asyncio

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")  # JSON lines in UTF-8 whatever the locale

    try:
        stream = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as exc:
        _say(f"cannot read {args.file}: {exc.strerror or exc}")
        return 2
    progress = Progress(max(1, args.progress_every))
    try:
        with stream:
            code = asyncio.run(_evaluate(stream, sys.stdout, args, progress))
    except BrokenPipeError:
        return 0  # the reader stopped (| head)
    except OSError as exc:
        _say(f"reading {args.file} failed after line {progress.lines}: {exc.strerror or exc}")
        return 2
    if code == 0:
        _say(progress.summary())
    return code
