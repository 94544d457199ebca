"""What every scheduler job runs with: one per process."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field

import httpx

from app.db import Database
from app.settings import Settings


def new_process_id() -> str:
    """``host:pid:random``: unique across machines and restarts; the lease owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class SchedulerRuntime:
    settings: Settings
    database: Database
    http: httpx.AsyncClient
    process_id: str = field(default_factory=new_process_id)
