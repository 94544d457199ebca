"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import SQLAlchemyError

from app import __version__
from app.api import router as api_router
from app.auth.service import setup_announcement
from app.db import Database, create_engine
from app.errors import install_error_handlers
from app.health import router as health_router
from app.ical.api import public_router as ical_public_router
from app.logging import get_logger
from app.media.api import public_router as media_public_router
from app.net.outbound import close_shared_client
from app.oauth.api import callback_router as oauth_callback_router
from app.observability import router as metrics_router
from app.security import SecurityMiddleware
from app.settings import Settings, get_settings
from app.web import router as web_router

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
log = get_logger("almanac.setup")


async def _announce_first_run(database: Database, settings: Settings) -> None:
    """On a fresh install, log the setup code once: reading the server's log is how the
    operator proves they may claim it (the code means nothing once a user exists)."""
    try:
        line = await setup_announcement(
            database, secret_key=settings.secret_key, base_url=settings.base_url
        )
    except (SQLAlchemyError, OSError):
        return  # not migrated yet, or unreachable: /readyz says so
    if line:
        log.warning(line)


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the app. Tests hand in their own settings and database."""
    settings = settings or get_settings()
    owns_database = database is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owns_database:
            app.state.database = Database(create_engine(settings.database))
        await _announce_first_run(app.state.database, settings)
        try:
            yield
        finally:
            await close_shared_client(app)
            if owns_database:
                await app.state.database.dispose()

    app = FastAPI(
        title="Almanac",
        version=__version__,
        description="Editorial content calendar and scheduler for community managers.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    if database is not None:
        app.state.database = database
    app.state.templates = Jinja2Templates(directory=TEMPLATES_DIR)
    app.state.templates.env.globals["app_version"] = __version__
    install_error_handlers(app)
    app.add_middleware(SecurityMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(api_router)
    app.include_router(media_public_router)
    app.include_router(ical_public_router)
    app.include_router(oauth_callback_router)
    app.include_router(web_router)
    return app
