"""Settings from the environment: clear one-line errors naming the variable; secrets masked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import ConfigError, check_database_url, load_settings
from tests.conftest import ROOT, new_aes_key


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    base.update(
        {
            "WARDEN_CORP_ID": "wwcorp123",
            "WARDEN_AGENT_ID": "1000002",
            "WARDEN_SECRET": "s3cr3t-app-secret-value",
            "WARDEN_TOKEN": "tokenABC123",
            "WARDEN_AES_KEY": new_aes_key(),
            "WARDEN_ADMIN_TOKEN": "admin-token-0123456789",
        }
    )
    base.update(extra)
    return base


def run_cli(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestLoadSettings:
    def test_defaults(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for k, v in env().items():
            monkeypatch.setenv(k, v)
        s = load_settings()
        assert (s.replay_window_s, s.timezone, s.dry_run) == (300, "Asia/Shanghai", False)
        assert s.database_url.startswith("sqlite+aiosqlite://")
        assert s.wecom_base_url == "https://qyapi.weixin.qq.com"

    @pytest.mark.parametrize(
        ("var", "value", "message"),
        [
            ("WARDEN_AES_KEY", "tooshort", "WARDEN_AES_KEY must be 43 characters, got 8"),
            ("WARDEN_AES_KEY", "!" * 43, "WARDEN_AES_KEY must be base64"),
            ("WARDEN_TOKEN", "has spaces in it", "WARDEN_TOKEN must be 1-32 letters or digits"),
            ("WARDEN_AGENT_ID", "abc", "WARDEN_AGENT_ID"),
            ("WARDEN_TIMEZONE", "Mars/Olympus", "WARDEN_TIMEZONE is not a known IANA time zone"),
            ("WARDEN_REPLAY_WINDOW_S", "-5", "WARDEN_REPLAY_WINDOW_S"),
            ("WARDEN_DATABASE_URL", "mysql://x", "WARDEN_DATABASE_URL must be a postgresql:// "),
            ("WARDEN_DATABASE_URL", "sqlite://", "WARDEN_DATABASE_URL is an in-memory SQLite database"),
            ("WARDEN_LOG_LEVEL", "verbose", "WARDEN_LOG_LEVEL must be one of DEBUG, INFO, WARNING"),
            ("WARDEN_SECRET", "changeme", "WARDEN_SECRET is empty or a placeholder"),
            ("WARDEN_ADMIN_TOKEN", "short", "WARDEN_ADMIN_TOKEN must be at least 16 characters"),
            ("WARDEN_WECOM_BASE_URL", "ftp://x", "WARDEN_WECOM_BASE_URL"),
        ],
    )
    def test_malformed_value_names_the_variable(
        self, monkeypatch: pytest.MonkeyPatch, var: str, value: str, message: str
    ) -> None:
        for k, v in env(**{var: value}).items():
            monkeypatch.setenv(k, v)
        with pytest.raises(ConfigError) as err:
            load_settings()
        assert message in str(err.value)
        assert "\n" not in str(err.value)

    def test_missing_value_names_the_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for k, v in env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("WARDEN_TOKEN")
        with pytest.raises(ConfigError, match="WARDEN_TOKEN is not set"):
            load_settings()

    def test_replay_window_zero_is_allowed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for k, v in env(WARDEN_REPLAY_WINDOW_S="0").items():
            monkeypatch.setenv(k, v)
        assert load_settings().replay_window_s == 0


class TestDatabaseUrl:
    """What hosts hand out runs on the async drivers; in-memory SQLite is refused."""

    @pytest.mark.parametrize(
        ("given", "used"),
        [
            ("postgresql://warden:pw@db:5432/warden", "postgresql+asyncpg://warden:pw@db:5432/warden"),
            ("postgres://warden:pw@db/warden", "postgresql+asyncpg://warden:pw@db/warden"),
            ("POSTGRES://warden@db/warden", "postgresql+asyncpg://warden@db/warden"),
            ("postgres://u:pw@db/w?sslmode=require", "postgresql+asyncpg://u:pw@db/w?ssl=require"),
            ("postgresql+asyncpg://warden@db/warden", "postgresql+asyncpg://warden@db/warden"),
            ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
            ("sqlite:///./relative.db", "sqlite+aiosqlite:///./relative.db"),
            ("sqlite:////srv/data/abs.db", "sqlite+aiosqlite:////srv/data/abs.db"),
            ("sqlite+aiosqlite:///./wecom-warden.db", "sqlite+aiosqlite:///./wecom-warden.db"),
        ],
    )
    def test_mapped_to_the_async_driver(self, given: str, used: str) -> None:
        assert check_database_url(given) == used

    @pytest.mark.parametrize(
        "url",
        [
            "sqlite://",
            "sqlite:///",
            "sqlite:///:memory:",
            "sqlite+aiosqlite://",
            "sqlite+aiosqlite:///:memory:",
            "sqlite:///file:demo?mode=memory&cache=shared&uri=true",
            "sqlite:///file::memory:?uri=true",
        ],
    )
    def test_in_memory_sqlite_is_refused(self, url: str) -> None:
        with pytest.raises(ValueError, match=r"^is an in-memory SQLite database .*use a file"):
            check_database_url(url)

    @pytest.mark.parametrize("url", ["mysql://x/y", "postgresql+psycopg2://x/y", "wecom-warden.db", ""])
    def test_other_drivers_are_refused(self, url: str) -> None:
        with pytest.raises(ValueError, match="must be a postgresql://"):
            check_database_url(url)

    def test_settings_hold_the_mapped_url(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for k, v in env(WARDEN_DATABASE_URL="postgres://warden:pw@db/warden").items():
            monkeypatch.setenv(k, v)
        assert load_settings().database_url == "postgresql+asyncpg://warden:pw@db/warden"

    def test_log_level_is_normalised(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for k, v in env(WARDEN_LOG_LEVEL="debug").items():
            monkeypatch.setenv(k, v)
        assert load_settings().log_level == "DEBUG"


class TestCli:
    def test_check_config_masks_secrets(self) -> None:
        environ = env(
            WARDEN_DATABASE_URL="postgresql+asyncpg://warden:pgpass123@db:5432/warden",
            WARDEN_ROBOT_KEYS='{"wrChat1": "robot-key-abcdef"}',
        )
        r = run_cli("check-config", environ=environ)
        assert r.returncode == 0, r.stderr
        assert "WARDEN_CORP_ID" in r.stdout and "wwcorp123" in r.stdout
        assert "configuration OK" in r.stdout
        for secret in (
            "s3cr3t-app-secret-value",
            "tokenABC123",
            environ["WARDEN_AES_KEY"],
            "admin-token-0123456789",
            "pgpass123",
            "robot-key-abcdef",
        ):
            assert secret not in r.stdout + r.stderr
        assert "wrChat1=******" in r.stdout

    def test_startup_stops_with_one_clear_line(self) -> None:
        environ = env(WARDEN_AES_KEY="abc")
        r = run_cli("serve", environ=environ)
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1
        assert "WARDEN_AES_KEY must be 43 characters" in lines[0]
        assert "Traceback" not in r.stderr

    def test_an_unknown_log_level_stops_serve_with_one_clear_line(self) -> None:
        r = run_cli("serve", "--port", "0", environ=env(WARDEN_LOG_LEVEL="verbose"))
        assert (r.returncode, r.stderr.strip()) == (
            2,
            "wecom-warden: configuration error: WARDEN_LOG_LEVEL must be one of DEBUG, INFO, "
            "WARNING, ERROR, CRITICAL",
        )
        assert run_cli("check-config", environ=env(WARDEN_LOG_LEVEL="verbose")).returncode == 2

    def test_a_structured_value_that_is_not_json_is_one_line(self) -> None:
        r = run_cli("check-config", environ=env(WARDEN_ROBOT_KEYS="{wrChat1: robot-key-abc"))
        assert (r.returncode, r.stderr.strip()) == (
            2,
            "wecom-warden: configuration error: WARDEN_ROBOT_KEYS is not valid JSON",
        )
        assert "robot-key-abc" not in r.stdout + r.stderr

    def test_serve_refuses_an_unmigrated_database(self, tmp_path: Path) -> None:
        environ = env(WARDEN_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
        r = run_cli("serve", "--port", "0", environ=environ)
        assert r.returncode == 2
        assert "run `wecom-warden migrate` first" in r.stderr
        assert "Traceback" not in r.stderr
