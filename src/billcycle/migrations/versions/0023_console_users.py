"""Console users and their tenant grants

``console_users`` (email, argon2 hash), ``console_user_tenants`` (a role per user and
tenant). The invoice template settings the console edits are the documents' table.

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from billcycle.db.types import BigId, UtcDateTime

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("password_changed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_users")),
        sa.UniqueConstraint("email", name=op.f("uq_console_users_email")),
    )
    op.create_table(
        "console_user_tenants",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["console_users.id"],
            name=op.f("fk_console_user_tenants_user_id_console_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_console_user_tenants_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_user_tenants")),
    )
    op.create_index(
        "uq_console_user_tenants_user_tenant",
        "console_user_tenants",
        ["user_id", "tenant_id"],
        unique=True,
    )
    op.create_index(
        op.f("ix_console_user_tenants_tenant_id"), "console_user_tenants", ["tenant_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_console_user_tenants_tenant_id"), table_name="console_user_tenants")
    op.drop_index("uq_console_user_tenants_user_tenant", table_name="console_user_tenants")
    op.drop_table("console_user_tenants")
    op.drop_table("console_users")
