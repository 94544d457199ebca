"""Authorization by construction: routes get the caller, their membership and the
resource through these dependencies, never by remembering to check.

- ``CurrentPrincipal`` / ``CurrentUser``: 401 (API) for anonymous callers.
- ``PageUser``: the same for HTML pages, redirecting anonymous visitors to sign-in.
- ``Authorize(action)``: resolves ``{workspace_id}`` and the caller's membership;
  a workspace the caller is not a member of answers 404 (no existence leak), a
  role the policy refuses answers 403.
- ``in_workspace(...)``: loads a resource of that workspace or answers 404.

CSRF: a cookie-authenticated unsafe request must carry the session's CSRF token
(``X-CSRF-Token`` header or ``csrf_token`` form field); bearer-token calls need none.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import sessions
from app.auth.policy import Action, allowed
from app.auth.sessions import Principal
from app.auth.tokens import same
from app.deps import SAFE_METHODS, SessionDep
from app.errors import AppError, Forbidden, NotFound
from app.models import Membership, Role, User, Workspace, utcnow

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class Unauthorized(AppError):
    status_code = 401

    def __init__(
        self, detail: str = "Sign in or send an API token (Authorization: Bearer …)."
    ) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class SignInRequired(AppError):
    """Raised by page dependencies; rendered as a redirect to the sign-in page."""

    status_code = 303

    def __init__(self, next_url: str) -> None:
        super().__init__(
            "Sign in to continue.", headers={"Location": f"/sign-in?next={quote(next_url)}"}
        )


async def _csrf_token_sent(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def resolve_principal(request: Request, db: AsyncSession) -> Principal | None:
    """The caller, once per request (cached on request.state)."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    settings = request.app.state.settings
    principal: Principal | None = None
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthorized("Use 'Authorization: Bearer <API token>'.")
        principal = await sessions.token_principal(db, credential.strip())
        if principal is None:
            raise Unauthorized("This API token is invalid, expired or revoked.")
    else:
        cookie = request.cookies.get(sessions.SESSION_COOKIE)
        token = sessions.unsign_session_token(settings.secret_key, cookie) if cookie else None
        if token:
            principal = await sessions.session_principal(db, token)
        if principal is not None and request.method not in SAFE_METHODS:
            sent = await _csrf_token_sent(request)
            if not sent or not same(sent, principal.session.csrf_token):  # type: ignore[union-attr]
                await request.close()  # a parsed multipart form holds open temp files
                raise Forbidden(
                    "This form has expired or did not come from Almanac "
                    "(CSRF token missing or wrong); reload the page and try again."
                )
    if principal is not None and sessions.needs_touch(principal):
        if request.method in SAFE_METHODS:
            await sessions.touch(request.app.state.database.write_session, principal)
        else:
            # This request already holds the write transaction (on SQLite, the write
            # lock): a second one would wait for it until the busy timeout. Record the
            # use in this one; it commits with the request.
            now = utcnow()
            if principal.session is not None:
                principal.session.last_seen_at = now
            elif principal.token is not None:
                principal.token.last_used_at = now
    request.state.principal = principal
    return principal


async def optional_principal(request: Request, db: SessionDep) -> Principal | None:
    return await resolve_principal(request, db)


async def current_principal(request: Request, db: SessionDep) -> Principal:
    principal = await resolve_principal(request, db)
    if principal is None:
        raise Unauthorized()
    return principal


async def page_principal(request: Request, db: SessionDep) -> Principal:
    principal = await resolve_principal(request, db)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
PagePrincipal = Annotated[Principal, Depends(page_principal)]


async def _current_user(principal: CurrentPrincipal) -> User:
    return principal.user


async def _page_user(principal: PagePrincipal) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(_current_user)]
PageUser = Annotated[User, Depends(_page_user)]


@dataclass(frozen=True)
class Member:
    """The caller as a member of the workspace in the path."""

    user: User
    workspace: Workspace
    role: Role
    principal: Principal

    def may(self, action: Action) -> bool:
        return allowed(self.role, action)


async def membership_of(
    db: AsyncSession, user: User, workspace_id: uuid.UUID
) -> tuple[Workspace, Role] | None:
    row = (
        await db.execute(
            select(Workspace, Membership.role)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .where(Workspace.id == workspace_id, Membership.user_id == user.id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


class Authorize:
    """Dependency: the caller must be a member of ``{workspace_id}`` whose role the
    policy allows ``action``. ``page=True`` redirects anonymous visitors to sign-in."""

    def __init__(self, action: Action, *, page: bool = False) -> None:
        self.action = action
        self.page = page

    async def __call__(self, request: Request, workspace_id: uuid.UUID, db: SessionDep) -> Member:
        principal = await (page_principal if self.page else current_principal)(request, db)
        found = await membership_of(db, principal.user, workspace_id)
        if found is None:
            raise NotFound("No such workspace.")
        workspace, role = found
        if not allowed(role, self.action):
            raise Forbidden(
                f"Your role ({role.value}) in this workspace does not allow this "
                f"({self.action.value})."
            )
        return Member(user=principal.user, workspace=workspace, role=role, principal=principal)

    def __repr__(self) -> str:
        return f"Authorize({self.action.value!r}, page={self.page})"


def authorize(action: Action, *, page: bool = False) -> Any:
    """``member: Annotated[Member, authorize(Action.posts_write)]``"""
    return Depends(Authorize(action, page=page))


M = TypeVar("M")


async def in_workspace(
    db: AsyncSession, model: type[M], resource_id: uuid.UUID, member: Member, what: str
) -> M:
    """A resource of the member's workspace, or 404 (also for other workspaces' ones)."""
    resource = await db.get(model, resource_id)
    if resource is None or getattr(resource, "workspace_id", None) != member.workspace.id:
        raise NotFound(f"No such {what}.")
    return resource
