"""All models, imported together so Alembic (and everyone else) sees the whole schema."""

from app.models.approval import Approval
from app.models.audit import AuditEvent
from app.models.auth import ApiToken, Invitation, LoginAttempt, UserSession
from app.models.base import Base, utcnow
from app.models.channel import Channel, ChannelStatus
from app.models.comment import Comment
from app.models.delivery import (
    CLAIMABLE_STATUSES,
    LIVE_STATUSES,
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
)
from app.models.ical import IcalFeed
from app.models.media import Media
from app.models.metric import MetricSnapshot, SnapshotKind
from app.models.notification import (
    PING_EVENT,
    Event,
    Notification,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from app.models.oauth import OAuthState
from app.models.plan import Label, Plan, PlanKind, post_label
from app.models.post import Post, PostStatus, Variant
from app.models.revision import Revision
from app.models.sandbox import SandboxPost
from app.models.scheduler import SchedulerHeartbeat
from app.models.workspace import Membership, Role, User, Workspace

__all__ = [
    "CLAIMABLE_STATUSES",
    "LIVE_STATUSES",
    "PING_EVENT",
    "ApiToken",
    "Approval",
    "AttemptOutcome",
    "AuditEvent",
    "Base",
    "Channel",
    "ChannelStatus",
    "Comment",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStatus",
    "Event",
    "IcalFeed",
    "Invitation",
    "Label",
    "LoginAttempt",
    "Media",
    "Membership",
    "MetricSnapshot",
    "Notification",
    "OAuthState",
    "Plan",
    "PlanKind",
    "Post",
    "PostStatus",
    "Revision",
    "Role",
    "SandboxPost",
    "SchedulerHeartbeat",
    "SnapshotKind",
    "User",
    "UserSession",
    "Variant",
    "WebhookDelivery",
    "WebhookDeliveryStatus",
    "WebhookEndpoint",
    "Workspace",
    "post_label",
    "utcnow",
]
