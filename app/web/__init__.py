"""HTML pages. Each domain adds its pages as a router included here."""

from fastapi import APIRouter

from app.web.home import router as home_router

router = APIRouter(include_in_schema=False)
router.include_router(home_router)
