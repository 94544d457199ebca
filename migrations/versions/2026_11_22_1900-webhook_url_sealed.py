"""webhook_endpoint.url sealed: url_encrypted and host replace the plain url

Incoming-webhook URLs (Slack, Discord) carry their secret in the path, so the URL
is stored like the signing secret: a Fernet token of ``{"url": ...}`` (the format
of app.crypto.CredentialBox). Existing rows are sealed with the configured
encryption keys (``config.attributes["encryption_keys"]`` when the caller hands
them in, else the Almanac settings), and opened again on downgrade.

Revision ID: a7c3e9d15b20
Revises: f1b6d2c48a65
Create Date: 2026-11-22 19:00:00+00:00
"""

import json
from collections.abc import Sequence
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import context, op
from cryptography.fernet import Fernet, MultiFernet

revision: str = "a7c3e9d15b20"
down_revision: str | None = "f1b6d2c48a65"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

endpoint = sa.table(
    "webhook_endpoint",
    sa.column("id", sa.Uuid()),
    sa.column("url", sa.String(length=2048)),
    sa.column("url_encrypted", sa.LargeBinary()),
    sa.column("host", sa.String(length=255)),
)


def _fernet() -> MultiFernet:
    keys = context.config.attributes.get("encryption_keys")
    if not keys:
        from app.settings import get_settings

        keys = get_settings().encryption_keys
    return MultiFernet([Fernet(key.encode()) for key in keys])


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoint") as batch:
        batch.add_column(sa.Column("url_encrypted", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("host", sa.String(length=255), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(endpoint.c.id, endpoint.c.url)).all()
    if rows:
        fernet = _fernet()
        for row_id, url in rows:
            sealed = fernet.encrypt(json.dumps({"url": url}, sort_keys=True).encode())
            connection.execute(
                endpoint.update()
                .where(endpoint.c.id == row_id)
                .values(url_encrypted=sealed, host=urlsplit(url).hostname or "")
            )
    with op.batch_alter_table("webhook_endpoint") as batch:
        batch.alter_column("url_encrypted", existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column("host", existing_type=sa.String(length=255), nullable=False)
        batch.drop_column("url")


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoint") as batch:
        batch.add_column(sa.Column("url", sa.String(length=2048), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(endpoint.c.id, endpoint.c.url_encrypted)).all()
    if rows:
        fernet = _fernet()
        for row_id, sealed in rows:
            url = json.loads(fernet.decrypt(sealed))["url"]
            connection.execute(endpoint.update().where(endpoint.c.id == row_id).values(url=url))
    with op.batch_alter_table("webhook_endpoint") as batch:
        batch.alter_column("url", existing_type=sa.String(length=2048), nullable=False)
        batch.drop_column("host")
        batch.drop_column("url_encrypted")
