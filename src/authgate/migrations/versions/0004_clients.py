"""Registered APIs and clients, and the replay store of client-assertion ``jti``s
(issue 15: services talking to services).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "apis",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("audience", sa.String(512), nullable=False, unique=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("grants", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("auth_method", sa.String(32), nullable=False),
        sa.Column("secret_digest", sa.LargeBinary(32), nullable=True),
        sa.Column("jwks", sa.Text(), nullable=True),
        sa.Column("jwks_uri", sa.String(2048), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "assertion_jtis",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("jti", sa.String(256), primary_key=True),
        sa.Column("expires_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_assertion_jtis_expires_at", "assertion_jtis", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_assertion_jtis_expires_at", table_name="assertion_jtis")
    op.drop_table("assertion_jtis")
    op.drop_table("clients")
    op.drop_table("apis")
