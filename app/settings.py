"""All configuration, from the environment (prefix WARDEN_). One Settings class, secrets as SecretStr."""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from app.wecom.crypto import decode_aes_key

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./wecom-warden.db"
DEFAULT_WECOM_BASE_URL = "https://qyapi.weixin.qq.com"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Values people paste from examples; refused so a copied config never goes live (secrets only).
PLACEHOLDERS = {"changeme", "change-me", "xxxxxxx", "secret", "your-secret", "todo"}


class ConfigError(Exception):
    """One clear line naming the variable that is missing or malformed."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARDEN_", extra="ignore", frozen=True)

    corp_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    agent_id: Annotated[int, Field(ge=0)]
    secret: SecretStr
    contacts_secret: SecretStr | None = None
    token: Annotated[SecretStr, Field(description="callback Token, ≤32 letters/digits")]
    aes_key: Annotated[SecretStr, Field(description="EncodingAESKey, 43 characters")]
    # The AI bot has its own Token/EncodingAESKey in the console; default to the app's.
    aibot_token: SecretStr | None = None
    aibot_aes_key: SecretStr | None = None
    database_url: str = DEFAULT_DATABASE_URL
    wecom_base_url: Annotated[str, Field(pattern=r"^https?://")] = DEFAULT_WECOM_BASE_URL
    admin_token: SecretStr | None = None
    # Group robot webhook keys by chat id (JSON object); the group registry will hold these later.
    robot_keys: dict[str, SecretStr] = Field(default_factory=dict)
    dry_run: bool = False
    timezone: str = "Asia/Shanghai"
    replay_window_s: Annotated[int, Field(ge=0)] = 300
    max_body_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024
    # The HTTP server's own limits (app.httpserver): a request head's size, the time a client
    # has to send one whole request, and the open connections (keep below `ulimit -n`).
    max_header_bytes: Annotated[int, Field(ge=4096, le=1024 * 1024)] = 64 * 1024
    request_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    max_connections: Annotated[int, Field(ge=8, le=100_000)] = 512
    run_worker: bool = True  # `serve` runs the job worker in-process unless 0
    worker_concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    job_lease_s: Annotated[int, Field(ge=5)] = 60
    job_max_attempts: Annotated[int, Field(ge=1, le=50)] = 8
    log_level: str = "INFO"
    # The chat archive (会话内容存档, app.archive): where its messages come from (API.md).
    archive_source: Literal["off", "sdk", "bridge", "simulator"] = "off"
    archive_secret: SecretStr | None = None  # sdk: the 会话内容存档 secret
    archive_private_keys: SecretStr | None = None  # sdk: a file path or JSON {publickey_ver: PEM}
    archive_bridge_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    archive_bridge_token: SecretStr | None = None
    archive_poll_s: Annotated[int, Field(ge=1, le=86_400)] = 60  # pulls even when a notice was lost
    # First start only (no cursor yet): "latest" skips what the archive already holds, "earliest"
    # takes all of it (WeCom keeps ~5 days), a number begins after that seq.
    archive_start: Annotated[str, Field(pattern=r"^(latest|earliest|[0-9]{1,19})$")] = "latest"

    @field_validator("token", "aibot_token")
    @classmethod
    def _token_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            raw = v.get_secret_value()
            if not (1 <= len(raw) <= 32 and raw.isascii() and raw.isalnum()):
                raise ValueError("must be 1-32 letters or digits")
        return v

    @field_validator("aes_key", "aibot_aes_key")
    @classmethod
    def _aes_key_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            decode_aes_key(v.get_secret_value())
        return v

    @field_validator("secret", "contacts_secret", "admin_token", "archive_secret", "archive_bridge_token")
    @classmethod
    def _not_placeholder(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            raw = v.get_secret_value()
            if not raw or raw.lower() in PLACEHOLDERS:
                raise ValueError("is empty or a placeholder")
        return v

    @field_validator("admin_token")
    @classmethod
    def _admin_token_length(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("is not a known IANA time zone") from exc
        return v

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, v: str) -> str:
        level = v.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError("must be one of " + ", ".join(LOG_LEVELS))
        return level

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, v: str) -> str:
        return check_database_url(v)

    @model_validator(mode="after")
    def _archive_combination(self) -> Settings:
        """The archive source's own settings are all there (one clear line when not)."""
        needs = {
            "sdk": ("archive_secret", "archive_private_keys"),
            "bridge": ("archive_bridge_url", "archive_bridge_token"),
        }.get(self.archive_source, ())
        missing = [f"WARDEN_{n.upper()}" for n in needs if getattr(self, n) is None]
        if missing:
            raise ValueError(f"WARDEN_ARCHIVE_SOURCE={self.archive_source} needs {' and '.join(missing)}")
        if self.archive_source == "sdk" and self.archive_private_keys is not None:
            from app.wecom.archive import load_private_keys  # cryptography, only when configured

            load_private_keys(self.archive_private_keys.get_secret_value())
        if self.archive_source == "simulator" and self.wecom_base_url == DEFAULT_WECOM_BASE_URL:
            raise ValueError(
                "WARDEN_ARCHIVE_SOURCE=simulator reads the simulator's archive, but WARDEN_WECOM_BASE_URL "
                "is WeCom itself: use sdk or bridge"
            )
        return self

    def describe(self) -> dict[str, str]:
        """Every setting as text for `check-config`, secrets masked."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value: Any = getattr(self, name)
            if isinstance(value, dict):
                text = ", ".join(f"{k}={mask(v.get_secret_value())}" for k, v in value.items())
                text = text or "(none)"
            elif isinstance(value, SecretStr):
                text = mask(value.get_secret_value())
            elif value is None:
                text = "(not set)"
            elif name == "database_url":
                text = mask_url(value)
            else:
                text = str(value)
            out[f"WARDEN_{name.upper()}"] = text
        return out


# What hosts and tutorials hand out, mapped to the async drivers the service runs on.
_ASYNC_SCHEMES = {
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "sqlite": "sqlite+aiosqlite",
}


def check_database_url(url: str) -> str:
    """The URL on its async driver (`postgres://` and `postgresql://` to asyncpg, `sqlite://` to
    aiosqlite), else ValueError saying what is accepted. In-memory SQLite is refused: every
    connection of the pool would see its own empty database."""
    scheme, sep, rest = url.strip().partition("://")
    driver = _ASYNC_SCHEMES.get(scheme.lower()) if sep else None
    if driver is None:
        raise ValueError(
            "must be a postgresql:// (or postgres://, postgresql+asyncpg://) or "
            "sqlite:///path (or sqlite+aiosqlite:///path) URL"
        )
    if driver == "sqlite+aiosqlite":
        path, _, query = rest.partition("?")
        path = path.removeprefix("/")
        query_args = {p.strip().lower() for p in query.split("&")}
        if path in ("", ":memory:") or path.startswith("file::memory:") or "mode=memory" in query_args:
            raise ValueError(
                "is an in-memory SQLite database (each connection would see an empty "
                "one): use a file, e.g. sqlite:///./wecom-warden.db"
            )
    elif "?" in rest:  # libpq's sslmode=require (in most hosted URLs) is asyncpg's ssl=require
        head, _, query = rest.partition("?")
        rest = (
            head
            + "?"
            + "&".join(
                "ssl=" + p[len("sslmode=") :] if p.lower().startswith("sslmode=") else p
                for p in query.split("&")
            )
        )
    return f"{driver}://{rest}"


def mask(secret: str) -> str:
    """Show only that a secret is set and its length."""
    return f"****** ({len(secret)} chars)" if secret else "(empty)"


def mask_url(url: str) -> str:
    """Hide the password in a database URL."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:******@{host}"


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning a validation failure into one ConfigError line per problem."""
    try:
        return Settings(**overrides)
    except SettingsError as exc:  # a structured value (WARDEN_ROBOT_KEYS) that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"WARDEN_{field.group(1).upper()}" if field else "a WARDEN_* variable"
        raise ConfigError(f"configuration error: {name} is not valid JSON") from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if not err["loc"]:  # a rule across several variables names them itself
                problems.append(str(err["msg"]).removeprefix("Value error, "))
                continue
            name = f"WARDEN_{str(err['loc'][0]).upper()}" if err["loc"] else "WARDEN_*"
            if err["type"] == "missing":
                problems.append(f"{name} is not set")
            else:
                msg = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"{name} {msg}")
        raise ConfigError("configuration error: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
