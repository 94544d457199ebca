"""The authorization test that cannot be forgotten.

Every route of the app (read from the app's own route list, not from a hand list)
is called by every kind of caller, with real resources of the right workspace:

- anonymous → 401 (API) or a redirect to sign-in (pages);
- a member of another workspace → 404 on every workspace route;
- each role → 403 exactly when ``app.auth.policy.POLICY`` refuses it, else allowed;
- the owner, naming another workspace's resource (channel, member, token…) → 404;
- a cookie-authenticated write without the CSRF token → 403.

What a route requires is read from its dependencies (``Authorize(action)``,
``CurrentUser``, ``PageUser``…, see ``tests/authz.py``). A route that asks nothing of
its caller fails this test unless it is in ``PUBLIC`` below, with a reason. A route
with a path parameter this test cannot fill fails until a factory is added to
``RESOURCES``. Run with ``-s`` to see how many checks ran.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI

from app.auth.deps import Authorize, CurrentUser, Member, PageUser, in_workspace
from app.auth.policy import POLICY, Action, allowed
from app.db import Database
from app.deps import SessionDep
from app.errors import NotFound
from app.main import create_app
from app.models import Channel, Role
from app.settings import Settings
from tests.authz import (
    Resource,
    ResourceScope,
    add_api_token,
    add_invitation,
    run_matrix,
    survey_routes,
)
from tests.factories import make_channel, make_membership

# Routes anyone may call, by path (every method of it), each with the reason.
# Keep it small: everything else needs a signed-in caller.
PUBLIC: dict[str, str] = {
    "/healthz": "liveness probe for the orchestrator; answers only 'ok'",
    "/readyz": "readiness probe: whether the database and a scheduler are up, no data",
    "/metrics": "Prometheus scrape: counts only, no names or ids; ALMANAC_METRICS_TOKEN bearer "
    "or, without a token, loopback clients only (403 otherwise)",
    "/openapi.json": "the API's description (no data), read by the documentation pages",
    "/docs": "the interactive API documentation",
    "/docs/oauth2-redirect": "part of the interactive API documentation",
    "/redoc": "the API documentation",
    "/static": "the pages' CSS, JavaScript and icons",
    "/": "home page: what Almanac is and whether this install is healthy (no workspace data)",
    "/sign-in": "where anonymous visitors sign in (throttled; the same-origin check guards it)",
    "/sign-out": "needs no session to succeed; with one, the CSRF token is still required",
    "/setup": "first run only: creates the owner with the setup token from the server log",
    "/api/v1/auth/token": "trades an e-mail and password for an API token (throttled, audited)",
    "/invitations/{token}": "the invitation link: its secret token is the permission to see it",
    "/invitations/{token}/sign-up": "creates the invited person's account; the token is the key",
    "/m/{media_id}": "media for networks that fetch by URL (Instagram, Threads): the link's "
    "HMAC signature and expiry are the permission (403 otherwise)",
    "/ical/{feed_token}.ics": "a workspace's calendar feed for calendar clients, which send no "
    "credentials: the secret token in the URL (stored hashed, rotatable by admins) is the "
    "permission; an unknown token answers 404",
}


# -- factories: a real resource for each path parameter -------------------------------
# Each makes a fresh one in scope.workspace_id (owned by scope.user where a resource
# belongs to a person), adds it to scope.session without committing, returns its id.


async def a_channel(scope: ResourceScope) -> str:
    return str((await make_channel(scope.session, workspace_id=scope.workspace_id)).id)


async def a_member(scope: ResourceScope) -> str:
    membership = await make_membership(
        scope.session, workspace_id=scope.workspace_id, role=Role.viewer
    )
    return str(membership.user_id)


async def an_api_token(scope: ResourceScope) -> str:
    _, row = await add_api_token(scope.session, scope.user, name="spare")
    return str(row.id)


async def an_invitation(scope: ResourceScope) -> str:
    _, row = await add_invitation(scope.session, scope.workspace_id, scope.user.id)
    return str(row.id)


async def an_invitation_link(scope: ResourceScope) -> str:
    """The secret of a link inviting scope.user's address (a link is for one address)."""
    token, _ = await add_invitation(scope.session, scope.workspace_id, None, email=scope.user.email)
    return token


async def a_media_file(scope: ResourceScope) -> str:
    """A media row (its bytes are not on disk: downloading it answers 410 Gone)."""
    import hashlib

    from app.models import Media

    media = Media(
        workspace_id=scope.workspace_id,
        sha256=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        filename="a.png",
        mime_type="image/png",
        size_bytes=16,
        alt="",
    )
    scope.session.add(media)
    await scope.session.flush()
    return str(media.id)


async def a_plan(scope: ResourceScope) -> str:
    from tests.factories import make_plan

    return str((await make_plan(scope.session, workspace_id=scope.workspace_id)).id)


async def a_label(scope: ResourceScope) -> str:
    from tests.factories import make_label

    return str((await make_label(scope.session, workspace_id=scope.workspace_id)).id)


async def a_post(scope: ResourceScope) -> str:
    from tests.factories import make_post

    post = await make_post(scope.session, workspace_id=scope.workspace_id)
    return str(post.id)


async def _the_post(scope: ResourceScope) -> uuid.UUID:
    """The post the route's {post_id} was filled with (made just before, in this
    workspace), so a revision or comment is found under it."""
    from sqlalchemy import select

    from app.models import Post
    from tests.factories import make_post

    found = await scope.session.scalar(
        select(Post.id)
        .where(Post.workspace_id == scope.workspace_id)
        .order_by(Post.created_at.desc())
        .limit(1)
    )
    return found or (await make_post(scope.session, workspace_id=scope.workspace_id)).id


async def a_revision(scope: ResourceScope) -> str:
    from app.models import Revision

    revision = Revision(
        post_id=await _the_post(scope), version=1, action="created", changed=[], after={}
    )
    scope.session.add(revision)
    await scope.session.flush()
    return str(revision.id)


async def a_comment(scope: ResourceScope) -> str:
    """A comment of the caller (authors may delete their own)."""
    from app.models import Comment

    comment = Comment(
        post_id=await _the_post(scope), author_id=scope.user.id, body="hi", mentions=[]
    )
    scope.session.add(comment)
    await scope.session.flush()
    return str(comment.id)


async def a_webhook(scope: ResourceScope) -> str:
    from app.crypto import CredentialBox
    from app.models import WebhookEndpoint
    from tests.conftest import TEST_KEYS

    endpoint = WebhookEndpoint(
        workspace_id=scope.workspace_id,
        url_encrypted=CredentialBox(TEST_KEYS).seal({"url": "https://hooks.example.org/almanac"}),
        host="hooks.example.org",
        event_types=["missed"],
        secret_encrypted=CredentialBox(TEST_KEYS).seal({"secret": "whsec_test"}),
    )
    scope.session.add(endpoint)
    await scope.session.flush()
    return str(endpoint.id)


async def a_delivery(scope: ResourceScope) -> str:
    """A pending delivery of a post of the workspace (a draft: nothing claims it)."""
    from tests.factories import make_delivery, make_post, make_variant

    channel = await make_channel(scope.session, workspace_id=scope.workspace_id)
    post = await make_post(scope.session, workspace_id=scope.workspace_id)
    variant = await make_variant(scope.session, post=post, channel=channel)
    return str((await make_delivery(scope.session, variant=variant)).id)


async def a_network(scope: ResourceScope) -> str:
    """A network connected with OAuth (its name, not a row: nothing to hide)."""
    return "x"


RESOURCES: dict[str, Resource] = {
    "channel_id": Resource(a_channel),
    "user_id": Resource(a_member),
    "token_id": Resource(an_api_token),
    "invitation_id": Resource(an_invitation),
    "token": Resource(an_invitation_link, scoped=False),
    "plan_id": Resource(a_plan),
    "label_id": Resource(a_label),
    "media_id": Resource(a_media_file),
    "post_id": Resource(a_post),
    "revision_id": Resource(a_revision),
    "comment_id": Resource(a_comment),
    "network": Resource(a_network, scoped=False),
    "webhook_id": Resource(a_webhook),
    "delivery_id": Resource(a_delivery),
}


# -- the matrix over the real app ------------------------------------------------------------


async def test_every_route_answers_as_the_policy_says(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    record_property: Callable[[str, object], None],
) -> None:
    survey = survey_routes(app, PUBLIC, RESOURCES)
    assert not survey.problems, "Routes the authorization matrix cannot check:\n" + "\n".join(
        survey.problems
    )
    stale = sorted(set(PUBLIC) - survey.public)
    assert not stale, f"PUBLIC names routes that no longer exist or now need a caller: {stale}"
    assert any(case.path.endswith("/audit") for case in survey.cases), "no route was found"

    result = await run_matrix(client, database, survey.cases, RESOURCES, settings.secret_key)
    # Shown at the end of every run (tests/conftest.py prints "summary" properties).
    record_property(
        "summary", f"[{'sqlite' if database.is_sqlite else 'postgresql'}] {result.summary}"
    )
    assert not result.failures, f"{len(result.failures)} of {result.checks} checks failed:\n" + (
        "\n".join(result.failures)
    )


def test_the_policy_names_every_action() -> None:
    assert set(POLICY) == set(Action), "every Action needs its roles in POLICY"
    for action, roles in POLICY.items():
        assert Role.owner in roles, f"owners may do everything, not {action}"
        if not action.value.endswith(".read"):
            assert not allowed(Role.viewer, action), f"viewers only read, not {action}"
    assert not allowed(Role.editor, Action.members_manage)
    assert not allowed(Role.reviewer, Action.posts_write)
    assert not allowed(Role.editor, Action.posts_approve)


# -- the matrix catches what it is there to catch ----------------------------------------


def _app_with_test_routes(settings: Settings, database: Database) -> FastAPI:
    """The real app plus routes under /_test/: some right, some wrong on purpose."""
    app = create_app(settings, database)
    ws = "/api/v1/workspaces/{workspace_id}"

    @app.get("/api/v1/_test/open")
    async def open_route(db: SessionDep) -> dict[str, bool]:
        return {"open": True}

    @app.get(ws + "/_test/no-membership")
    async def no_membership(workspace_id: uuid.UUID, user: CurrentUser) -> dict[str, bool]:
        return {"ok": True}

    @app.get(ws + "/_test/things/{thing_id}")
    async def unknown_param(
        thing_id: uuid.UUID, member: Annotated[Member, Depends(Authorize(Action.posts_read))]
    ) -> dict[str, bool]:
        return {"ok": True}

    @app.get("/_test/page-with-api-auth")
    async def page_with_api_auth(user: CurrentUser) -> dict[str, bool]:
        return {"ok": True}

    @app.get("/_test/mixed")
    async def mixed(user: CurrentUser, same_user: PageUser) -> dict[str, bool]:
        return {"ok": True}

    @app.get(ws + "/_test/channels/{channel_id}/leaky")
    async def leaky(
        channel_id: uuid.UUID,
        member: Annotated[Member, Depends(Authorize(Action.channels_read))],
        db: SessionDep,
    ) -> dict[str, str]:
        channel = await db.get(Channel, channel_id)  # forgets in_workspace(): a leak
        if channel is None:
            raise NotFound("No such channel.")
        return {"name": channel.name}

    @app.delete(ws + "/_test/channels/{channel_id}")
    async def delete_channel(
        channel_id: uuid.UUID,
        member: Annotated[Member, Depends(Authorize(Action.channels_manage))],
        db: SessionDep,
    ) -> None:
        await db.delete(await in_workspace(db, Channel, channel_id, member, "channel"))

    # Authorization from the router's dependencies, not the route's parameters.
    guarded = APIRouter(dependencies=[Depends(Authorize(Action.audit_read))])

    @guarded.get("/_test/router-guarded")
    async def router_guarded() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(guarded, prefix=ws)

    @app.post("/workspaces/{workspace_id}/_test/page-form")
    async def page_form(
        member: Annotated[Member, Depends(Authorize(Action.posts_write, page=True))],
    ) -> dict[str, bool]:
        return {"ok": True}

    @app.get("/_test/page")
    async def page(user: PageUser) -> dict[str, bool]:
        return {"ok": True}

    return app


async def test_the_matrix_catches_routes_that_forget_authorization(
    settings: Settings, database: Database
) -> None:
    app = _app_with_test_routes(settings, database)
    survey = survey_routes(app, PUBLIC, RESOURCES)
    problems = "\n".join(p for p in survey.problems if "/_test/" in p)
    assert "GET /api/v1/_test/open asks nothing of its caller" in problems
    assert "/_test/no-membership: a route under {workspace_id} must use Authorize" in problems
    assert "/_test/things/{thing_id} has path parameter(s) thing_id" in problems
    assert "GET /_test/page-with-api-auth: a page sends anonymous visitors to sign-in" in problems
    assert "GET /_test/mixed: mixes page dependencies" in problems
    assert len(problems.splitlines()) == 5, problems

    cases = [case for case in survey.cases if "/_test/" in case.path]
    assert {str(case) for case in cases} == {
        "GET /api/v1/workspaces/{workspace_id}/_test/channels/{channel_id}/leaky",
        "DELETE /api/v1/workspaces/{workspace_id}/_test/channels/{channel_id}",
        "GET /api/v1/workspaces/{workspace_id}/_test/router-guarded",
        "POST /workspaces/{workspace_id}/_test/page-form",
        "GET /_test/page",
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        result = await run_matrix(client, database, cases, RESOURCES, settings.secret_key)
    # The one leak, and nothing else: each probe had resources of its own, so the
    # DELETE did not take the channel from under the others.
    assert len(result.failures) == 1, result.failures
    leak = result.failures[0]
    assert leak.startswith(
        "GET /api/v1/workspaces/{workspace_id}/_test/channels/{channel_id}/leaky as "
        "owner, with another workspace's channel_id"
    ), leak
    assert leak.endswith("expected 404 (no existence leak), got 200"), leak
    assert result.checks == 5 * 7 + 2 + 2  # + 2 cross-workspace, + 2 CSRF (DELETE, POST)
