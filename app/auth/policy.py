"""The policy table: which role may take which action in a workspace.

Every workspace route names one action through :class:`app.auth.deps.Authorize`;
the authorization test reads this table to know what each role must get.
Editors write, reviewers approve, viewers read, admins manage members and
channels, owners everything. ``posts.publish`` (editors, admins, owners) covers
publish now, retry, mark published, the overdue decisions and take-down: taking a
post down is the crisis action, so whoever may publish may also remove.
"""

from __future__ import annotations

from enum import StrEnum

from app.models.workspace import Role

ALL = frozenset(Role)
WRITERS = frozenset({Role.owner, Role.admin, Role.editor})
REVIEWERS = frozenset({Role.owner, Role.admin, Role.reviewer})
ADMINS = frozenset({Role.owner, Role.admin})
OWNERS = frozenset({Role.owner})


class Action(StrEnum):
    workspace_read = "workspace.read"
    workspace_update = "workspace.update"
    workspace_pause = "workspace.pause"
    members_read = "members.read"
    members_manage = "members.manage"
    channels_read = "channels.read"
    channels_manage = "channels.manage"
    plans_read = "plans.read"
    plans_write = "plans.write"
    posts_read = "posts.read"
    posts_write = "posts.write"
    posts_approve = "posts.approve"
    posts_publish = "posts.publish"
    audit_read = "audit.read"
    notifications_read = "notifications.read"
    webhooks_manage = "webhooks.manage"


POLICY: dict[Action, frozenset[Role]] = {
    Action.workspace_read: ALL,
    Action.workspace_update: ADMINS,
    # The crisis switch: anyone who can publish can stop publishing.
    Action.workspace_pause: frozenset({Role.owner, Role.admin, Role.editor, Role.reviewer}),
    Action.members_read: ALL,
    Action.members_manage: ADMINS,
    Action.channels_read: ALL,
    Action.channels_manage: ADMINS,
    Action.plans_read: ALL,
    Action.plans_write: WRITERS,
    Action.posts_read: ALL,
    Action.posts_write: WRITERS,
    Action.posts_approve: REVIEWERS,
    # Publish now, retry, mark published, overdue decisions, and take-down: the crisis
    # action stays with those who publish (a post out by mistake is removed at once).
    Action.posts_publish: WRITERS,
    Action.audit_read: ADMINS,
    # Everyone reads (and marks read) their own notifications only.
    Action.notifications_read: ALL,
    # Webhook URLs and their secrets reach outside: admins only, like channels.
    Action.webhooks_manage: ADMINS,
}


def allowed(role: Role, action: Action) -> bool:
    return role in POLICY[action]
