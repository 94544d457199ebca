"""The invitation page: what an invitation link opens.

``GET /invitations/{token}`` says which workspace and role the link offers and what
to do next, depending on who opens it:

- signed in with the invited address: a button to join (``POST`` the same URL);
- signed in as someone else: why they cannot accept it (the link is for one address);
- not signed in, and no account has the invited address: a form that creates the
  account, joins and signs in (``POST .../sign-up``);
- not signed in, an account exists: a link to sign in and come back.

A link that was used, withdrawn or has expired answers 410 with a page saying so
(but the person who used it sees that they joined); an unknown token answers 404.
The sign-up form has no session to bind a CSRF token to: the same-origin check of
:mod:`app.security` refuses forged cross-site posts, and the link's token is itself
the secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import sessions
from app.auth.deps import OptionalPrincipal, PagePrincipal
from app.deps import SessionDep, SettingsDep
from app.errors import AppError, NotFound
from app.models import Role, User
from app.users.service import get_user_by_email
from app.web.frame import render
from app.workspaces import service
from app.workspaces.service import InvitationLookup

router = APIRouter()

ROLE_SUMMARIES = {
    Role.owner: "everything, including the workspace's settings and its owners",
    Role.admin: "manage members and channels, and everything editors and reviewers do",
    Role.editor: "plan and write posts and schedule them",
    Role.reviewer: "review and approve posts",
    Role.viewer: "see the calendar and the posts",
}

State = Literal[
    "not_found", "gone", "joined", "accept", "wrong_account", "member", "sign_up", "sign_in"
]


@dataclass(frozen=True)
class InvitationView:
    """What the page shows of an invitation (no ORM object reaches the template)."""

    token: str
    workspace_name: str
    email: str
    role: str
    role_summary: str
    invited_by: str | None
    expires_at: datetime

    @property
    def action(self) -> str:
        return f"/invitations/{self.token}"

    @property
    def sign_in_url(self) -> str:
        return f"/sign-in?next={quote(self.action)}"


@dataclass
class PageState:
    state: State
    message: str | None = None
    field_errors: dict[str, str] = field(default_factory=dict)
    display_name: str = ""


def _view(token: str, found: InvitationLookup) -> InvitationView:
    invitation = found.invitation
    inviter = found.invited_by
    return InvitationView(
        token=token,
        workspace_name=found.workspace.name,
        email=invitation.email,
        role=invitation.role.value,
        role_summary=ROLE_SUMMARIES[invitation.role],
        invited_by=f"{inviter.display_name} ({inviter.email})" if inviter else None,
        expires_at=invitation.expires_at,
    )


async def _state_for(db: AsyncSession, found: InvitationLookup, user: User | None) -> PageState:
    invitation = found.invitation
    if found.problem:
        if user is not None and invitation.accepted_by_id == user.id:
            return PageState("joined")
        return PageState("gone", found.problem)
    if user is not None:
        refusal = service.wrong_account(found, user)
        if refusal:
            return PageState("wrong_account", refusal)
        if await service.is_member(db, found.workspace.id, user.id):
            return PageState("member", f"You are already a member of {found.workspace.name}.")
        return PageState("accept")
    if await get_user_by_email(db, invitation.email) is not None:
        return PageState("sign_in")
    return PageState("sign_up")


STATUS = {"not_found": 404, "gone": 410}


async def _page(
    request: Request,
    db: AsyncSession,
    view: InvitationView | None,
    page: PageState,
    status_code: int | None = None,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "invite": view,
        "state": page.state,
        "message": page.message,
        "field_errors": page.field_errors,
        "display_name": page.display_name,
    }
    response = await render(
        request,
        db,
        "invitation.html",
        context,
        status_code=status_code or STATUS.get(page.state, 200),
    )
    # The URL carries the invitation's secret: keep the page out of every cache.
    response.headers["cache-control"] = "no-store"
    return response


async def _lookup(db: AsyncSession, token: str) -> InvitationLookup | None:
    try:
        return await service.find_invitation(db, token)
    except NotFound:
        return None


async def _not_found(request: Request, db: AsyncSession) -> HTMLResponse:
    message = (
        "This invitation link is not valid. Check that you copied all of it, or ask an "
        "admin of the workspace for a new one."
    )
    return await _page(request, db, None, PageState("not_found", message))


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/invitations/{token}", response_class=HTMLResponse)
async def invitation_page(
    token: str, request: Request, db: SessionDep, principal: OptionalPrincipal
) -> Response:
    """The invitation: which workspace, which role, and how to accept it."""
    found = await _lookup(db, token)
    if found is None:
        return await _not_found(request, db)
    user = principal.user if principal else None
    return await _page(request, db, _view(token, found), await _state_for(db, found, user))


@router.post("/invitations/{token}", response_class=HTMLResponse)
async def accept_invitation(
    token: str, request: Request, db: SessionDep, principal: PagePrincipal
) -> Response:
    """Join the workspace as the signed-in user (whose address must be the invited one)."""
    found = await _lookup(db, token)
    if found is None:
        return await _not_found(request, db)
    view = _view(token, found)
    try:
        # A savepoint: a refusal leaves nothing behind, and the page still renders.
        async with db.begin_nested():
            await service.accept_invitation(db, token=token, user=principal.user, request=request)
    except AppError as refused:
        page = await _state_for(db, found, principal.user)
        page.message = refused.detail
        return await _page(request, db, view, page, status_code=refused.status_code)
    return _redirect(view.action)


@router.post("/invitations/{token}/sign-up", response_class=HTMLResponse)
async def sign_up(
    token: str,
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: OptionalPrincipal,
    display_name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    password_confirm: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Create the invited person's account, join the workspace and sign in."""
    found = await _lookup(db, token)
    if found is None:
        return await _not_found(request, db)
    view = _view(token, found)
    if principal is not None:
        page = await _state_for(db, found, principal.user)
        page.message = (
            f"You are already signed in as {principal.user.email}; sign out first to create "
            "another account."
        )
        return await _page(request, db, view, page, status_code=409)
    retry = PageState("sign_up", display_name=display_name)
    if password != password_confirm:
        retry.message = "The two passwords are not the same; type them again."
        retry.field_errors["password_confirm"] = "Not the same as the password."
        return await _page(request, db, view, retry, status_code=422)
    try:
        async with db.begin_nested():
            user, _workspace = await service.sign_up_and_accept(
                db, token=token, display_name=display_name, password=password, request=request
            )
    except AppError as refused:
        if refused.status_code == 422:
            retry.message = refused.detail
            retry.field_errors = {
                str(error["field"]): str(error["message"]).capitalize() + "."
                for error in refused.errors
                if error.get("field")
            }
            return await _page(request, db, view, retry, status_code=422)
        page = await _state_for(db, found, None)
        page.message = refused.detail
        return await _page(request, db, view, page, status_code=refused.status_code)
    raw, _row = await sessions.start_session(
        db,
        user,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    response = _redirect(view.action)
    sessions.set_session_cookie(response, settings, raw)
    return response
