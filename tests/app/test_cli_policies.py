"""`wecom-warden policies evaluate`: the installed console script in a subprocess, on a real
SQLite file (the group and its words set up through a live server's API)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.devtools.serverthread import ThreadedServer
from app.main import create_app
from tests.conftest import make_settings
from tests.dbutil import count

GROUP = "wrpeople01"
DAY = "2026-12-07T10:00:00+08:00"  # a Monday morning: outside quiet hours
AD = "加 薇 信 ab12345 领取优惠"


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def _rules(result: dict[str, Any]) -> list[str]:
    return [d["rule_id"] for d in result["decisions"]]


def evaluate(*args: str, cwd: Path, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed `wecom-warden policies evaluate`, as a person runs it, in `cwd`."""
    script = Path(sys.executable).parent / "wecom-warden"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    return subprocess.run(
        [str(script), "policies", "evaluate", *args],
        cwd=cwd,
        env={**clean, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def db(sqlite_url: str) -> str:
    """A group with a word of its own, a global word, and the owner zhaoliu (exempt)."""
    settings = make_settings(sqlite_url)
    auth = {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}  # type: ignore[union-attr]
    with ThreadedServer(create_app(settings, run_worker=False)) as server:
        api = server.url + "/api/v1"
        group = {"chat_id": GROUP, "kind": "internal", "owner": "zhaoliu"}
        r = httpx.post(f"{api}/groups", json=group, headers=auth)
        assert r.status_code == 201, r.text
        r = httpx.post(f"{api}/wordlists/C1", json={"words": ["蓝莓果园"], "scope": GROUP}, headers=auth)
        assert r.status_code == 200, r.text
        r = httpx.post(f"{api}/wordlists/C10", json={"words": ["躺赚项目"]}, headers=auth)
        assert r.status_code == 200, r.text
    return sqlite_url


class TestWithoutAGroup:
    def test_one_json_line_per_line_bad_lines_answered_never_a_crash(self, tmp_path: Path) -> None:
        source = tmp_path / "messages.txt"
        lines = [
            AD.encode(),
            "明天上午9点开周会".encode(),
            json.dumps({"text": "你这个傻逼", "sender": "lisi"}, ensure_ascii=False).encode(),
            b'{"text": unquoted}',
            b'{"txt": "x"}',
            b"\xff\xfe broken",
            ("长" * 10_001).encode(),
            b"",
            json.dumps({"text": "hi", "sent_at": "2026-12-07T23:30:00+08:00"}).encode(),
        ]
        source.write_bytes(b"\n".join(lines) + b"\n")
        r = evaluate(str(source), "--sent-at", DAY, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        out = _lines(r.stdout)
        assert [o["line"] for o in out] == list(range(1, 10))
        assert _rules(out[0]) == ["C1"] and out[0]["decisions"][0]["verdict"] == "warn"
        start, end = out[0]["decisions"][0]["span"]
        assert AD[start:end] == out[0]["decisions"][0]["matched"]
        assert out[0]["actions"][0]["kind"] == "send_private_message"
        assert out[1] == {"line": 2, "decisions": [], "actions": []}
        assert _rules(out[2]) == ["C5"] and out[2]["actions"][0]["target"] == "lisi"
        assert out[3]["error"].startswith("not JSON")
        assert "text" in out[4]["error"]
        assert out[5]["error"].startswith("not UTF-8")
        assert out[6]["error"].startswith("text:")
        assert out[7] == {"line": 8, "decisions": [], "actions": []}
        assert _rules(out[8]) == ["C7"]  # its own sent_at: in quiet hours
        assert "the bundled words only" in r.stderr
        assert r.stderr.strip().splitlines()[-1] == (
            "wecom-warden: 9 lines, 3 flagged (C1 1, C5 1, C7 1), 4 errors"
        )

    def test_stdin_and_progress(self, tmp_path: Path) -> None:
        stdin = f"{AD}\nok\n好的\n收到\n"
        r = evaluate("-", "--sent-at", DAY, "--progress-every", "2", cwd=tmp_path, stdin=stdin)
        assert r.returncode == 0, r.stderr
        assert len(_lines(r.stdout)) == 4
        assert "2 lines, 1 flagged, 0 errors…" in r.stderr and "4 lines, 1 flagged, 0 errors…" in r.stderr
        assert r.stderr.strip().endswith("4 lines, 1 flagged (C1 1), 0 errors")

    def test_an_unreadable_file_is_exit_2(self, tmp_path: Path) -> None:
        r = evaluate(str(tmp_path / "missing.txt"), cwd=tmp_path)
        assert r.returncode == 2 and "cannot read" in r.stderr and r.stdout == ""

    def test_global_words_come_from_the_database_when_it_is_named(self, tmp_path: Path, db: str) -> None:
        source = tmp_path / "m.txt"
        source.write_text("躺赚项目了解一下\n周末去蓝莓果园\n", "utf-8")
        out = _lines(evaluate(str(source), "--sent-at", DAY, cwd=tmp_path, WARDEN_DATABASE_URL=db).stdout)
        assert [_rules(o) for o in out] == [["C10"], []]  # the group's own word is not global
        bundled = _lines(evaluate(str(source), "--sent-at", DAY, cwd=tmp_path).stdout)
        assert [_rules(o) for o in bundled] == [[], []]


class TestInAGroup:
    def test_the_groups_words_and_mode_read_only(self, tmp_path: Path, db: str) -> None:
        source = tmp_path / "m.txt"
        source.write_text(
            "周末去蓝莓果园\n"
            + json.dumps({"text": "周末去蓝莓果园", "sender": "zhaoliu"}, ensure_ascii=False)
            + "\n躺赚项目了解一下\n",
            "utf-8",
        )
        tables = {t: count(db, t) for t in ("judged_message", "violation", "strike", "action", "word_entry")}
        r = evaluate(str(source), "--chat-id", GROUP, "--sent-at", DAY, cwd=tmp_path, WARDEN_DATABASE_URL=db)
        assert r.returncode == 0, r.stderr
        first, owner, global_word = _lines(r.stdout)
        assert _rules(first) == ["C1"] and first["decisions"][0]["matched"] == "蓝莓果园"
        # An advised group (internal): the first offence warns the sender privately.
        assert [(a["kind"], a["target"]) for a in first["actions"]] == [("send_private_message", "(sender)")]
        assert owner["decisions"][0]["exempt"] is True and owner["actions"] == []
        assert _rules(global_word) == ["C10"]
        assert {t: count(db, t) for t in tables} == tables

    def test_an_unknown_group_is_exit_2(self, tmp_path: Path, db: str) -> None:
        source = tmp_path / "m.txt"
        source.write_text("hi\n", "utf-8")
        r = evaluate(str(source), "--chat-id", "wrnobody", cwd=tmp_path, WARDEN_DATABASE_URL=db)
        assert r.returncode == 2 and "wrnobody" in r.stderr and r.stdout == ""
