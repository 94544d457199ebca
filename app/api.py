"""The JSON API, version 1: every domain's routes under /api/v1."""

from fastapi import APIRouter

from app.audit.api import router as audit_router
from app.auth.api import router as auth_router
from app.channels.api import router as channels_router
from app.workspaces.api import router as workspaces_router

router = APIRouter(prefix="/api/v1")
router.include_router(auth_router)
router.include_router(workspaces_router)
router.include_router(channels_router)
router.include_router(audit_router)
