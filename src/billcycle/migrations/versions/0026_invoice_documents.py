"""Invoice documents: template settings, stored files, invoice PDF versions

``tenant_invoice_settings`` (one per tenant: logo, seller address, footer, payment
instructions and terms, locale, the tenant's own template), ``stored_files`` (files
clients download, e.g. Zuora's ``GET /v1/files/{file-id}``) and ``invoice_files`` (the
rendered versions of each invoice's PDF, keyed by the digest of the HTML they show).

Revision ID: 0026
Revises: 0025
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import billcycle.db.types

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", BIG_ID, autoincrement=True, nullable=False)


def _tenant(table: str) -> list[Any]:
    return [
        sa.Column("tenant_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f(f"fk_{table}_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "tenant_invoice_settings",
        sa.Column("invoice_logo_url", sa.Text(), nullable=True),
        sa.Column("invoice_seller_address", sa.Text(), nullable=True),
        sa.Column("invoice_footer", sa.Text(), nullable=True),
        sa.Column("invoice_payment_instructions", sa.Text(), nullable=True),
        sa.Column("payment_terms_days", sa.Integer(), nullable=True),
        sa.Column("invoice_locale", sa.String(length=20), nullable=True),
        sa.Column("invoice_template", sa.Text(), nullable=True),
        *_tenant("tenant_invoice_settings"),
        _id(),
        sa.Column("created_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.Column("updated_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_invoice_settings")),
    )
    op.create_index(
        "uq_tenant_invoice_settings_tenant", "tenant_invoice_settings", ["tenant_id"], unique=True
    )
    op.create_table(
        "stored_files",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.Column("invoice_id", BIG_ID, nullable=True),
        *_tenant("stored_files"),
        _id(),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_stored_files_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_files")),
    )
    op.create_index("ix_stored_files_tenant", "stored_files", ["tenant_id"])
    op.create_index("ix_stored_files_invoice", "stored_files", ["invoice_id"])
    op.create_table(
        "invoice_files",
        sa.Column("invoice_id", BIG_ID, nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("file_id", BIG_ID, nullable=False),
        sa.Column("created_at", billcycle.db.types.UtcDateTime(), nullable=False),
        *_tenant("invoice_files"),
        _id(),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_files_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["stored_files.id"],
            name=op.f("fk_invoice_files_file_id_stored_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_files")),
    )
    op.create_index(
        "uq_invoice_files_version", "invoice_files", ["invoice_id", "version_number"], unique=True
    )
    op.create_index("ix_invoice_files_tenant_invoice", "invoice_files", ["tenant_id", "invoice_id"])


def downgrade() -> None:
    op.drop_index("ix_invoice_files_tenant_invoice", table_name="invoice_files")
    op.drop_index("uq_invoice_files_version", table_name="invoice_files")
    op.drop_table("invoice_files")
    op.drop_index("ix_stored_files_invoice", table_name="stored_files")
    op.drop_index("ix_stored_files_tenant", table_name="stored_files")
    op.drop_table("stored_files")
    op.drop_index("uq_tenant_invoice_settings_tenant", table_name="tenant_invoice_settings")
    op.drop_table("tenant_invoice_settings")
