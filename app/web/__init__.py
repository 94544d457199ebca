"""HTML pages. Each domain adds its pages as a router included here."""

from fastapi import APIRouter

from app.web.auth_pages import router as auth_pages_router
from app.web.backlog_pages import router as backlog_pages_router
from app.web.calendar_pages import router as calendar_pages_router
from app.web.channel_pages import router as channel_pages_router
from app.web.editor_pages import router as editor_pages_router
from app.web.home import router as home_router
from app.web.inbox_pages import router as inbox_pages_router
from app.web.invitation_pages import router as invitation_pages_router
from app.web.notification_pages import router as notification_pages_router
from app.web.overdue_pages import router as overdue_pages_router
from app.web.plan_pages import router as plan_pages_router
from app.web.post_pages import router as post_pages_router
from app.web.settings_pages import router as settings_pages_router

router = APIRouter(include_in_schema=False)
router.include_router(home_router)
router.include_router(auth_pages_router)
router.include_router(invitation_pages_router)
router.include_router(calendar_pages_router)
router.include_router(backlog_pages_router)
router.include_router(editor_pages_router)
router.include_router(plan_pages_router)
router.include_router(channel_pages_router)
router.include_router(inbox_pages_router)
router.include_router(notification_pages_router)
router.include_router(settings_pages_router)
router.include_router(post_pages_router)
router.include_router(overdue_pages_router)
