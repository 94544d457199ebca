"""One validated settings object, read from ``ALMANAC_*`` environment variables.

Secrets: ``ALMANAC_SECRET_KEY`` signs sessions and links; ``ALMANAC_ENCRYPTION_KEYS``
(comma-separated Fernet keys, the first one current) encrypts channel credentials.
On a SQLite install both are generated once into ``<data dir>/secrets.json``
(mode 600) when unset. With PostgreSQL they must be set: two processes on two
machines with two generated keys could not read each other's credentials.
"""

from __future__ import annotations

import json
import os
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from cryptography.fernet import Fernet
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

PLACEHOLDERS = {"", "change-me", "changeme", "secret", "placeholder", "xxx"}


class ConfigError(Exception):
    """A setting is wrong. The message is one line naming the setting."""


class Environment(StrEnum):
    development = "development"
    production = "production"
    test = "test"


class LogFormat(StrEnum):
    console = "console"
    json = "json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALMANAC_", extra="ignore")

    env: Environment = Environment.production
    data_dir: Path = Path("./data")
    database_url: str = ""
    secret_key: str = ""
    encryption_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    media_dir: Path | None = None
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_format: LogFormat = LogFormat.console
    log_level: str = "INFO"
    # Outgoing requests to private/loopback hosts (webhooks, Mastodon instances):
    # refused unless the operator allows them (tests, on-premise installs).
    allow_private_hosts: bool = False
    # GET /metrics (Prometheus): with a token, only ``Authorization: Bearer <token>``;
    # without one, only clients on this machine (loopback). Counts only, no names.
    metrics_token: str = ""
    # Each scheduler process's own metrics (claim batch size, adapter latency) on
    # 127.0.0.1:<port>; 0 = not served (several processes on one machine need one each).
    scheduler_metrics_port: int = Field(default=0, ge=0, le=65535)
    scheduler_stale_after_seconds: int = Field(default=60, ge=5)
    heartbeat_interval_seconds: int = Field(default=10, ge=1)
    # Publishing (scheduler/): deliveries sent at once by one scheduler process, and
    # per channel across all of them; how long a claim is held before the reaper may
    # take it back (renewed every third of it while a publish runs); retries.
    publish_workers: int = Field(default=50, ge=1, le=1000)
    publish_per_channel: int = Field(default=4, ge=1, le=100)
    publish_lease_seconds: int = Field(default=120, ge=3)
    publish_max_attempts: int = Field(default=6, ge=1, le=50)
    publish_backoff_seconds: float = Field(default=15.0, gt=0)
    # The longest dispatch sleeps on PostgreSQL, where NOTIFY wakes it (SQLite polls
    # every second).
    dispatch_idle_seconds: float = Field(default=30.0, gt=0)
    # OAuth 2.0 applications, for connecting accounts (authorization code + PKCE) and
    # renewing their tokens. A network's "connect" button works once its client id is
    # set; the endpoints are the networks' real ones unless overridden.
    x_client_id: str = ""
    x_client_secret: str = ""
    x_authorize_url: str = "https://x.com/i/oauth2/authorize"
    x_token_url: str = "https://api.x.com/2/oauth2/token"
    x_api_base: str = "https://api.x.com"
    x_scopes: str = "tweet.read tweet.write users.read media.write offline.access"
    linkedin_client_id: str = ""
    linkedin_client_secret: str = ""
    linkedin_authorize_url: str = "https://www.linkedin.com/oauth/v2/authorization"
    linkedin_token_url: str = "https://www.linkedin.com/oauth/v2/accessToken"
    linkedin_api_base: str = "https://api.linkedin.com"
    linkedin_scopes: str = "openid profile email w_member_social"
    # Meta (Facebook Login): one app connects Facebook Pages and the Instagram
    # professional accounts linked to them; Threads has an app id and secret of its own.
    meta_app_id: str = ""
    meta_app_secret: str = ""
    meta_dialog_url: str = "https://www.facebook.com/v25.0/dialog/oauth"
    meta_graph_base: str = "https://graph.facebook.com"
    meta_facebook_scopes: str = (
        "pages_show_list pages_manage_posts pages_read_engagement pages_read_user_engagement"
    )
    meta_instagram_scopes: str = (
        "instagram_basic instagram_content_publish pages_show_list pages_read_engagement"
    )
    threads_app_id: str = ""
    threads_app_secret: str = ""
    threads_authorize_url: str = "https://threads.net/oauth/authorize"
    threads_token_url: str = "https://graph.threads.net/oauth/access_token"
    threads_api_base: str = "https://graph.threads.net"
    threads_scopes: str = "threads_basic threads_content_publish threads_delete"
    # How long an authorization started in Almanac may take to come back.
    oauth_state_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    # How often the scheduler looks for tokens about to expire.
    token_refresh_interval_seconds: int = Field(default=120, ge=10)

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    # -- derived ---------------------------------------------------------

    @property
    def database(self) -> URL:
        return parse_database_url(self.database_url or self.default_database_url)

    @property
    def default_database_url(self) -> str:
        return f"sqlite+aiosqlite:///{(self.data_dir / 'almanac.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.database.get_backend_name() == "sqlite"

    @property
    def media_path(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


def parse_database_url(raw: str) -> URL:
    """Parse and normalise the database URL to an async driver."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            f"ALMANAC_DATABASE_URL: {raw!r} is not a database URL "
            "(expected sqlite:///path or postgresql://user@host/db)"
        ) from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return url.set(drivername="postgresql+asyncpg")
    raise ConfigError(
        f"ALMANAC_DATABASE_URL: unsupported database {backend!r} (use sqlite or postgresql)"
    )


def _ensure_writable_dir(path: Path, setting: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot create {path} ({exc.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{setting}: {path} is not writable")


def _load_or_create_secrets(path: Path) -> dict[str, Any]:
    """Read the generated secrets file, creating it atomically (O_EXCL) the first time,
    so two processes starting together agree on one set of keys."""
    if not path.exists():
        generated = {
            "secret_key": secrets.token_urlsafe(48),
            "encryption_keys": [Fernet.generate_key().decode()],
        }
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                json.dump(generated, handle)
            return generated
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"ALMANAC_DATA_DIR: cannot read generated secrets {path} ({exc})"
        ) from None


def _validate_fernet_keys(keys: list[str]) -> None:
    for index, key in enumerate(keys):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ConfigError(
                f"ALMANAC_ENCRYPTION_KEYS: key #{index + 1} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with `almanac keygen`)"
            ) from None


def resolve_secrets(settings: Settings) -> Settings:
    """Fill in generated secrets on SQLite, refuse missing or placeholder ones otherwise."""
    _ensure_writable_dir(settings.data_dir, "ALMANAC_DATA_DIR")
    if settings.is_sqlite and (not settings.secret_key or not settings.encryption_keys):
        stored = _load_or_create_secrets(settings.data_dir / "secrets.json")
        settings.secret_key = settings.secret_key or stored["secret_key"]
        settings.encryption_keys = settings.encryption_keys or list(stored["encryption_keys"])
    for name, values in (
        ("ALMANAC_SECRET_KEY", [settings.secret_key]),
        ("ALMANAC_ENCRYPTION_KEYS", settings.encryption_keys or [""]),
    ):
        if settings.env is not Environment.development and any(
            v.strip().lower() in PLACEHOLDERS for v in values
        ):
            what = "is required with PostgreSQL" if not any(values) else "is a placeholder"
            raise ConfigError(f"{name}: {what}; set a real secret")
    if (
        settings.secret_key
        and len(settings.secret_key) < 32
        and settings.env is Environment.production
    ):
        raise ConfigError("ALMANAC_SECRET_KEY: too short; use at least 32 random characters")
    _validate_fernet_keys(
        [k for k in settings.encryption_keys if k.strip().lower() not in PLACEHOLDERS]
    )
    return settings


def load_settings(**overrides: Any) -> Settings:
    """Build and validate the settings; raise ConfigError with one clear line."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "settings"
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"ALMANAC_{field.upper()}: {message}") from None
    settings.database  # noqa: B018 - validates the URL early
    return resolve_secrets(settings)


@lru_cache
def get_settings() -> Settings:
    return load_settings()
