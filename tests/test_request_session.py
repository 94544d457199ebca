"""The request's one commit point runs before the response is sent."""

from __future__ import annotations

import httpx

from app.db import Database
from app.deps import SessionDep
from app.main import create_app
from app.models import User
from app.settings import Settings


async def test_a_failed_commit_is_never_answered_with_success(
    settings: Settings, database: Database
) -> None:
    app = create_app(settings, database)

    @app.post("/api/v1/test-commit")
    async def add_twice(session: SessionDep) -> dict[str, str]:
        # Not flushed: the unique e-mail is only refused at the commit, after the route.
        session.add(User(email="same@example.org", display_name="a"))
        session.add(User(email="same@example.org", display_name="b"))
        return {"status": "created"}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post("/api/v1/test-commit")
    assert response.status_code == 500
    assert response.json()["detail"].startswith("Something went wrong")
