"""Helpers for the sign-in, setup and API token tests: users with a password, clients
at a given address, signing in through the real form."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.db import Database
from app.models import AuditEvent, User
from app.users.service import create_user

PASSWORD = "correct horse battery staple"
HTML = {"accept": "text/html,application/xhtml+xml"}
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


async def add_user(
    database: Database, *, email: str | None = None, password: str = PASSWORD, **kw: Any
) -> User:
    async with database.write_session() as db:
        user = await create_user(
            db,
            email=email or f"user-{uuid.uuid4().hex[:10]}@example.org",
            display_name=kw.pop("display_name", "Ada Lovelace"),
            password=password,
        )
        for key, value in kw.items():
            setattr(user, key, value)
        await db.commit()
    return user


@asynccontextmanager
async def client_at(app: FastAPI, ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``ip``."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, **form: str
) -> httpx.Response:
    return await client.post(
        "/sign-in", data={"email": email, "password": password, **form}, headers=HTML
    )


async def csrf_of(client: httpx.AsyncClient) -> str:
    """The CSRF token of the client's session, read from a signed-in page."""
    page = await client.get("/account", headers=HTML)
    assert page.status_code == 200, page.status_code
    match = CSRF_INPUT.search(page.text)
    assert match is not None
    return match.group(1)


async def audit_events(database: Database, action: str) -> list[AuditEvent]:
    async with database.read_session() as db:
        rows = await db.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.created_at)
        )
        return list(rows.all())
