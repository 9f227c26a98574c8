"""The commands a person runs: migrate, create-token, demo (subprocesses, real SQLite file)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from app.db import head_revision
from app.devtools.serverthread import ThreadedServer
from app.main import create_app
from tests.conftest import ROOT, make_settings
from tests.dbutil import fetch

CUSTOMER_CHAT = "wrOgQhDgAAcwMTB7YmDkbeBsgT_Kmz3Q"


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment `serve` and `worker` need, with generated secrets, and nothing of the
    caller's WARDEN_* variables."""
    settings = make_settings(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update(
        {
            "WARDEN_DATABASE_URL": database_url,
            "WARDEN_CORP_ID": settings.corp_id,
            "WARDEN_AGENT_ID": "1000002",
            "WARDEN_SECRET": "a-real-looking-secret",
            "WARDEN_TOKEN": settings.token.get_secret_value(),
            "WARDEN_AES_KEY": settings.aes_key.get_secret_value(),
            **extra,
        }
    )
    return env


def run(*args: str, db: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update({"WARDEN_DATABASE_URL": db, **extra})
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def console_script(
    *args: str, cwd: Path, timeout: float = 120, **extra: str
) -> subprocess.CompletedProcess[str]:
    """The installed `wecom-warden`, as a person runs it, in `cwd`."""
    script = Path(sys.executable).parent / "wecom-warden"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update(extra)
    return subprocess.run(
        [str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


class TestMigrateAndTokens:
    def test_migrate_then_create_token_that_works(self, tmp_path: Path) -> None:
        db = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
        migrated = run("migrate", db=db)
        assert migrated.returncode == 0, migrated.stderr
        assert f"is at revision {head_revision()}" in migrated.stdout
        assert run("migrate", db=db).returncode == 0  # idempotent
        made = run("create-token", "--name", "alice", db=db)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip().splitlines()[-1]
        assert token.startswith("ww_") and len(token) > 30
        assert fetch(db, "SELECT name FROM admin_token")[0][0] == "alice"
        assert token not in str(fetch(db, "SELECT * FROM admin_token"))
        settings = make_settings(db, admin_token=None)
        with ThreadedServer(create_app(settings, run_worker=False)) as server:
            ok = httpx.get(f"{server.url}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
            bad = httpx.get(f"{server.url}/api/v1/jobs", headers={"Authorization": f"Bearer {token}x"})
        assert (ok.status_code, bad.status_code) == (200, 401)

    def test_console_script_migrates_from_any_directory(self, tmp_path: Path) -> None:
        """As in the Docker image: the installed `wecom-warden`, run outside the checkout."""
        script = Path(sys.executable).parent / "wecom-warden"
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
        env["WARDEN_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'anywhere.db'}"
        r = subprocess.run(
            [str(script), "migrate"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert r.returncode == 0, r.stderr
        assert f"is at revision {head_revision()}" in r.stdout

    def test_revoke_token_by_name(self, tmp_path: Path) -> None:
        db = f"sqlite+aiosqlite:///{tmp_path / 'revoke.db'}"
        assert run("migrate", db=db).returncode == 0
        alice = run("create-token", "--name", "alice", db=db).stdout.strip().splitlines()[-1]
        bob = run("create-token", "--name", "bob", db=db).stdout.strip().splitlines()[-1]
        revoked = run("revoke-token", "alice", db=db)
        assert (revoked.returncode, revoked.stdout.strip()) == (0, "revoked 1 admin token(s) named 'alice'")
        assert run("revoke-token", "alice", db=db).returncode == 1  # nothing left to revoke
        with ThreadedServer(create_app(make_settings(db, admin_token=None), run_worker=False)) as server:
            codes = [
                httpx.get(f"{server.url}/api/v1/jobs", headers={"Authorization": f"Bearer {t}"}).status_code
                for t in (alice, bob)
            ]
        assert codes == [401, 200]

    def test_migrate_names_a_bad_database_url(self) -> None:
        r = run("migrate", db="mysql://warden@db/warden")
        assert r.returncode == 2
        assert r.stderr.strip() == (
            "wecom-warden: configuration error: WARDEN_DATABASE_URL must be a postgresql:// (or "
            "postgres://, postgresql+asyncpg://) or sqlite:///path (or sqlite+aiosqlite:///path) URL"
        )

    def test_migrate_refuses_in_memory_sqlite(self) -> None:
        r = run("migrate", db="sqlite:///:memory:")
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
        assert "WARDEN_DATABASE_URL is an in-memory SQLite database" in r.stderr

    def test_migrate_takes_the_url_a_host_hands_out(self, tmp_path: Path, pg_url: str) -> None:
        """`postgresql://` / `sqlite:///relative.db` as given, through the installed command."""
        plain_pg = pg_url.replace("postgresql+asyncpg://", "postgres://", 1)
        for url in (plain_pg, "sqlite:///relative.db"):
            r = console_script("migrate", cwd=tmp_path, WARDEN_DATABASE_URL=url)
            assert r.returncode == 0, r.stderr
            assert f"is at revision {head_revision()}" in r.stdout
        assert (
            fetch(
                f"sqlite+aiosqlite:///{tmp_path / 'relative.db'}", "SELECT version_num FROM alembic_version"
            )[0][0]
            == head_revision()
        )
        assert fetch(pg_url, "SELECT version_num FROM alembic_version")[0][0] == head_revision()

    def test_migrate_against_unreachable_postgres_is_one_line(self, tmp_path: Path) -> None:
        with socket.socket() as s:  # a port nothing listens on: bound, never listening
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            r = console_script(
                "migrate", cwd=tmp_path, WARDEN_DATABASE_URL=f"postgresql://warden:pw@127.0.0.1:{port}/warden"
            )
        assert r.returncode == 2
        assert "Traceback" not in r.stderr
        (line,) = r.stderr.strip().splitlines()
        assert line.startswith("wecom-warden: database unreachable: ConnectionRefusedError")

    def test_create_token_refuses_an_unmigrated_database(self, tmp_path: Path) -> None:
        r = run("create-token", db=f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")
        assert r.returncode == 2 and "wecom-warden migrate" in r.stderr


class TestDemo:
    def test_the_story_plays_to_the_end(self, tmp_path: Path) -> None:
        db = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
        started = time.monotonic()
        r = run("demo", "--database-url", db, db=db, timeout=180, WARDEN_DEMO_PACE="0")
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout
        assert "6 / 6 (de-duplicated)" in out
        assert "403 bad signature" in out and "413 body too large" in out
        assert out.count("processed →") == 7  # the morning's six, then 李四's reply
        assert "failed, errcode 86008" in out  # the group the app did not create
        assert "recall_message" in out and "done, errcode 0" in out
        assert time.monotonic() - started < 120
        kinds = {r[0] for r in fetch(db, "SELECT kind FROM action")}
        assert kinds == {"send_private_message", "remove_member", "recall_message", "send_group_message"}
        assert "DID NOT HAPPEN" not in out
        ((name, revoked),) = (
            tuple(r) for r in fetch(db, "SELECT name, revoked_at IS NOT NULL FROM admin_token")
        )
        assert name.startswith("demo ") and revoked  # its printed token does not outlive it

    def test_the_story_tells_only_what_happened(self, tmp_path: Path) -> None:
        """Each action line is a row with that status and errcode; 李四's 收到 is a stored event;
        the recall targets the reminder WeCom really delivered."""
        db = f"sqlite+aiosqlite:///{tmp_path / 'told.db'}"
        r = run("demo", "--database-url", db, db=db, timeout=180, WARDEN_DEMO_PACE="0")
        assert r.returncode == 0, r.stdout + r.stderr
        chapters = {c.split("\n", 1)[0]: c for c in r.stdout.split("\n== ")[1:]}
        acting = next(c for t, c in chapters.items() if "The service acts" in t)
        reply = next(c for t, c in chapters.items() if "李四 replies 收到" in t)
        actions: list[tuple[Any, ...]] = [
            tuple(a)
            for a in fetch(
                db, "SELECT id, kind, status, wecom_errcode, wecom_msgid, params FROM action ORDER BY id"
            )
        ]
        for _, kind, status, errcode, _, _ in actions[:3]:
            assert re.search(rf"{kind} \(.*\.\.\. {status}, errcode {errcode}\b", acting), kind
        assert "advise the owner" not in r.stdout
        assert ("86008: not created by the app" in acting) == any(a[3] == 86008 for a in actions)
        ((event_id, status, kind),) = (
            tuple(e)
            for e in fetch(
                db,
                "SELECT id, status, record_kind FROM inbound_event "
                "WHERE from_user = 'lisi' AND source = 'app'",
            )
        )
        assert re.search(r"李四 replies 收到 to the app .* 200 in \d+ ms", reply)
        assert f"#{event_id} app: text" in reply and f"{status} → {kind}" in reply
        reminder = next(a for a in actions if a[1] == "send_private_message")
        recall = next(a for a in actions if a[1] == "recall_message")
        assert recall[0] > reminder[0] and json.loads(recall[5]) == {"msgid": reminder[4]}
        assert re.search(rf"recall_message .* {recall[2]}, errcode {recall[3]}\b", reply)

    def test_the_content_chapters_report_what_the_service_decided_and_did(self, tmp_path: Path) -> None:
        """Members write only through the simulator's archive; every decision the story reports is
        a violation row, every quoted line is from a message the service really sent, 李四 is
        removed from the enforced group and nobody from the customer group."""
        db = f"sqlite+aiosqlite:///{tmp_path / 'content.db'}"
        r = run("demo", "--database-url", db, db=db, timeout=180, WARDEN_DEMO_PACE="0")
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout
        assert "DID NOT HAPPEN" not in out
        customer = "wmQ2vRDgAAhZk9wD2pT8xYFq1mGx_n4A"
        violations = [
            tuple(v)
            for v in fetch(
                db, "SELECT id, member, rule_id, verdict, matched, status FROM violation ORDER BY id"
            )
        ]
        assert [v[1:4] for v in violations] == [
            ("lisi", "C1", "warn"),
            ("lisi", "C1", "remove"),
            (customer, "C1", "warn"),
            (customer, "C1", "advise"),
            ("zhouba", "C1", "warn"),
            ("sunqi", "C7", "remind"),
        ]
        for vid, _, rule, verdict, _, _ in violations:
            assert f"violation #{vid}: {rule} {verdict} " in out
        assert violations[3][5] == "open" and "陈先生 still in 华东客户服务群; status of the violation" in out
        matched = violations[4][4]
        assert "加 薇 信" in matched and re.search(rf"^ +matched \.+ {re.escape(matched)}$", out, flags=re.M)
        # Only archived messages and their notices reached the service for these chapters.
        archived = fetch(db, "SELECT from_user, chat_id FROM inbound_event WHERE source = 'archive'")
        assert sorted(tuple(a) for a in archived) == sorted(
            [("lisi", "wrsales2024")] * 2
            + [(customer, CUSTOMER_CHAT)] * 2
            + [("zhouba", "wrsales2024"), ("sunqi", "wrsales2024")]
        )
        actions = [tuple(a) for a in fetch(db, "SELECT kind, status, params FROM action ORDER BY id")]
        sent = "\n".join(json.loads(p)["body"]["content"] for k, _, p in actions if k.startswith("send_"))
        quoted = re.findall(r"^ +│ (.*)$", out, flags=re.M)
        assert len(quoted) >= 8 and all(line in sent.splitlines() for line in quoted)
        assert any("C1" in q and "销售部工作群" in q for q in quoted)  # the warning's rule id line
        assert any("申诉" in q for q in quoted) and any("C7" in q for q in quoted)
        removals = [json.loads(p) for k, s, p in actions if k == "remove_member" and s == "done"]
        assert {"chatid": "wrsales2024", "userids": ["lisi"]} in removals
        assert not [p for k, _, p in actions if k == "remove_member" and CUSTOMER_CHAT in p]
        assert re.search(r"销售部工作群 members now \(WeCom\) \.+ zhangsan, zhouba, sunqi$", out, flags=re.M)
        assert re.search(r"孙七's strikes \(GET /api/v1/strikes\) \.+ 0$", out, flags=re.M)
        summary = out.split("What the service recorded (GET /api/v1/violations)")[1]
        assert [int(n) for n in re.findall(r"^ +#(\d+) ", summary, flags=re.M)] == [v[0] for v in violations]

    def test_what_did_not_happen_is_said_and_fails_the_demo(self, tmp_path: Path) -> None:
        """Members write everyday talk instead of the ad: the service rightly decides nothing, and
        the demo says the warning and the removal did not happen and exits 1 (never pretends)."""
        db = f"sqlite+aiosqlite:///{tmp_path / 'unexpected.db'}"
        script = (
            "import sys\n"
            "from app.devtools import demo_content\n"
            "demo_content.AD = demo_content.WORK\n"
            "from app.devtools.demo import run_demo\n"
            "sys.exit(run_demo(database_url=sys.argv[1]))\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
        env["WARDEN_DEMO_PACE"] = "0"
        r = subprocess.run(
            [sys.executable, "-c", script, db],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert r.returncode == 1, r.stdout + r.stderr
        assert "✗ DID NOT HAPPEN: a decision on 李四's message: judged, and no violation recorded" in r.stdout
        assert "The story did not go as expected (4):" in r.stdout
        assert "violation #" in r.stdout  # the evasion and the quiet hour still played, and were told
        assert not fetch(db, "SELECT id FROM violation WHERE member = 'lisi'")

    def test_its_own_database_recreated_on_each_run(self, tmp_path: Path) -> None:
        """Not the database `serve` uses (WARDEN_DATABASE_URL or ./wecom-warden.db): a file of its
        own, which a second run starts afresh."""
        serving = tmp_path / "serving.db"
        for _ in range(2):
            r = console_script(
                "demo",
                cwd=tmp_path,
                timeout=180,
                WARDEN_DEMO_PACE="0",
                WARDEN_DATABASE_URL=f"sqlite:///{serving}",
            )
            assert r.returncode == 0, r.stdout + r.stderr
            assert "database sqlite+aiosqlite:///./wecom-warden-demo.db" in r.stdout
            assert "6 / 6 (de-duplicated)" in r.stdout
        assert not serving.exists() and not (tmp_path / "wecom-warden.db").exists()
        demo_db = f"sqlite+aiosqlite:///{tmp_path / 'wecom-warden-demo.db'}"
        assert len(fetch(demo_db, "SELECT id FROM admin_token")) == 1
        # The morning's seven callbacks, then six archive notices and the six messages they announced.
        assert len(fetch(demo_db, "SELECT id FROM inbound_event")) == 7 + 6 + 6

    def test_sigterm_revokes_its_token_as_ctrl_c_does(self, tmp_path: Path) -> None:
        db = f"sqlite+aiosqlite:///{tmp_path / 'kept.db'}"
        script = Path(sys.executable).parent / "wecom-warden"
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
        env["WARDEN_DEMO_PACE"] = "0"
        proc = subprocess.Popen(
            [str(script), "demo", "--keep-running", "--database-url", db],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if "Ctrl-C to stop" in line:
                    break
            out = "".join(lines)
            assert "Ctrl-C to stop" in out, out
            assert f"database: {db} (the demo's own)" in out  # where it keeps running
            token = re.search(r"Bearer (ww_demo_\S+)'", out)
            assert token is not None
            assert fetch(db, "SELECT revoked_at FROM admin_token") == [(None,)]
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        ((revoked,),) = (tuple(r) for r in fetch(db, "SELECT revoked_at IS NOT NULL FROM admin_token"))
        assert revoked


class TestWorkerCommand:
    def test_worker_process_processes_events_and_stops_on_sigterm(self, sqlite_url: str) -> None:
        import asyncio
        import signal

        from app.db import make_engine
        from app.inbox import InboxWriter
        from tests.callbacks import text_event

        async def store() -> None:
            engine = make_engine(sqlite_url)
            inbox = InboxWriter(engine, job_max_attempts=3)
            inbox.start()
            await asyncio.gather(*(inbox.put(text_event(n)) for n in (11, 12)))
            await inbox.stop()
            await engine.dispose()

        asyncio.run(store())
        env = service_env(sqlite_url)
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            deadline = time.monotonic() + 30
            while (
                fetch(sqlite_url, "SELECT count(*) FROM inbound_event WHERE status = 'processed'")[0][0] < 2
            ):
                assert time.monotonic() < deadline and proc.poll() is None, "not processed"
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr
        assert "worker.started" in stderr and "worker.stopped" in stderr

    def test_serve_says_where_it_listens_and_stops_on_sigint(self, sqlite_url: str) -> None:
        import signal

        from app.devtools.serverthread import free_port

        port = free_port()
        env = service_env(sqlite_url, WARDEN_DRY_RUN="1")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-worker",
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert time.monotonic() < deadline and proc.poll() is None, "did not start"
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=30)
        # uvicorn re-raises the signal once it has shut down: 130 is how Ctrl-C ends a program.
        assert proc.returncode in (0, 130), stderr
        assert "service.stopped" in stderr and "Traceback" not in stderr
        assert (
            f"serving on http://127.0.0.1:{port} (callbacks /wecom/callback, admin API /api/v1, "
            "docs /docs; worker off, dry-run on)"
        ) in stderr
