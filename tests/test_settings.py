"""Settings: generated secrets on SQLite, required ones elsewhere, one clear line on error."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app.settings import ConfigError, Environment, load_settings

GOOD_KEY = Fernet.generate_key().decode()
GOOD_SECRET = "s" * 48
PG = "postgresql://postgres@127.0.0.1/test"


def test_sqlite_generates_secrets_once_with_mode_600(clean_env, tmp_path: Path) -> None:
    first = load_settings(data_dir=tmp_path)
    secrets_file = tmp_path / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert len(first.secret_key) >= 32
    Fernet(first.encryption_keys[0].encode())  # a valid key
    second = load_settings(data_dir=tmp_path)
    assert (second.secret_key, second.encryption_keys) == (first.secret_key, first.encryption_keys)
    assert json.loads(secrets_file.read_text())["secret_key"] == first.secret_key


def test_default_database_is_sqlite_file_in_data_dir(clean_env, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.is_sqlite
    assert settings.database.drivername == "sqlite+aiosqlite"
    assert settings.database.database == (tmp_path / "almanac.db").as_posix()
    assert settings.media_path == tmp_path / "media"


def test_explicit_secrets_are_not_replaced(clean_env, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, secret_key=GOOD_SECRET, encryption_keys=[GOOD_KEY])
    assert settings.secret_key == GOOD_SECRET
    assert settings.encryption_keys == [GOOD_KEY]
    assert not (tmp_path / "secrets.json").exists()


def test_postgres_requires_secrets_and_never_generates(clean_env, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^ALMANAC_SECRET_KEY: is required with PostgreSQL"):
        load_settings(data_dir=tmp_path, database_url=PG)
    with pytest.raises(ConfigError, match="^ALMANAC_ENCRYPTION_KEYS"):
        load_settings(data_dir=tmp_path, database_url=PG, secret_key=GOOD_SECRET)
    assert not (tmp_path / "secrets.json").exists()
    ok = load_settings(
        data_dir=tmp_path, database_url=PG, secret_key=GOOD_SECRET, encryption_keys=[GOOD_KEY]
    )
    assert ok.database.drivername == "postgresql+asyncpg"


def test_placeholder_refused_outside_development(clean_env, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ALMANAC_SECRET_KEY: is a placeholder"):
        load_settings(data_dir=tmp_path, secret_key="change-me", encryption_keys=[GOOD_KEY])
    dev = load_settings(
        data_dir=tmp_path,
        env=Environment.development,
        secret_key="change-me",
        encryption_keys=[GOOD_KEY],
    )
    assert dev.secret_key == "change-me"


def test_encryption_keys_from_environment_list(clean_env, tmp_path: Path) -> None:
    old = Fernet.generate_key().decode()
    clean_env.setenv("ALMANAC_ENCRYPTION_KEYS", f"{GOOD_KEY}, {old}")
    clean_env.setenv("ALMANAC_SECRET_KEY", GOOD_SECRET)
    clean_env.setenv("ALMANAC_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.encryption_keys == [GOOD_KEY, old]


def test_bad_encryption_key_names_the_setting(clean_env, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^ALMANAC_ENCRYPTION_KEYS: key #2 is not a Fernet key"):
        load_settings(
            data_dir=tmp_path, secret_key=GOOD_SECRET, encryption_keys=[GOOD_KEY, "x" * 20]
        )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://root@localhost/db", "unsupported database 'mysql'"),
    ],
)
def test_bad_database_url(clean_env, tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^ALMANAC_DATABASE_URL: .*{message}"):
        load_settings(data_dir=tmp_path, database_url=url)


def test_unwritable_data_dir(clean_env, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="^ALMANAC_DATA_DIR: cannot create"):
        load_settings(data_dir=blocker / "data")


def test_invalid_values_give_one_line(clean_env, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^ALMANAC_LOG_LEVEL: must be one of"):
        load_settings(data_dir=tmp_path, log_level="loud")
    with pytest.raises(ConfigError, match="^ALMANAC_BASE_URL: must start with http"):
        load_settings(data_dir=tmp_path, base_url="almanac.example")
    with pytest.raises(ConfigError, match="^ALMANAC_PORT"):
        load_settings(data_dir=tmp_path, port=0)


def test_secure_cookies_follow_base_url(clean_env, tmp_path: Path) -> None:
    assert load_settings(data_dir=tmp_path, base_url="https://almanac.example/").secure_cookies
    assert not load_settings(data_dir=tmp_path).secure_cookies
