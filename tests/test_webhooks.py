"""Outgoing webhooks: signing, the endpoint API, and the notification job sending to
a real HTTP receiver on 127.0.0.1 (retries, failures, the private-address guard)."""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy import event as sa_event
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from app import migrate
from app.crypto import CredentialBox
from app.db import Database, create_engine, session_scope
from app.models import (
    PING_EVENT,
    AuditEvent,
    ChannelStatus,
    Event,
    Role,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    utcnow,
)
from app.net.outbound import new_client
from app.notifications import service
from app.notifications.webhooks import (
    DEFAULT_TOLERANCE,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    sign,
    verify_signature,
)
from app.settings import Settings
from scheduler import notifications as job
from scheduler.runtime import SchedulerRuntime
from tests.auth_helpers import HTML
from tests.conftest import TEST_KEYS, make_settings
from tests.factories import (
    make_channel,
    make_delivery,
    make_membership,
    make_post,
    make_user,
    make_variant,
    make_workspace,
)
from tests.test_channels_api import Team, make_team

# -- a real receiver -----------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers with the
    queued status codes (200 once the queue is empty)."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/almanac"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                state.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = state.statuses.pop(0) if state.statuses else 200
            payload = b"ok" if status < 300 else b"receiver is down"
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
async def runtime(settings: Settings, database: Database) -> AsyncIterator[SchedulerRuntime]:
    async with new_client(allow_private=settings.allow_private_hosts) as http:
        yield SchedulerRuntime(settings=settings, database=database, http=http)


BOX = CredentialBox(TEST_KEYS)


async def add_endpoint(
    database: Database, workspace_id: uuid.UUID, url: str, **kw: Any
) -> tuple[uuid.UUID, str]:
    async with session_scope(database.write_session) as session:
        actor = await make_user(session)
        endpoint, secret = await service.create_endpoint(
            session,
            workspace_id=workspace_id,
            url=url,
            event_types=kw.pop("event_types", None),
            enabled=kw.pop("enabled", True),
            description="",
            box=BOX,
            actor=actor,
        )
        return endpoint.id, secret


async def outbox(database: Database) -> list[WebhookDelivery]:
    async with database.read_session() as session:
        rows = await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at))
        return list(rows)


# -- signatures ---------------------------------------------------------------------


def test_signature_round_trip_and_refusals() -> None:
    body = b'{"id":"1","type":"ping"}'
    header = sign("whsec_abc", body, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify_signature("whsec_abc", header, body, now=1_700_000_100) == 1_700_000_000
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("whsec_other", header, body, now=1_700_000_100)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("whsec_abc", header, body + b" ", now=1_700_000_100)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature("whsec_abc", header, body, now=1_700_000_000 + DEFAULT_TOLERANCE + 1)
    with pytest.raises(SignatureError, match="missing"):
        verify_signature("whsec_abc", None, body)
    with pytest.raises(SignatureError, match="no t="):
        verify_signature("whsec_abc", "v1=deadbeef", body)
    # During a rotation a sender may sign with both secrets: either one matching is enough.
    both = header + "," + sign("whsec_new", body, 1_700_000_000).split(",")[1]
    assert verify_signature("whsec_new", both, body, now=1_700_000_000)


def test_backoff_grows_with_jitter_and_spans_about_a_day() -> None:
    import random

    rng = random.Random(7)
    waits = [job.backoff(attempt, rng=rng) for attempt in range(1, job.MAX_ATTEMPTS)]
    assert timedelta(seconds=24) <= waits[0] <= timedelta(seconds=36)
    assert all(later > earlier for earlier, later in itertools.pairwise(waits[:5]))
    assert max(waits) <= job.BACKOFF_CAP * (1 + job.JITTER)
    assert timedelta(hours=12) < sum(waits, timedelta()) < timedelta(hours=36)


# -- the job against a real receiver ----------------------------------------------


async def _every_event(database: Database, workspace_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """Notify one event of each type, with the post, delivery or channel it concerns."""
    event_ids: dict[str, uuid.UUID] = {}
    async with session_scope(database.write_session) as session:
        author = await make_user(session, display_name="Ana")
        await make_membership(session, workspace_id=workspace_id, user_id=author.id)
        channel = await make_channel(session, workspace_id=workspace_id, name="Sandbox")
        post = await make_post(session, workspace_id=workspace_id, title="Spring launch")
        delivery = await make_delivery(
            session, variant=await make_variant(session, post=post, channel=channel)
        )
        for event in Event:
            context: dict[str, Any] = {}
            if event in (Event.publish_failed, Event.missed, Event.uncertain):
                context = {"post_id": post.id, "delivery_id": delivery.id}
            elif event is Event.channel_expired:
                context = {"channel_id": channel.id}
            elif event not in (Event.workspace_paused, Event.workspace_resumed):
                context = {"post_id": post.id}
            event_ids[event.value] = await service.notify(
                session,
                workspace_id=workspace_id,
                event=event,
                text=f"Ana did {event.value} on “Spring launch”",
                recipients=[author.id],
                actor_id=author.id,
                **context,
            )
    return event_ids


async def test_a_signed_webhook_for_every_event_type_reaches_a_real_receiver(
    database: Database, runtime: SchedulerRuntime, receiver: Receiver
) -> None:
    async with session_scope(database.write_session) as session:
        workspace_id = (await make_workspace(session, name="Acme")).id
    endpoint_id, secret = await add_endpoint(database, workspace_id, receiver.url)
    event_ids = await _every_event(database, workspace_id)
    async with session_scope(database.write_session) as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        actor = await make_user(session)
        await service.queue_ping(session, endpoint, actor=actor)

    # At most PER_ENDPOINT rows of one endpoint per round: the others wait for the next.
    rounds = [await job.deliver_due(runtime) for _ in range(4)]
    assert rounds == [job.PER_ENDPOINT, job.PER_ENDPOINT, job.PER_ENDPOINT, 0]

    assert len(receiver.requests) == len(Event) + 1
    seen: dict[str, dict[str, Any]] = {}
    for request in receiver.requests:
        assert request.path == "/hooks/almanac"
        assert request.headers["content-type"] == "application/json"
        verify_signature(secret, request.headers[SIGNATURE_HEADER.lower()], request.body)
        payload = json.loads(request.body)
        assert payload["id"] == request.headers[EVENT_ID_HEADER.lower()]
        assert payload["type"] == request.headers[EVENT_TYPE_HEADER.lower()]
        assert payload["workspace"] == {"id": str(workspace_id), "name": "Acme"}
        assert payload["text"]
        seen[payload["type"]] = payload
    assert set(seen) == {event.value for event in Event} | {PING_EVENT}
    for event, event_id in event_ids.items():
        assert seen[event]["id"] == str(event_id)
    submitted = seen[Event.submitted.value]
    assert submitted["text"] == "Ana did submitted on “Spring launch”"
    assert submitted["actor"]["name"] == "Ana"
    assert submitted["post"]["title"] == "Spring launch"
    post_id = submitted["post"]["id"]
    assert submitted["post"]["path"] == f"/w/{workspace_id}/posts/{post_id}/detail"
    assert submitted["post"]["url"] == runtime.settings.base_url + submitted["post"]["path"]
    assert seen[Event.missed.value]["delivery"]["status"] == "pending"
    assert seen[Event.missed.value]["channel"]["name"] == "Sandbox"
    assert seen[Event.channel_expired.value]["channel"]["status"] == ChannelStatus.connected
    assert all(row.status is WebhookDeliveryStatus.delivered for row in await outbox(database))
    # Delivered rows are not sent again.
    assert await job.deliver_due(runtime, now=utcnow() + timedelta(days=2)) == 0


async def test_the_post_link_in_a_payload_opens_the_post_page(
    database: Database, client: httpx.AsyncClient
) -> None:
    team = await make_team(database, (Role.owner,))
    async with session_scope(database.write_session) as session:
        post = await make_post(session, workspace_id=team.workspace_id, title="Spring launch")
        path = service.post_path(team.workspace_id, post.id)
    page = await client.get(path, headers={**team.owner, **HTML})
    assert page.status_code == 200, page.text
    assert "Spring launch" in page.text


async def test_only_subscribed_enabled_endpoints_get_the_event(
    database: Database, runtime: SchedulerRuntime, receiver: Receiver
) -> None:
    async with session_scope(database.write_session) as session:
        workspace_id = (await make_workspace(session)).id
        other_workspace_id = (await make_workspace(session)).id
    await add_endpoint(database, workspace_id, receiver.url, event_types=["missed"])
    await add_endpoint(database, workspace_id, receiver.url + "/off", enabled=False)
    await add_endpoint(database, other_workspace_id, receiver.url + "/other")
    async with session_scope(database.write_session) as session:
        for event in (Event.missed, Event.approved):
            await service.notify(session, workspace_id=workspace_id, event=event, text="x")
    rows = await outbox(database)
    assert [row.event_type for row in rows] == ["missed"]
    await job.run(runtime)
    assert [request.path for request in receiver.requests] == ["/hooks/almanac"]


async def test_failures_are_retried_with_backoff_then_delivered_and_visible(
    database: Database, runtime: SchedulerRuntime, receiver: Receiver, client: httpx.AsyncClient
) -> None:
    team = await make_team(database, (Role.owner,))
    endpoint_id, secret = await add_endpoint(database, team.workspace_id, receiver.url)
    async with session_scope(database.write_session) as session:
        await service.notify(
            session, workspace_id=team.workspace_id, event=Event.publish_failed, text="failed"
        )
    receiver.statuses = [500, 503]
    start = utcnow()

    assert await job.deliver_due(runtime, now=start) == 1
    [row] = await outbox(database)
    assert (row.status, row.attempts, row.last_status_code) == (
        WebhookDeliveryStatus.pending,
        1,
        500,
    )
    assert row.last_error == "HTTP 500: receiver is down"
    wait = row.next_attempt_at - start
    assert timedelta(seconds=23) < wait < timedelta(seconds=40)
    # Not due yet: nothing is sent.
    assert await job.deliver_due(runtime, now=start + timedelta(seconds=20)) == 0

    assert await job.deliver_due(runtime, now=start + timedelta(minutes=1)) == 1
    [row] = await outbox(database)
    assert (row.attempts, row.last_status_code) == (2, 503)
    assert row.next_attempt_at - (start + timedelta(minutes=1)) > timedelta(minutes=1, seconds=30)

    assert await job.deliver_due(runtime, now=start + timedelta(hours=1)) == 1
    [row] = await outbox(database)
    assert row.status is WebhookDeliveryStatus.delivered
    assert [entry["status_code"] for entry in row.attempt_log] == [500, 503, 200]
    # Every attempt carried the same event id, each freshly signed.
    assert len({request.headers[EVENT_ID_HEADER.lower()] for request in receiver.requests}) == 1
    for request in receiver.requests:
        verify_signature(secret, request.headers[SIGNATURE_HEADER.lower()], request.body)

    response = await client.get(
        f"/api/v1/workspaces/{team.workspace_id}/webhooks/{endpoint_id}/deliveries",
        headers=team.owner,
    )
    assert response.status_code == 200
    [shown] = response.json()
    assert shown["status"] == "delivered"
    assert shown["attempts"] == 3
    assert [item["status_code"] for item in shown["attempt_log"]] == [500, 503, 200]
    assert shown["attempt_log"][0]["error"] == "HTTP 500: receiver is down"
    assert secret not in response.text


async def test_attempts_exhausted_end_failed_and_connection_errors_are_recorded(
    database: Database, runtime: SchedulerRuntime
) -> None:
    async with session_scope(database.write_session) as session:
        workspace_id = (await make_workspace(session)).id
    # Port 9 on loopback: nothing listens there, the connection is refused.
    await add_endpoint(database, workspace_id, "http://127.0.0.1:9/hook")
    async with session_scope(database.write_session) as session:
        await service.notify(session, workspace_id=workspace_id, event=Event.missed, text="x")
        row = (await session.scalars(select(WebhookDelivery))).one()
        row.attempts = job.MAX_ATTEMPTS - 2
    await job.deliver_due(runtime)
    [row] = await outbox(database)
    assert row.status is WebhookDeliveryStatus.pending
    assert row.last_status_code is None
    assert row.last_error and row.last_error.startswith("ConnectError")
    await job.deliver_due(runtime, now=utcnow() + timedelta(days=1))
    [row] = await outbox(database)
    assert (row.status, row.attempts) == (WebhookDeliveryStatus.failed, job.MAX_ATTEMPTS)
    assert await job.deliver_due(runtime, now=utcnow() + timedelta(days=30)) == 0


async def test_a_private_address_is_refused_when_not_allowed(
    database: Database, receiver: Receiver, tmp_path: Path
) -> None:
    url = database.engine.url.render_as_string(hide_password=False)
    strict = make_settings(tmp_path / "data", url, allow_private_hosts=False)
    async with session_scope(database.write_session) as session:
        workspace_id = (await make_workspace(session)).id
    await add_endpoint(database, workspace_id, receiver.url)
    async with session_scope(database.write_session) as session:
        await service.notify(session, workspace_id=workspace_id, event=Event.missed, text="x")
    async with new_client(allow_private=False) as http:
        runtime = SchedulerRuntime(settings=strict, database=database, http=http)
        assert await job.deliver_due(runtime) == 1
    assert receiver.requests == []
    [row] = await outbox(database)
    assert row.status is WebhookDeliveryStatus.failed  # permanent: no retry can help
    assert row.last_error and "loopback" in row.last_error


async def test_a_lease_that_runs_out_makes_the_row_due_again(
    database: Database, runtime: SchedulerRuntime, receiver: Receiver
) -> None:
    async with session_scope(database.write_session) as session:
        workspace_id = (await make_workspace(session)).id
    await add_endpoint(database, workspace_id, receiver.url)
    async with session_scope(database.write_session) as session:
        await service.notify(session, workspace_id=workspace_id, event=Event.missed, text="x")
    # A process claimed it and died: status sending, lease (next_attempt_at) in the past.
    now = utcnow()
    claimed = await job._claim(runtime, now)
    assert len(claimed) == 1
    assert await job.deliver_due(runtime, now=now + timedelta(seconds=30)) == 0
    assert await job.deliver_due(runtime, now=now + job.LEASE + timedelta(seconds=1)) == 1
    [row] = await outbox(database)
    assert (row.status, row.attempts) == (WebhookDeliveryStatus.delivered, 2)


# -- the endpoint API -------------------------------------------------------------------


def webhooks_url(team: Team) -> str:
    return f"/api/v1/workspaces/{team.workspace_id}/webhooks"


async def test_only_admins_and_owners_manage_webhooks(
    database: Database, client: httpx.AsyncClient
) -> None:
    team = await make_team(database)
    body = {"url": "https://hooks.example.org/almanac", "event_types": ["missed"]}
    for role in (Role.editor, Role.reviewer, Role.viewer):
        assert (await client.get(webhooks_url(team), headers=team.headers[role])).status_code == 403
        created = await client.post(webhooks_url(team), json=body, headers=team.headers[role])
        assert created.status_code == 403
    for role in (Role.admin, Role.owner):
        created = await client.post(webhooks_url(team), json=body, headers=team.headers[role])
        assert created.status_code == 201, created.text
    # Another workspace's admin sees nothing of this one.
    other = await make_team(database, (Role.admin,))
    assert (
        await client.get(webhooks_url(team), headers=other.headers[Role.admin])
    ).status_code == 404
    webhook_id = created.json()["id"]
    response = await client.get(
        f"{webhooks_url(other)}/{webhook_id}", headers=other.headers[Role.admin]
    )
    assert response.status_code == 404


async def test_the_secret_is_shown_once_stored_sealed_and_never_logged(
    database: Database, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    team = await make_team(database, (Role.owner,))
    created = await client.post(
        webhooks_url(team), json={"url": "https://hooks.example.org/a"}, headers=team.owner
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert created.json()["event_types"] == sorted(event.value for event in Event)
    webhook_url = f"{webhooks_url(team)}/{created.json()['id']}"

    read = await client.get(webhook_url, headers=team.owner)
    listed = await client.get(webhooks_url(team), headers=team.owner)
    updated = await client.patch(webhook_url, json={"enabled": False}, headers=team.owner)
    for response in (read, listed, updated):
        assert response.status_code == 200
        assert secret not in response.text and 'secret"' not in response.text
    assert updated.json()["enabled"] is False

    rotated = await client.post(f"{webhook_url}/rotate-secret", headers=team.owner)
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != secret

    async with database.read_session() as session:
        endpoint = await session.get(WebhookEndpoint, uuid.UUID(created.json()["id"]))
        assert endpoint is not None
        assert secret.encode() not in endpoint.secret_encrypted
        assert service.endpoint_secret(endpoint, BOX) == new_secret
        events = list(await session.scalars(select(AuditEvent)))
    assert {"webhook.created", "webhook.updated", "webhook.secret_rotated"} <= {
        event.action for event in events
    }
    for event in events:
        assert secret not in json.dumps(event.data) and new_secret not in json.dumps(event.data)
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err
    assert new_secret not in captured.out + captured.err


async def test_webhook_input_is_checked_and_bad_input_changes_nothing(
    database: Database, client: httpx.AsyncClient
) -> None:
    team = await make_team(database, (Role.owner,))
    for body, field_name in (
        ({"url": "ftp://hooks.example.org/x"}, "url"),
        ({"url": "https://user:pw@hooks.example.org/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://hooks.example.org/x", "event_types": ["exploded"]}, "event_types.0"),
        ({"url": "https://hooks.example.org/x", "secret": "mine"}, "secret"),
    ):
        response = await client.post(webhooks_url(team), json=body, headers=team.owner)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"]
        assert field_name in {error["field"] for error in response.json()["errors"]}, (
            response.json()
        )
    assert (await client.get(webhooks_url(team), headers=team.owner)).json() == []


async def test_test_ping_is_queued_and_sent_even_while_disabled(
    database: Database, client: httpx.AsyncClient, runtime: SchedulerRuntime, receiver: Receiver
) -> None:
    team = await make_team(database, (Role.admin,))
    headers = team.headers[Role.admin]
    created = await client.post(
        webhooks_url(team), json={"url": receiver.url, "enabled": False}, headers=headers
    )
    webhook_url = f"{webhooks_url(team)}/{created.json()['id']}"
    queued = await client.post(f"{webhook_url}/test", headers=headers)
    assert queued.status_code == 202
    assert queued.json()["event_type"] == PING_EVENT
    assert queued.json()["status"] == "pending"
    await job.deliver_due(runtime)
    [request] = receiver.requests
    verify_signature(created.json()["secret"], request.headers["almanac-signature"], request.body)
    deliveries = await client.get(f"{webhook_url}/deliveries", headers=headers)
    assert [item["status"] for item in deliveries.json()] == ["delivered"]
    # Deleting the endpoint removes its history with it.
    assert (await client.delete(webhook_url, headers=headers)).status_code == 204
    assert await outbox(database) == []
    assert (await client.get(webhook_url, headers=headers)).status_code == 404


# -- the URL is a credential ------------------------------------------------------------

SLACK_URL = "https://hooks.slack.com/services/T0001/B0002/sl4ckS3cretPathT0ken"
SLACK_SECRET = "sl4ckS3cretPathT0ken"


async def test_the_url_is_stored_sealed_and_shown_masked(
    database: Database, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    team = await make_team(database, (Role.owner,))
    created = await client.post(webhooks_url(team), json={"url": SLACK_URL}, headers=team.owner)
    assert created.status_code == 201, created.text
    webhook_url = f"{webhooks_url(team)}/{created.json()['id']}"
    read = await client.get(webhook_url, headers=team.owner)
    listed = await client.get(webhooks_url(team), headers=team.owner)
    renamed = await client.patch(webhook_url, json={"description": "ops"}, headers=team.owner)
    for response in (created, read, listed, renamed):
        assert response.status_code in (200, 201)
        assert SLACK_SECRET not in response.text and "/services/" not in response.text
    assert read.json()["url"] == "https://hooks.slack.com/…"
    page = await client.get(f"/w/{team.workspace_id}/settings", headers={**team.owner, **HTML})
    assert page.status_code == 200
    assert "https://hooks.slack.com/…" in page.text and SLACK_SECRET not in page.text

    async with database.read_session() as session:
        endpoint = await session.get(WebhookEndpoint, uuid.UUID(created.json()["id"]))
        assert endpoint is not None
        assert endpoint.host == "hooks.slack.com"
        assert SLACK_SECRET.encode() not in endpoint.url_encrypted
        assert service.endpoint_url(endpoint, BOX) == SLACK_URL
        events = list(await session.scalars(select(AuditEvent)))
    assert all(SLACK_SECRET not in json.dumps(event.data) for event in events)
    captured = capsys.readouterr()
    assert SLACK_SECRET not in captured.out + captured.err


async def test_a_url_change_is_audited_like_a_credential_change_without_the_url(
    database: Database,
    client: httpx.AsyncClient,
    runtime: SchedulerRuntime,
    receiver: Receiver,
) -> None:
    team = await make_team(database, (Role.owner,))
    created = await client.post(webhooks_url(team), json={"url": SLACK_URL}, headers=team.owner)
    webhook_url = f"{webhooks_url(team)}/{created.json()['id']}"
    secret_path = "/hooks/almanac/N3wS3cretPath"
    new_url = receiver.url.replace("/hooks/almanac", secret_path)
    changed = await client.patch(webhook_url, json={"url": new_url}, headers=team.owner)
    assert changed.status_code == 200, changed.text
    assert changed.json()["url"].startswith("http://127.0.0.1:")
    assert changed.json()["url"].endswith("/…") and "N3wS3cret" not in changed.text

    async with database.read_session() as session:
        events = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.created_at)))
    [url_changed] = [event for event in events if event.action == "webhook.url_changed"]
    assert url_changed.data == {"from_host": "hooks.slack.com", "to_host": "127.0.0.1"}
    # The URL alone changed: no generic "updated" event repeats it.
    assert "webhook.updated" not in {event.action for event in events}
    for event in events:
        assert "N3wS3cret" not in json.dumps(event.data)
        assert SLACK_SECRET not in json.dumps(event.data)

    # The job opens the sealed URL and sends to the new address.
    assert (await client.post(f"{webhook_url}/test", headers=team.owner)).status_code == 202
    assert await job.deliver_due(runtime) == 1
    assert [request.path for request in receiver.requests] == [secret_path]


async def test_an_unreadable_url_fails_the_delivery_with_a_clear_error(
    database: Database, runtime: SchedulerRuntime
) -> None:
    async with session_scope(database.write_session) as session:
        workspace_id = (await make_workspace(session)).id
    endpoint_id, _ = await add_endpoint(database, workspace_id, "https://hooks.example.org/x")
    other_box = CredentialBox([Fernet.generate_key().decode()])
    async with session_scope(database.write_session) as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        endpoint.url_encrypted = other_box.seal({"url": "https://hooks.example.org/x"})
        await service.notify(session, workspace_id=workspace_id, event=Event.missed, text="x")
    assert await job.deliver_due(runtime) == 1
    [row] = await outbox(database)
    assert row.status is WebhookDeliveryStatus.failed
    assert row.last_error and "URL or signing secret cannot be decrypted" in row.last_error


async def test_the_migration_seals_existing_urls_and_unseals_them_on_downgrade(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")

    async def migrate_to(action: str, revision: str) -> None:
        def run(connection: Connection) -> None:
            config = migrate.alembic_config()
            config.attributes["connection"] = connection
            config.attributes["encryption_keys"] = TEST_KEYS
            getattr(command, action)(config, revision)

        async with engine.begin() as connection:
            await connection.run_sync(run)

    try:
        await migrate_to("upgrade", "f1b6d2c48a65")
        workspace_id, endpoint_id = uuid.uuid4().hex, uuid.uuid4().hex
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO workspace (id, name, slug, timezone, approval_required,"
                    " approvals_needed, authors_may_self_approve, reviewer_edit_keeps_approval,"
                    " lateness_limit_minutes, paused)"
                    " VALUES (:id, 'Acme', 'acme', 'UTC', 0, 1, 0, 0, 60, 0)"
                ),
                {"id": workspace_id},
            )
            await connection.execute(
                text(
                    "INSERT INTO webhook_endpoint (id, workspace_id, url, description,"
                    " event_types, enabled, secret_encrypted)"
                    " VALUES (:id, :ws, :url, '', '[]', 1, :secret)"
                ),
                {"id": endpoint_id, "ws": workspace_id, "url": SLACK_URL, "secret": b"x"},
            )
        await migrate_to("upgrade", "head")
        async with engine.connect() as connection:
            host, sealed = (
                await connection.execute(text("SELECT host, url_encrypted FROM webhook_endpoint"))
            ).one()
        assert host == "hooks.slack.com"
        assert BOX.open(sealed) == {"url": SLACK_URL}
        await migrate_to("downgrade", "f1b6d2c48a65")
        async with engine.connect() as connection:
            url = (await connection.execute(text("SELECT url FROM webhook_endpoint"))).scalar()
        assert url == SLACK_URL
    finally:
        await engine.dispose()


# -- the settings page's summary ----------------------------------------------------------


async def test_delivery_summaries_take_two_queries_for_any_number_of_endpoints(
    database: Database,
) -> None:
    async with session_scope(database.write_session) as session:
        workspace_id = (await make_workspace(session)).id
        other_workspace_id = (await make_workspace(session)).id
    endpoints = [
        (await add_endpoint(database, workspace_id, f"https://hooks.example.org/{n}"))[0]
        for n in range(4)
    ]
    elsewhere, _ = await add_endpoint(database, other_workspace_id, "https://hooks.example.org/o")
    now = utcnow()
    status = WebhookDeliveryStatus
    rows = [  # endpoint, status, error, age
        (endpoints[0], status.delivered, None, timedelta(hours=1)),
        (endpoints[0], status.delivered, None, timedelta(hours=2)),
        (endpoints[0], status.delivered, None, timedelta(days=30)),  # too old to count
        (endpoints[0], status.failed, "HTTP 500", timedelta(hours=3)),
        (endpoints[1], status.pending, "HTTP 503", timedelta(minutes=5)),  # being retried
        (endpoints[1], status.pending, None, timedelta(minutes=1)),  # not tried yet
        (endpoints[2], status.failed, "refused", timedelta(days=30)),  # too old to show
        (elsewhere, status.failed, "HTTP 500", timedelta(hours=1)),
    ]
    async with session_scope(database.write_session) as session:
        for endpoint_id, state, error, age in rows:
            session.add(
                WebhookDelivery(
                    workspace_id=other_workspace_id if endpoint_id == elsewhere else workspace_id,
                    endpoint_id=endpoint_id,
                    event_id=uuid.uuid4(),
                    event_type="missed",
                    payload={},
                    status=state,
                    attempts=1,
                    last_error=error,
                    attempt_log=[],
                    created_at=now - age,
                )
            )

    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    sa_event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with database.read_session() as session:
            summaries = await service.delivery_summaries(session, workspace_id, now=now)
    finally:
        sa_event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    assert len([s for s in statements if "webhook_delivery" in s]) == 2, statements

    assert summaries[endpoints[0]].delivered == 2
    assert [row.last_error for row in summaries[endpoints[0]].failures] == ["HTTP 500"]
    assert summaries[endpoints[1]].delivered == 0
    assert [row.last_error for row in summaries[endpoints[1]].failures] == ["HTTP 503"]
    assert endpoints[2] not in summaries and endpoints[3] not in summaries
    assert elsewhere not in summaries
