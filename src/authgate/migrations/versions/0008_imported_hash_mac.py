"""A keyed MAC of the password hash an import brought, so a later ``users import
--update`` tells an unchanged record from a new password after authgate upgraded the
stored hash (service/import_changes.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("imported_hash_mac", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("imported_hash_mac")
