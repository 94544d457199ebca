"""A real Matrix homeserver (Synapse) for the Matrix adapter's tests.

``make test-tools`` (tests/tools/install-synapse.sh) installs Synapse into its own
virtualenv under ``${ALMANAC_TEST_CACHE:-~/.cache/almanac-test}/synapse``. Each
pytest process (each xdist worker) that runs these tests starts its own Synapse once,
on a free port of 127.0.0.1, with its own SQLite database in a temporary folder:
no shared state, no lock, and nothing left behind. Federation is off (no federation
listener, an empty federation whitelist, no key servers).

When the install is missing, a CI run (``CI`` set) fails naming ``make test-tools``;
a local run skips these tests with a banner.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CACHE = Path(os.environ.get("ALMANAC_TEST_CACHE") or Path.home() / ".cache" / "almanac-test")
SYNAPSE_PYTHON = CACHE / "synapse" / "bin" / "python"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}  # as tests/conftest.py
SERVER_NAME = "almanac.test"
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Synapse:
    url: str
    user_id: str
    access_token: str
    room_id: str
    startup_seconds: float

    def credentials(self) -> dict[str, str]:
        return {
            "homeserver_url": self.url,
            "access_token": self.access_token,
            "room_id": self.room_id,
        }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _signing_key() -> str:
    # signedjson's file format: "<alg> <version> <unpadded base64 of the 32-byte seed>".
    seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"ed25519 a_test {seed}\n"


def _write_config(folder: Path, port: int, shared_secret: str) -> Path:
    (folder / "signing.key").write_text(_signing_key())
    (folder / "log.yaml").write_text(
        "version: 1\n"
        "formatters:\n  plain:\n    format: '%(asctime)s %(name)s %(levelname)s %(message)s'\n"
        "handlers:\n  file:\n    class: logging.FileHandler\n"
        f"    filename: {folder / 'homeserver.log'}\n    formatter: plain\n"
        "root:\n  level: WARNING\n  handlers: [file]\n"
        "disable_existing_loggers: false\n"
    )
    config = folder / "homeserver.yaml"
    generous = "{per_second: 1000, burst_count: 1000}"
    config.write_text(
        f"""\
server_name: {SERVER_NAME}
pid_file: {folder / "homeserver.pid"}
public_baseurl: http://127.0.0.1:{port}/
listeners:
  - port: {port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: {folder / "homeserver.db"}
log_config: {folder / "log.yaml"}
media_store_path: {folder / "media"}
signing_key_path: {folder / "signing.key"}
registration_shared_secret: "{shared_secret}"
macaroon_secret_key: "{secrets.token_hex(16)}"
form_secret: "{secrets.token_hex(16)}"
report_stats: false
enable_metrics: false
url_preview_enabled: false
enable_registration: false
federation_domain_whitelist: []
trusted_key_servers: []
suppress_key_server_warning: true
presence:
  enabled: false
rc_message: {generous}
rc_login:
  address: {generous}
  account: {generous}
  failed_attempts: {generous}
rc_registration: {generous}
rc_admin_redaction: {generous}
"""
    )
    return config


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise RuntimeError(f"Synapse exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{url}/_matrix/client/versions", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"Synapse did not answer within {START_TIMEOUT:.0f} s")


def _register(url: str, shared_secret: str, username: str, password: str) -> None:
    """The admin registration API: HMAC-SHA1 over nonce, user, password, admin flag."""
    nonce = httpx.get(f"{url}/_synapse/admin/v1/register", timeout=10).json()["nonce"]
    mac = hmac.new(shared_secret.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce.encode(), username.encode(), password.encode(), b"notadmin"]))
    response = httpx.post(
        f"{url}/_synapse/admin/v1/register",
        json={
            "nonce": nonce,
            "username": username,
            "password": password,
            "admin": False,
            "mac": mac.hexdigest(),
        },
        timeout=30,
    )
    response.raise_for_status()


def _login(url: str, username: str, password: str) -> tuple[str, str]:
    response = httpx.post(
        f"{url}/_matrix/client/v3/login",
        json={
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": username},
            "password": password,
            "initial_device_display_name": "Almanac tests",
        },
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    return body["user_id"], body["access_token"]


def _create_room(url: str, token: str) -> str:
    response = httpx.post(
        f"{url}/_matrix/client/v3/createRoom",
        headers={"Authorization": f"Bearer {token}"},
        json={"preset": "private_chat", "name": "Almanac contract room"},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["room_id"])


def _missing_install() -> None:
    message = (
        f"Synapse is not installed at {SYNAPSE_PYTHON.parent.parent}: run `make test-tools` "
        "(tests/tools/install-synapse.sh)"
    )
    if IN_CI:
        pytest.fail(message, pytrace=False)
    banner = "!" * 78
    print(f"\n{banner}\n!!  {message}\n!!  The real-Synapse tests are SKIPPED.\n{banner}")
    pytest.skip(message)


def _shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder the workers of this run share (xdist names the run), else our own."""
    base = tmp_path_factory.getbasetemp()
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    folder = base.parent / f"synapse-{run}" if run else base / "synapse-shared"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with (folder / "lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_matrix/client/versions", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _start(folder: Path) -> tuple[subprocess.Popen[bytes], Any, Synapse]:
    port = _free_port()
    shared_secret = secrets.token_hex(16)
    config = _write_config(folder, port, shared_secret)
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    output = (folder / "stdout.log").open("wb")
    process = subprocess.Popen(
        [str(SYNAPSE_PYTHON), "-m", "synapse.app.homeserver", "--config-path", str(config)],
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_up(url, process, folder / "homeserver.log")
        startup = time.monotonic() - started
        password = secrets.token_urlsafe(16)
        _register(url, shared_secret, "almanac", password)
        user_id, token = _login(url, "almanac", password)
        room_id = _create_room(url, token)
    except BaseException:
        _stop(process, output)
        raise
    return process, output, Synapse(url, user_id, token, room_id, startup_seconds=startup)


def _stop(process: subprocess.Popen[bytes], output: Any) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    output.close()


def _read_state(state: Path) -> dict[str, Any]:
    return dict(json.loads(state.read_text())) if state.exists() else {}


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    if not SYNAPSE_PYTHON.exists():
        _missing_install()
    folder = _shared_folder(tmp_path_factory)
    state_file = folder / "state.json"
    owned: tuple[subprocess.Popen[bytes], Any] | None = None
    with _locked(folder):
        state = _read_state(state_file)
        if state and _answers(state["server"]["url"]):
            state["users"] += 1
            server = Synapse(**state["server"])
        else:
            process, output, server = _start(folder)
            owned = (process, output)
            state = {"server": server.__dict__, "users": 1}
        state_file.write_text(json.dumps(state))
    try:
        yield server
    finally:
        with _locked(folder):
            state = _read_state(state_file)
            state["users"] -= 1
            state_file.write_text(json.dumps(state))
        if owned is not None:
            # Other workers may still be using it: wait for them (bounded), then stop.
            deadline = time.monotonic() + 1800
            while time.monotonic() < deadline:
                with _locked(folder):
                    if _read_state(state_file)["users"] <= 0:
                        state_file.unlink()
                        break
                time.sleep(0.5)
            _stop(*owned)
