"""TikTok and YouTube channels

Revision ID: d3a8b6f1c592
Revises: c7e2a9d4f810
Create Date: 2026-11-22 17:15:00+00:00

Widens the channel table's ``ck_channel_network`` CHECK to the two new networks.
Batch mode: on SQLite the table is rebuilt (the constraint cannot be altered in
place); on PostgreSQL it is a plain DROP/ADD CONSTRAINT. Names are given in full
(``op.f``) so the naming convention is not applied twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d3a8b6f1c592"
down_revision: str | None = "c7e2a9d4f810"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Literal lists, not the app's enum: a migration must not change when the code does.
OLD_NETWORKS = (
    "mastodon",
    "bluesky",
    "x",
    "linkedin",
    "facebook",
    "instagram",
    "threads",
    "telegram",
    "discord",
    "matrix",
    "webhook",
    "sandbox",
)
NEW_NETWORKS = (
    "mastodon",
    "bluesky",
    "x",
    "linkedin",
    "facebook",
    "instagram",
    "threads",
    "tiktok",
    "youtube",
    "telegram",
    "discord",
    "matrix",
    "webhook",
    "sandbox",
)


def _condition(networks: Sequence[str]) -> str:
    return "network IN ({})".format(", ".join(f"'{n}'" for n in networks))


def _replace(networks: Sequence[str]) -> None:
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_channel_network"), type_="check")
        batch_op.create_check_constraint(op.f("ck_channel_network"), _condition(networks))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite runs a parent's foreign-key actions newest child table first. The
        # rebuilt channel table is now newer than delivery, so deleting a workspace
        # would remove channels (delivery.channel_id: ON DELETE RESTRICT) before their
        # deliveries. Rebuilding delivery too restores the original order.
        with op.batch_alter_table("delivery", schema=None, recreate="always"):
            pass


def upgrade() -> None:
    _replace(NEW_NETWORKS)


def downgrade() -> None:
    # Channels on the new networks cannot be represented before this revision.
    # Deleting them would silently take their posts' variants and deliveries along,
    # so the downgrade refuses instead and says what to do.
    count = (
        op.get_bind()
        .execute(sa.text("SELECT COUNT(*) FROM channel WHERE network IN ('tiktok', 'youtube')"))
        .scalar_one()
    )
    if count:
        raise RuntimeError(
            f"Cannot downgrade: {count} channel(s) are on TikTok or YouTube, which this "
            "older schema does not know; delete those channels first."
        )
    _replace(OLD_NETWORKS)
