"""The JSON API, version 1: every domain's routes under /api/v1."""

from fastapi import APIRouter, Depends

from app.approvals.api import router as approvals_router
from app.audit.api import router as audit_router
from app.auth.api import router as auth_router
from app.calendar.api import router as calendar_router
from app.channels.api import router as channels_router
from app.deliveries.api import router as deliveries_router
from app.deps import refuse_nul_characters
from app.ical.api import router as ical_router
from app.imports.api import router as imports_router
from app.labels.api import router as labels_router
from app.media.api import router as media_router
from app.notifications.api import router as notifications_router
from app.notifications.api import webhooks_router
from app.oauth.api import router as oauth_router
from app.plans.api import router as plans_router
from app.posts.api import router as posts_router
from app.workspaces.api import router as workspaces_router

router = APIRouter(prefix="/api/v1", dependencies=[Depends(refuse_nul_characters)])
router.include_router(auth_router)
router.include_router(workspaces_router)
router.include_router(channels_router)
router.include_router(oauth_router)
router.include_router(audit_router)
router.include_router(plans_router)
router.include_router(labels_router)
router.include_router(media_router)
router.include_router(posts_router)
router.include_router(approvals_router)
router.include_router(deliveries_router)
router.include_router(calendar_router)
router.include_router(ical_router)
router.include_router(imports_router)
router.include_router(notifications_router)
router.include_router(webhooks_router)
