"""HTML pages. Each domain adds its pages as a router included here."""

from fastapi import APIRouter

from app.web.auth_pages import router as auth_pages_router
from app.web.home import router as home_router
from app.web.invitation_pages import router as invitation_pages_router

router = APIRouter(include_in_schema=False)
router.include_router(home_router)
router.include_router(auth_pages_router)
router.include_router(invitation_pages_router)
