"""Request dependencies, as named aliases that later ones chain on.

One commit point per request: the session dependency commits after the handler
returns and before the response is sent, or rolls back if it raised. Safe methods
get a plain (deferred) session, others a write session (``BEGIN IMMEDIATE`` on
SQLite).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, session_scope
from app.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_database(request: Request) -> Database:
    return request.app.state.database


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    factory = database.read_session if request.method in SAFE_METHODS else database.write_session
    async with session_scope(factory) as session:
        yield session


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
# scope="function": commit (or roll back) when the route returns, BEFORE the response
# is sent. With the default ("request") the commit would run after the client got its
# answer: a follow-up request could read the old state, and a failed commit would go
# unnoticed behind a 2xx.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
