"""Account recovery by email: ``users.email_key`` (unique), verification and reset
tokens, the outbox of messages to send (issue 16).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _key(address: str) -> str | None:
    """The key ``service/emails.py`` computes, frozen here as it was at this revision
    (a migration never changes with the code)."""
    try:
        checked = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    domain = (checked.ascii_domain or checked.domain).lower()
    return f"{checked.local_part.casefold()}@{domain}"


def upgrade() -> None:
    op.add_column("users", sa.Column("email_key", sa.String(320), nullable=True))
    users = sa.table(
        "users",
        sa.column("id", sa.String),
        sa.column("email", sa.String),
        sa.column("email_key", sa.String),
    )
    conn = op.get_bind()
    seen: set[str] = set()
    rows = conn.execute(sa.select(users.c.id, users.c.email).where(users.c.email.is_not(None)))
    for user_id, email in rows.all():
        key = _key(email)
        if key is None or key in seen:  # invalid or a duplicate: left without a key
            continue
        seen.add(key)
        conn.execute(sa.update(users).where(users.c.id == user_id).values(email_key=key))
    op.create_index("ux_users_email_key", "users", ["email_key"], unique=True)
    op.create_table(
        "email_tokens",
        sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(32),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("purpose", sa.String(8), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("email_key", sa.String(320), nullable=True),
        sa.Column("credential_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_index("ix_email_tokens_user_id", "email_tokens", ["user_id"])
    op.create_index("ix_email_tokens_expires_at", "email_tokens", ["expires_at"])
    op.create_table(
        "email_outbox",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("text_body", sa.Text, nullable=False),
        sa.Column("html_body", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Double, nullable=False),
        sa.Column("lease_until", sa.Double, nullable=True),
        sa.Column("lease_owner", sa.String(32), nullable=True),
        sa.Column("sent_at", sa.Double, nullable=True),
        sa.Column("last_error", sa.String(256), nullable=True),
    )
    op.create_index("ix_email_outbox_due", "email_outbox", ["sent_at", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("email_outbox")
    op.drop_table("email_tokens")
    op.drop_index("ux_users_email_key", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_key")
