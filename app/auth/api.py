"""Auth JSON routes: e-mail + password → API token, token management, the caller.

``POST /auth/token`` is public (throttled like the sign-in page); the others need
a caller (Bearer token, or the session cookie with its CSRF token for writes).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from app.auth import service
from app.auth.deps import CurrentPrincipal, CurrentUser
from app.auth.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenRead,
    MembershipRead,
    MeRead,
    TokenIssued,
    TokenRequest,
)
from app.deps import SessionDep
from app.errors import Invalid
from app.models import ApiToken, utcnow

router = APIRouter(prefix="/auth", tags=["auth"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Wrong e-mail or password."},
    429: {"description": "Too many failed sign-ins; see the Retry-After header."},
}


def _token_read(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "last_used_at": row.last_used_at,
        "revoked": row.revoked_at is not None,
    }


def _refusal(status_code: int, detail: str, headers: dict[str, str]) -> JSONResponse:
    # Returned, not raised: the failed attempt and its audit event must commit.
    return JSONResponse({"detail": detail, "errors": []}, status_code=status_code, headers=headers)


@router.post(
    "/token",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenIssued,
    responses=_ERRORS,
)
async def issue_token(body: TokenRequest, request: Request, db: SessionDep) -> Any:
    """Exchange an e-mail and password for an API token (its value is shown once)."""
    outcome = await service.authenticate(
        db, email=body.email, password=body.password, request=request
    )
    if outcome.retry_after is not None:
        return _refusal(
            429,
            service.throttle_message(outcome.retry_after),
            {"Retry-After": str(outcome.retry_after)},
        )
    if outcome.user is None:
        return _refusal(401, service.WRONG_CREDENTIALS, {"WWW-Authenticate": "Bearer"})
    expires_at = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    value, row = await service.create_api_token(
        db, outcome.user, name=body.name, expires_at=expires_at, request=request
    )
    return TokenIssued(token=value, id=row.id, prefix=row.prefix, expires_at=row.expires_at)


@router.get("/me", response_model=MeRead)
async def me(user: CurrentUser, db: SessionDep) -> MeRead:
    """The caller: who they are and their role in each workspace."""
    rows = await service.memberships(db, user)
    return MeRead(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        memberships=[
            MembershipRead(workspace_id=ws.id, workspace_name=ws.name, role=role)
            for ws, role in rows
        ],
    )


@router.get("/tokens", response_model=list[ApiTokenRead])
async def list_tokens(user: CurrentUser, db: SessionDep) -> list[dict[str, Any]]:
    """The caller's API tokens, newest first (never their values)."""
    return [_token_read(row) for row in await service.list_api_tokens(db, user)]


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=ApiTokenCreated)
async def create_token(
    body: ApiTokenCreate, principal: CurrentPrincipal, request: Request, db: SessionDep
) -> dict[str, Any]:
    """Create an API token for the caller; its value is in this answer only."""
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise Invalid(
            "The expiry date is in the past; pick a future date or leave it empty.",
            errors=[{"field": "expires_at", "network": None, "message": "in the past"}],
        )
    value, row = await service.create_api_token(
        db, principal.user, name=body.name, expires_at=body.expires_at, request=request
    )
    return {**_token_read(row), "token": value}


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "No such API token (or not yours)."}},
)
async def revoke_token(
    token_id: uuid.UUID, user: CurrentUser, request: Request, db: SessionDep
) -> Response:
    """Revoke one of the caller's API tokens; it stops working at once."""
    await service.revoke_api_token(db, user, token_id, request=request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
