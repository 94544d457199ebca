"""The notification job: send the webhook outbox.

Every few seconds the job claims due ``webhook_delivery`` rows in one short
transaction (PostgreSQL ``FOR UPDATE SKIP LOCKED``, so several scheduler
processes share the outbox without sending a row twice at once; SQLite runs one
scheduler), marking them ``sending`` with a lease: ``next_attempt_at`` becomes
the lease's end, so a row whose process died is simply due again later. It then
POSTs them concurrently (at most :data:`CONCURRENCY` at a time, at most
:data:`PER_ENDPOINT` per endpoint per round, a short timeout), so one slow
endpoint does not hold back the others.

A 2xx answer is ``delivered``. Anything else (status, timeout, connection
error) is recorded on the row (status code, error, duration; never the secret)
and retried with exponential backoff and jitter, up to :data:`MAX_ATTEMPTS`
attempts over about a day, then ``failed``. A destination the outbound guard
refuses (a private address the operator did not allow) fails at once.

Delivery is at least once: receivers de-duplicate on ``Almanac-Event-Id``.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from app.crypto import CredentialsUnreadable
from app.db import session_scope
from app.logging import get_logger, redact_text
from app.models import (
    PING_EVENT,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    utcnow,
)
from app.net.outbound import DestinationRefused, OutboundError, check_public_url, check_url_shape
from app.notifications.webhooks import open_url, render_body, request_headers
from scheduler.runtime import SchedulerRuntime

log = get_logger("almanac.scheduler.notifications")

INTERVAL_SECONDS = 2
MAX_ATTEMPTS = 8
CONCURRENCY = 8
PER_ENDPOINT = 4
BATCH = 32
MAX_ROUNDS = 50
SEND_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Longer than a send can take, so a live process never loses its lease.
LEASE = timedelta(minutes=2)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_FACTOR = 4
BACKOFF_CAP = timedelta(hours=8)
JITTER = 0.2
MAX_ERROR_CHARS = 500


def backoff(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, 2 min, 8 min, 32 min,
    ~2 h, then 8 h (capped), each ±20 % so that many failed events do not all come
    back at the same second. Eight attempts span about a day."""
    base = min(BACKOFF_BASE * BACKOFF_FACTOR ** max(attempts - 1, 0), BACKOFF_CAP)
    factor = 1 + (rng or random).uniform(-JITTER, JITTER)
    return base * factor


@dataclass(frozen=True)
class Outgoing:
    """One claimed row, with everything the send needs (no ORM object crosses tasks)."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    secret: str | None
    enabled: bool
    event_id: uuid.UUID
    event_type: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status_code: int | None
    error: str | None
    duration_ms: int | None
    permanent: bool = False


async def deliver_due(runtime: SchedulerRuntime, *, now: datetime | None = None) -> int:
    """Claim one round of due outbox rows and send them; returns how many were claimed."""
    now = now or utcnow()
    claimed = await _claim(runtime, now)
    if not claimed:
        return 0
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(item: Outgoing) -> None:
        async with slots:
            outcome = await _send(runtime, item)
        await _record(runtime, item, outcome, now)

    await asyncio.gather(*(one(item) for item in claimed))
    return len(claimed)


async def run(runtime: SchedulerRuntime) -> None:
    """The APScheduler job: rounds until nothing is due (bounded, so a tick ends)."""
    for _round in range(MAX_ROUNDS):
        if await deliver_due(runtime) == 0:
            break


async def _claim(runtime: SchedulerRuntime, now: datetime) -> list[Outgoing]:
    box = runtime.credential_box
    async with session_scope(runtime.database.write_session) as session:
        query = (
            select(WebhookDelivery.id, WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status.in_(
                    [WebhookDeliveryStatus.pending, WebhookDeliveryStatus.sending]
                ),
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(BATCH * 4)
        )
        if not runtime.database.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        per_endpoint: dict[uuid.UUID, int] = defaultdict(int)
        chosen: list[uuid.UUID] = []
        for row_id, endpoint_id in (await session.execute(query)).all():
            if per_endpoint[endpoint_id] < PER_ENDPOINT and len(chosen) < BATCH:
                per_endpoint[endpoint_id] += 1
                chosen.append(row_id)
        if not chosen:
            return []
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(chosen))
            .values(
                status=WebhookDeliveryStatus.sending,
                lease_owner=runtime.process_id,
                next_attempt_at=now + LEASE,
                attempts=WebhookDelivery.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        rows = (
            await session.execute(
                select(WebhookDelivery, WebhookEndpoint)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.id.in_(chosen))
                .execution_options(populate_existing=True)
            )
        ).all()
        claimed = []
        for delivery, endpoint in rows:
            try:
                secret: str | None = str(box.open(endpoint.secret_encrypted)["secret"])
                url = open_url(endpoint.url_encrypted, box)
            except CredentialsUnreadable:
                secret, url = None, ""
            claimed.append(
                Outgoing(
                    id=delivery.id,
                    endpoint_id=endpoint.id,
                    url=url,
                    secret=secret,
                    enabled=endpoint.enabled,
                    event_id=delivery.event_id,
                    event_type=delivery.event_type,
                    payload=dict(delivery.payload),
                    attempts=delivery.attempts,
                )
            )
        return claimed


async def _send(runtime: SchedulerRuntime, item: Outgoing) -> Outcome:
    if not item.enabled and item.event_type != PING_EVENT:
        return Outcome(
            False, None, "The endpoint was turned off before this event was sent.", None, True
        )
    if item.secret is None:
        return Outcome(
            False,
            None,
            "The endpoint's URL or signing secret cannot be decrypted with the configured "
            "keys; set its URL again and rotate the secret.",
            None,
            True,
        )
    body = render_body(item.payload, runtime.settings.base_url)
    headers = request_headers(
        item.secret,
        event_id=str(item.event_id),
        event_type=item.event_type,
        body=body,
        timestamp=int(time.time()),
    )
    started = time.monotonic()
    try:
        # The URL was checked when it was saved; its addresses are checked now, at
        # send time (a name may point elsewhere today). A guarded client checks
        # again and pins the connection to the checked address.
        await check_public_url(item.url, allow_private=runtime.settings.allow_private_hosts)
        response = await runtime.http.post(
            item.url, content=body, headers=headers, timeout=SEND_TIMEOUT, follow_redirects=False
        )
    except DestinationRefused as exc:
        return Outcome(False, None, exc.message, _ms(started), permanent=True)
    except OutboundError as exc:
        return Outcome(False, None, exc.message, _ms(started))
    except httpx.TimeoutException:
        return Outcome(
            False, None, f"No answer within {SEND_TIMEOUT.read:g} seconds.", _ms(started)
        )
    except httpx.HTTPError as exc:
        # httpx messages may carry the URL: keep the kind of error and redact the rest.
        message = str(exc).replace(item.url, _host(item.url) or "the endpoint")
        return Outcome(False, None, _short(f"{type(exc).__name__}: {message}"), _ms(started))
    duration = _ms(started)
    if 200 <= response.status_code < 300:
        return Outcome(True, response.status_code, None, duration)
    reason = f"HTTP {response.status_code}"
    if response.is_redirect:
        reason += " (redirects are not followed; use the final address)"
    elif response.text.strip():
        reason += f": {response.text.strip()}"
    return Outcome(False, response.status_code, _short(reason), duration)


async def _record(
    runtime: SchedulerRuntime, item: Outgoing, outcome: Outcome, started_at: datetime
) -> None:
    # The round's clock plus the time the send took (tests run rounds at chosen times).
    now = started_at + timedelta(milliseconds=outcome.duration_ms or 0)
    entry = {
        "at": now.isoformat(),
        "status_code": outcome.status_code,
        "error": outcome.error,
        "duration_ms": outcome.duration_ms,
    }
    values: dict[str, Any] = {
        "last_attempt_at": now,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
        "lease_owner": None,
    }
    if outcome.delivered:
        values.update(status=WebhookDeliveryStatus.delivered, delivered_at=now)
    elif outcome.permanent or item.attempts >= MAX_ATTEMPTS:
        values.update(status=WebhookDeliveryStatus.failed)
    else:
        values.update(
            status=WebhookDeliveryStatus.pending, next_attempt_at=now + backoff(item.attempts)
        )
    async with session_scope(runtime.database.write_session) as session:
        row = await session.get(WebhookDelivery, item.id)
        if row is None or row.lease_owner != runtime.process_id:
            return  # deleted with its endpoint, or the lease ran out and another took it
        values["attempt_log"] = [*(row.attempt_log or []), entry][-MAX_ATTEMPTS * 2 :]
        for name, value in values.items():
            setattr(row, name, value)
    host = _host(item.url)
    if outcome.delivered:
        log.info("webhook delivered", host=host, event_type=item.event_type, attempts=item.attempts)
    else:
        log.warning(
            "webhook attempt failed",
            host=host,
            event_type=item.event_type,
            attempts=item.attempts,
            status_code=outcome.status_code,
            final=values["status"] == WebhookDeliveryStatus.failed,
        )


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _short(text: str) -> str:
    text = redact_text(text)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _host(url: str) -> str | None:
    # Logs name the host only: some receivers (Slack, Discord) put a secret in the path.
    try:
        return check_url_shape(url).host
    except OutboundError:
        return None
