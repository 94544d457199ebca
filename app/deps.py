"""Request dependencies, as named aliases that later ones chain on.

One commit point per request: the session dependency commits after the handler
returns and before the response is sent, or rolls back if it raised. Safe methods
get a plain (deferred) session, others a write session (``BEGIN IMMEDIATE`` on
SQLite).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, session_scope
from app.errors import Invalid
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


NUL = "\x00"


async def refuse_nul_characters(request: Request) -> None:
    """422 for a NUL character (U+0000) in the path, the query or a JSON body: no text
    column of PostgreSQL can hold one (the driver refuses the whole statement, a 500).
    Runs for every API route (``app.api``); multipart and CSV bodies are their routes'."""
    fields = [name for name, value in request.path_params.items() if NUL in str(value)]
    fields += [name for name, value in request.query_params.multi_items() if NUL in name + value]
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()  # cached: the route reads the same bytes
        if b"\\u0000" in body:
            with contextlib.suppress(ValueError):  # not JSON: the route's validation answers
                fields += list(_nul_fields(json.loads(body), ""))
    if fields:
        raise Invalid(
            "Text cannot contain the NUL character (U+0000); remove it and send again.",
            errors=[
                {"field": field, "network": None, "message": "contains the NUL character"}
                for field in dict.fromkeys(fields)
            ],
        )


def _nul_fields(value: Any, where: str) -> Iterator[str]:
    if isinstance(value, str):
        if NUL in value:
            yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            if NUL in key:
                yield inner
            yield from _nul_fields(item, inner)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_fields(item, f"{where}.{index}" if where else str(index))
