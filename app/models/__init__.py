"""All models, imported together so Alembic (and everyone else) sees the whole schema."""

from app.models.audit import AuditEvent
from app.models.auth import ApiToken, Invitation, LoginAttempt, UserSession
from app.models.base import Base, utcnow
from app.models.channel import Channel, ChannelStatus
from app.models.comment import Comment
from app.models.delivery import CLAIMABLE_STATUSES, LIVE_STATUSES, Delivery, DeliveryStatus
from app.models.ical import IcalFeed
from app.models.media import Media
from app.models.plan import Label, Plan, PlanKind, post_label
from app.models.post import Post, PostStatus, Variant
from app.models.revision import Revision
from app.models.sandbox import SandboxPost
from app.models.scheduler import SchedulerHeartbeat
from app.models.workspace import Membership, Role, User, Workspace

__all__ = [
    "CLAIMABLE_STATUSES",
    "LIVE_STATUSES",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Channel",
    "ChannelStatus",
    "Comment",
    "Delivery",
    "DeliveryStatus",
    "IcalFeed",
    "Invitation",
    "Label",
    "LoginAttempt",
    "Media",
    "Membership",
    "Plan",
    "PlanKind",
    "Post",
    "PostStatus",
    "Revision",
    "Role",
    "SandboxPost",
    "SchedulerHeartbeat",
    "User",
    "UserSession",
    "Variant",
    "Workspace",
    "post_label",
    "utcnow",
]
