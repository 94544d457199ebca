"""What every scheduler job runs with: one per process."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx

from app.crypto import CredentialBox
from app.db import Database
from app.models.base import utcnow
from app.networks import AdapterContext
from app.networks.base import Network, OAuthApp
from app.oauth.service import oauth_apps as configured_oauth_apps
from app.settings import Settings

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

DISPATCH_JOB = "dispatch"


def new_process_id() -> str:
    """``host:pid:random``: unique across machines and restarts; the lease owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class SchedulerRuntime:
    settings: Settings
    database: Database
    # The process's one long-lived client: publishing, notifications, token refresh,
    # metrics, the reaper (``scheduler.main.publishing_client``).
    http: httpx.AsyncClient
    process_id: str = field(default_factory=new_process_id)
    started_at: datetime = field(default_factory=utcnow)
    # Set by build_scheduler: the dispatch job is re-timed after each tick and woken.
    scheduler: AsyncIOScheduler | None = None
    # The publishing workers of this process: one asyncio task per delivery, which
    # holds its sending slot until its outcome is committed.
    workers: set[asyncio.Task[Any]] = field(default_factory=set)
    dispatching: bool = False
    # A wake re-timed the dispatch job to now and its tick has not started yet.
    wake_pending: bool = False
    rerun_dispatch: bool = False
    # SQLite: the older scheduler this one defers to (it then publishes nothing).
    refused_because: str | None = None
    peer_checked_at: datetime | None = None
    # When the lateness rule's marking last ran (``dispatch.mark_missed_if_due``).
    missed_marked_at: datetime | None = None
    # The adapters' context, made once (see :attr:`adapter_context`).
    _context: AdapterContext | None = field(default=None, repr=False)
    # Set by scheduler.publisher on first use: the batch writer of published outcomes.
    outcomes: Any = None
    # Set by scheduler.leases on first use: the renewal of this process's leases.
    leases: Any = None

    @cached_property
    def credential_box(self) -> CredentialBox:
        """Opens and seals channel credentials with the configured keys (made once)."""
        return CredentialBox(self.settings.encryption_keys)

    @cached_property
    def oauth_apps(self) -> Mapping[Network, OAuthApp]:
        """The configured OAuth applications, read from the settings once."""
        return configured_oauth_apps(self.settings)

    @property
    def free_slots(self) -> int:
        return self.settings.publish_workers - len(self.workers)

    @property
    def claims_with_outcomes(self) -> bool:
        """Whether the transaction of published outcomes claims the next deliveries for
        the slots it frees: while dispatch runs (started, not stopping, not refused as
        a second scheduler on SQLite)."""
        return (
            self.scheduler is not None and self.scheduler.running and self.refused_because is None
        )

    @property
    def adapter_context(self) -> AdapterContext:
        """Adapters on this process's client, with the configured OAuth applications
        (made once, not per delivery)."""
        made = self._context
        if made is None or made.http is not self.http:
            made = self._context = AdapterContext(
                http=self.http,
                sessions=self.database.write_session,
                base_url=self.settings.base_url,
                oauth_apps=self.oauth_apps,
            )
        return made

    @property
    def claim_threshold(self) -> int:
        """Free slots worth a claim of their own while workers are busy: a tenth of the
        slots (at least one). Each claim is a write transaction; waking dispatch for
        every finished worker made claims of one or two deliveries under a burst."""
        return max(1, self.settings.publish_workers // 10)

    def schedule_dispatch(self, at: datetime) -> None:
        if self.scheduler is None or self.scheduler.get_job(DISPATCH_JOB) is None:
            return
        self.scheduler.modify_job(DISPATCH_JOB, next_run_time=at)

    def wake(self, *, again: bool = False) -> None:
        """Dispatch at once (or once more, if a tick is running now). Wakes before the
        tick starts coalesce into one re-timing of the job; ``again``: the last one was
        lost (APScheduler skipped it), re-time the job whatever was asked before."""
        if self.dispatching:
            self.rerun_dispatch = True
        elif again or not self.wake_pending:
            self.wake_pending = True
            self.schedule_dispatch(utcnow())

    def slot_freed(self) -> None:
        """A worker finished: dispatch when enough slots are free to make a claim worth
        it, or when this process has nothing left in flight."""
        if not self.workers or self.free_slots >= self.claim_threshold:
            self.wake()

    def due_by(self, at: datetime) -> None:
        """Something becomes due at ``at`` (a retry, a rate limit's reset): make sure
        dispatch runs by then. A tick running now goes round once more and finds it
        (the caller committed it before calling)."""
        if self.dispatching:
            self.rerun_dispatch = True
            return
        if self.scheduler is None:
            return
        job = self.scheduler.get_job(DISPATCH_JOB)
        if job is not None and (job.next_run_time is None or job.next_run_time > at):
            self.scheduler.modify_job(DISPATCH_JOB, next_run_time=at)
