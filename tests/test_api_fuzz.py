"""Bad input is tried, not hoped for: schemathesis against the app's own OpenAPI document.

Every operation of the app's OpenAPI document gets, in turn: schemathesis' coverage
phase (deterministic boundary cases: each limit, each missing required field, each
wrong type, unexpected methods), then hypothesis-generated requests, valid ones
(positive) and ones that break the schema on purpose (negative), then a few with
generated path ids. They are sent in-process to the app as the owner of a real
workspace (API token) with channels, plans, labels, uploaded media, posts with
variants, revisions, comments and an iCal feed, every path parameter filled with a
real id of that world, so the requests reach the handlers, not a 404 at the door.
Checks on every answer: no 5xx (a 5xx fails at once, with the app's traceback, and
schemathesis' ``not_a_server_error`` runs on the others), and every 4xx carries
DESIGN.md's error shape ``{"detail": a sentence, "errors": [{field, network,
message}]}``, never FastAPI's bare list.

SQLite only, run once (the handlers' SQL is tested on both backends elsewhere): made
as strict as PostgreSQL where they differ in what they store (a NUL character in text,
see ``refuse_like_postgresql``). Deterministic (``derandomize``). Reads run first,
DELETEs last and deepest first, so writes do not take the world away from the others.
The number of requests is printed at the end of the run (``ALMANAC_FUZZ_REPORT=1``
prints the statuses per operation). ``test_edge_values_get_a_shaped_4xx`` replays,
on both databases, values a generator rarely draws that once made 500s.

How it runs: hypothesis drives schemathesis' strategies in a worker thread while the
app stays on the test's event loop (its engine and connections live there); each
request is handed to that loop and sent through ``httpx.ASGITransport``.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlalchemy import event, select

from app.db import Database, session_scope
from app.models import Delivery, Role, utcnow
from tests.authz import add_api_token, add_invitation, bearer, new_workspace
from tests.factories import make_membership, make_user

BASE_URL = "http://testserver"
# Examples per operation and pass (hypothesis stops earlier when an operation's input
# space is exhausted). Sized for >= 1,000 requests in well under three minutes.
POSITIVE_EXAMPLES = 12
NEGATIVE_EXAMPLES = 8
RANDOM_PATH_EXAMPLES = 3
MINIMUM_REQUESTS = 1_000
# Operations that must not be fuzzed, with the reason.
SKIPPED: dict[str, str] = {}


# -- the world the requests act on --------------------------------------------------------


@dataclass
class World:
    token: str
    ids: dict[str, str] = field(default_factory=dict)


def _png(width: int = 8, height: int = 6) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 140, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 300, f"{response.request.url}: {response.text}"
    return response.json()


async def seed(database: Database, http: httpx.AsyncClient) -> World:
    """An owner with an API token and a workspace with something of everything, made
    through the API itself where it can be."""
    async with session_scope(database.write_session) as session:
        owner = await make_user(session)
        workspace = await new_workspace(session, (owner, Role.owner))
        editor = await make_user(session)
        await make_membership(session, workspace=workspace, user=editor, role=Role.editor)
        token, row = await add_api_token(session, owner)
        row.last_used_at = utcnow()
        _, spare = await add_api_token(session, owner, name="spare")
        _, invitation = await add_invitation(session, workspace.id, owner.id)
        world = World(
            token,
            {
                "workspace_id": str(workspace.id),
                "user_id": str(editor.id),
                "token_id": str(spare.id),
                "invitation_id": str(invitation.id),
            },
        )
    headers = bearer(token)
    base = f"/api/v1/workspaces/{workspace.id}"

    channels = [
        _ok(
            await http.post(
                f"{base}/channels",
                json={"network": network, "name": f"{network} channel", "credentials": creds},
                headers=headers,
            )
        )["id"]
        for network, creds in (
            ("sandbox", {}),
            ("mastodon", {"instance_url": "https://mastodon.example", "access_token": "t" * 24}),
            ("bluesky", {"handle": "almanac.example", "app_password": "p" * 19}),
        )
    ]
    plan = _ok(
        await http.post(
            f"{base}/plans",
            json={
                "kind": "month",
                "period": "2026-12",
                "title": "December",
                "goals": "Grow",
                "themes": [{"week": "2026-W49", "theme": "Winter"}],
                "cadence_targets": {"sandbox": 3},
            },
            headers=headers,
        )
    )["id"]
    label = _ok(
        await http.post(
            f"{base}/labels", json={"name": "News", "color": "#3366cc"}, headers=headers
        )
    )["id"]
    _ok(await http.post(f"{base}/labels", json={"name": "Events"}, headers=headers))
    media = _ok(
        await http.post(
            f"{base}/media",
            files={"file": ("green.png", _png(), "image/png")},
            data={"alt": "A green rectangle"},
            headers=headers,
        )
    )["id"]
    post = _ok(
        await http.post(
            f"{base}/posts",
            json={
                "title": "Winter launch",
                "body": "Our winter programme is out https://example.org #winter",
                "labels": [label],
                "plan_id": plan,
                "media": [{"media_id": media, "alt": "A green rectangle"}],
                "local_at": "2026-12-03T09:30",
                "channels": channels,
            },
            headers=headers,
        )
    )
    _ok(
        await http.post(
            f"{base}/posts",
            json={"title": "An idea", "status": "idea", "body": "Later"},
            headers=headers,
        )
    )
    updated = _ok(
        await http.patch(
            f"{base}/posts/{post['id']}",
            json={"body": "Our winter programme is out!", "version": post["version"]},
            headers=headers,
        )
    )
    _ok(
        await http.put(
            f"{base}/posts/{post['id']}/variants/{channels[0]}",
            json={"text": "Sandbox copy", "version": updated["version"]},
            headers=headers,
        )
    )
    revision = _ok(await http.get(f"{base}/posts/{post['id']}/revisions", headers=headers))
    comment = _ok(
        await http.post(
            f"{base}/posts/{post['id']}/comments", json={"body": "Looks good"}, headers=headers
        )
    )
    revisions = revision if isinstance(revision, list) else revision["items"]
    webhook = _ok(
        await http.post(
            f"{base}/webhooks",
            json={"url": "https://hooks.example.org/almanac", "event_types": ["missed"]},
            headers=headers,
        )
    )
    feed = await http.post(f"{base}/ical-feed", headers=headers)
    if feed.status_code != 404:  # the iCal feed (item 11), once it exists
        world.ids["feed_token"] = re.search(r"/ical/([^/]+)\.ics", _ok(feed)["url"])[1]
    async with database.read_session() as session:
        delivery = await session.scalar(
            select(Delivery.id).where(Delivery.post_id == uuid.UUID(post["id"])).limit(1)
        )
    assert delivery is not None, "the seeded post has deliveries (one per channel)"
    world.ids["delivery_id"] = str(delivery)
    world.ids.update(
        channel_id=channels[0],
        plan_id=plan,
        label_id=label,
        media_id=media,
        post_id=post["id"],
        revision_id=revisions[-1]["id"],
        comment_id=comment["id"],
        network="x",
        webhook_id=webhook["id"],
    )
    return world


def refuse_like_postgresql(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
    """SQLite stores what PostgreSQL refuses: a NUL character in text (a 500 there).
    Refuse it here too, so this SQLite run finds what would fail on PostgreSQL."""
    rows = parameters if executemany else [parameters]
    for row in rows:
        values = row.values() if isinstance(row, dict) else row or ()
        for value in values:
            if isinstance(value, str) and "\x00" in value:
                raise ValueError("a NUL character in a text value (PostgreSQL refuses it)")


# -- checks ------------------------------------------------------------------------------


# An error item is {field, network, message}; these extra keys are allowed, with the reason.
EXTRA_ERROR_KEYS = {
    "current_version": "a 412 on a stale post names the version to re-read (as its ETag does)",
    "row": "a CSV import's problem names its row (item 10)",
    "column": "a CSV import's problem names its column (item 10)",
}
ERROR_ITEM_KEYS = {"field", "network", "message", *EXTRA_ERROR_KEYS}


def error_shape(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every 4xx answer is DESIGN.md's one error shape."""
    if not 400 <= response.status_code < 500:
        return
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"a {response.status_code} without a JSON body") from None
    problems = []
    if not isinstance(body, dict) or set(body) != {"detail", "errors"}:
        problems.append("the body is not {detail, errors}")
    else:
        detail, errors = body["detail"], body["errors"]
        if not isinstance(detail, str) or not re.search(r"\w", detail):
            problems.append("detail is not a sentence")
        if not isinstance(errors, list) or not all(
            isinstance(item, dict)
            and {"field", "network", "message"} <= set(item) <= ERROR_ITEM_KEYS
            and isinstance(item["message"], str)
            and item["message"].strip()
            and all(isinstance(item[key], str | None) for key in ("field", "network"))
            for item in errors
        ):
            problems.append("errors is not a list of {field, network, message}")
    if problems:
        raise AssertionError(
            f"{response.status_code} error body: {'; '.join(problems)}: {str(body)[:300]}"
        )


CHECKS = [not_a_server_error, error_shape]


# -- the run -----------------------------------------------------------------------------


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: defaultdict[str, Counter[int]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    failures: list[str] = field(default_factory=list)

    def fail(self, operation: Any, how: str, exc: BaseException) -> None:
        self.failures.append(f"{operation.label} ({how}): {exc}"[:3000])


def _httpx_kwargs(case: schemathesis.Case, token: str) -> dict[str, Any]:
    """The request schemathesis prepared (requests-style), for httpx."""
    prepared = case.as_transport_kwargs(base_url=BASE_URL)
    kwargs: dict[str, Any] = {
        "method": prepared["method"],
        "url": prepared["url"],
        "params": prepared.get("params"),
        "headers": {**(prepared.get("headers") or {}), **bearer(token)},
    }
    if prepared.get("cookies"):  # httpx takes cookies on the client only
        kwargs["headers"]["cookie"] = "; ".join(f"{k}={v}" for k, v in prepared["cookies"].items())
    if "json" in prepared:
        kwargs["json"] = prepared["json"]
    if prepared.get("files"):
        # Multipart as schemathesis' own (requests) transport encodes it, fields and all.
        encoded = requests.Request(
            "POST", BASE_URL, files=prepared["files"], data=prepared.get("data")
        ).prepare()
        kwargs["content"] = encoded.body
        kwargs["headers"]["content-type"] = encoded.headers["content-type"]
    elif isinstance(prepared.get("data"), dict):
        kwargs["data"] = prepared["data"]
    elif prepared.get("data") is not None:
        data = prepared["data"]
        kwargs["content"] = data.encode() if isinstance(data, str) else data
    return kwargs


class Sender:
    """Sends a case on the app's event loop (from the generating thread) and tallies it.
    A 5xx fails at once, with the app's traceback when it raised."""

    def __init__(
        self, http: httpx.AsyncClient, loop: asyncio.AbstractEventLoop, token: str, tally: Tally
    ) -> None:
        self.http, self.loop, self.token, self.tally = http, loop, token, tally

    async def _request(self, kwargs: dict[str, Any]) -> httpx.Response:
        response = await self.http.request(**kwargs)
        await response.request.aread()  # a multipart body is a stream until read
        return response

    def __call__(self, case: schemathesis.Case) -> schemathesis.Response:
        kwargs = _httpx_kwargs(case, self.token)
        what = (
            f"{kwargs['method']} {kwargs['url']} params={kwargs.get('params')} "
            f"json={str(kwargs.get('json'))[:300]} content={str(kwargs.get('content'))[:200]}"
        )
        self.tally.requests += 1
        future = asyncio.run_coroutine_threadsafe(self._request(kwargs), self.loop)
        try:
            response = future.result()
        except Exception as exc:  # the app raised: a 500 (ASGITransport re-raises it)
            self.tally.statuses[500] += 1
            where = "".join(traceback.format_exception(exc)[-8:])
            raise AssertionError(f"unhandled {type(exc).__name__} for {what}\n{where}") from None
        self.tally.statuses[response.status_code] += 1
        self.tally.by_operation[case.operation.label][response.status_code] += 1
        if response.status_code >= 500:
            raise AssertionError(f"{response.status_code} for {what}: {response.text[:300]}")
        return schemathesis.Response.from_httpx(response, verify=False)


def _order(operation: Any) -> tuple[int, int]:
    """Reads first (they see the world as seeded), then writes, then DELETEs, the deepest
    paths first (a comment before its post), so the world stays whole for the others."""
    method = operation.method.upper()
    if method in ("GET", "HEAD"):
        return (0, 0)
    if method != "DELETE":
        return (1, 0)
    return (2, -operation.path.count("/"))


def _with_real_ids(case: schemathesis.Case, real: dict[str, str]) -> None:
    """Real ids for the path parameters, except one the case breaks on purpose (not a
    UUID: "0", "null"…), which stays as generated."""
    if not real:
        return
    values = dict(case.path_parameters or {})
    for name, value in real.items():
        if name not in values or _is_uuid(values[name]) or not _is_uuid(value):
            values[name] = value
    case.path_parameters = values


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def coverage_pass(
    schema: Any, operation: Any, real: dict[str, str], send: Sender, tally: Tally
) -> None:
    """Schemathesis' coverage phase: deterministic boundary cases (each limit, each
    missing required field, each wrong type, unexpected methods…), valid and invalid."""
    failed = 0
    for case in schema.iter_coverage_cases(
        operation,
        generation_modes=list(GenerationMode),
        generation_config=schema.config.generation_for(operation=operation),
    ):
        _with_real_ids(case, real)
        try:
            case.validate_response(send(case), checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup
            failed += 1
            if failed <= 3:  # the first few tell the story
                tally.fail(operation, "coverage", exc)


def fuzz_pass(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    path_parameters: dict[str, str] | None,
    send: Sender,
    tally: Tally,
) -> None:
    """Hypothesis over one operation's generated cases; a failure is collected (after
    hypothesis shrinks it), not raised."""
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @hypothesis_settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        case.validate_response(send(case), checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        pass  # nothing in this operation's input to break (negative mode)
    except (Exception, BaseExceptionGroup) as exc:
        ids = ", random ids" if path_parameters is None else ""
        tally.fail(operation, f"{mode.value}{ids}", exc)


async def test_generated_requests_get_no_5xx_and_shaped_4xx(
    app: FastAPI, database: Database, record_property: Callable[[str, object], None]
) -> None:
    if not database.is_sqlite:
        pytest.skip("the API fuzzing runs once, on SQLite")
    started = time.monotonic()
    tally = Tally()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        world = await seed(database, http)
        schema = schemathesis.openapi.from_dict(app.openapi())
        event.listen(database.engine.sync_engine, "before_cursor_execute", refuse_like_postgresql)
        send = Sender(http, asyncio.get_running_loop(), world.token, tally)
        operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
        unknown = sorted(
            {
                parameter.name
                for operation in operations
                for parameter in operation.path_parameters
                if parameter.name not in world.ids and operation.label not in SKIPPED
            }
        )
        assert not unknown, (
            f"path parameters without a real id in seed(): {unknown}; add one so the "
            "generated requests reach the handlers"
        )

        def run_all() -> None:
            for operation in operations:
                if operation.label in SKIPPED:
                    continue
                real = {p.name: world.ids[p.name] for p in operation.path_parameters}
                coverage_pass(schema, operation, real, send, tally)
                fuzz_pass(operation, GenerationMode.POSITIVE, POSITIVE_EXAMPLES, real, send, tally)
                fuzz_pass(operation, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES, real, send, tally)
                if real:
                    fuzz_pass(
                        operation, GenerationMode.POSITIVE, RANDOM_PATH_EXAMPLES, None, send, tally
                    )

        # Generation runs in a worker thread; the app stays on this loop (Sender).
        try:
            await asyncio.to_thread(run_all)
        finally:
            event.remove(
                database.engine.sync_engine, "before_cursor_execute", refuse_like_postgresql
            )

    elapsed = time.monotonic() - started
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(tally.statuses.items()))
    summary = (
        f"API fuzzing (schemathesis {schemathesis.__version__}): {tally.requests} requests "
        f"over {len(operations)} operations in {elapsed:.0f} s ({statuses})"
    )
    if os.environ.get("ALMANAC_FUZZ_REPORT"):  # per-operation statuses, to see what is reached
        for label, counts in tally.by_operation.items():
            print(label, dict(sorted(counts.items())))
    assert not tally.failures, summary + "\n\n" + "\n\n".join(tally.failures)
    assert tally.requests >= MINIMUM_REQUESTS, summary
    record_property("summary", summary)


# -- values a generator rarely draws, on both databases -----------------------------------

PAGO = "Pacific/Pago_Pago"  # UTC-11
LAST = "9999-12-31T23:59:59-14:00"
# (method, path under the workspace or absolute, request keywords): each once made a 500.
EDGES: list[tuple[str, str, dict[str, Any]]] = [
    # Instants whose UTC conversion leaves Python's datetime range (OverflowError).
    ("GET", "posts", {"params": {"from": "9999-12-31T23:59:59-14:00"}}),
    ("GET", "posts", {"params": {"to": "0001-01-01T00:00:00+14:00"}}),
    ("GET", "audit", {"params": {"before": "0001-01-01T00:00:00+14:00"}}),
    ("POST", "posts", {"json": {"title": "t", "local_at": "9999-12-31T23:59:59-14:00"}}),
    (
        "POST",
        "posts",
        {"json": {"title": "t", "local_at": "9999-12-31T23:59", "timezone": "Pacific/Pago_Pago"}},
    ),
    (
        "POST",
        "/api/v1/auth/tokens",
        {"json": {"name": "x", "expires_at": "9999-12-31T23:59:59-14:00"}},
    ),
    # Integers past the database's (SQLite: OverflowError; PostgreSQL: out of range).
    ("GET", "posts", {"params": {"offset": 2**63}}),
    ("DELETE", "posts/{post_id}", {"params": {"version": 2**63}}),
    ("PATCH", "posts/{post_id}", {"json": {"title": "x", "version": 2**40}}),
    # NUL characters, which PostgreSQL cannot store in text.
    ("POST", "labels", {"json": {"name": "a\x00b"}}),
    ("POST", "posts", {"json": {"title": "a\x00", "status": "idea"}}),
    ("PATCH", "media/{media_id}", {"json": {"alt": "\x00"}}),
    ("POST", "pause", {"json": {"reason": "\x00"}}),
    (
        "POST",
        "channels",
        {"json": {"network": "sandbox", "name": "n", "credentials": {"k\x00": 1}}},
    ),
    ("GET", "audit", {"params": {"action": "a\x00"}}),
]


async def test_edge_values_get_a_shaped_4xx(app: FastAPI, database: Database) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        world = await seed(database, http)
        base = f"/api/v1/workspaces/{world.ids['workspace_id']}/"
        problems = []
        for method, path, kwargs in EDGES:
            url = path.format(**world.ids)
            url = url if url.startswith("/") else base + url
            try:
                response = await http.request(method, url, headers=bearer(world.token), **kwargs)
            except Exception as exc:
                problems.append(f"{method} {path} {kwargs}: {type(exc).__name__}: {exc}")
                continue
            body = response.json()
            if not 400 <= response.status_code < 500 or set(body) != {"detail", "errors"}:
                problems.append(f"{method} {path} {kwargs}: {response.status_code} {body}")
    assert not problems, "\n".join(problems)
