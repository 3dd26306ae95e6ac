"""digest: subscriptions, deliveries, sent papers, run locks, email outbox

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import broadsheet.models.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = broadsheet.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "digest_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("frequency", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("saved_search", sa.Text(), nullable=False),
        sa.Column("max_papers", sa.Integer(), nullable=False),
        sa.Column("token_nonce", sa.String(length=32), nullable=False),
        sa.Column("failure_count", sa.Integer(), nullable=False),
        sa.Column("last_failure", sa.Text(), nullable=True),
        sa.Column("confirm_sent_at", UTC_DATETIME, nullable=True),
        sa.Column("confirmed_at", UTC_DATETIME, nullable=True),
        sa.Column("unsubscribed_at", UTC_DATETIME, nullable=True),
        sa.Column("paused_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_subscriptions")),
        sa.UniqueConstraint("email", name=op.f("uq_digest_subscriptions_email")),
    )
    with op.batch_alter_table("digest_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digest_subscriptions_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_digest_subscriptions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "digest_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("period_key", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("paper_ids", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("claimed_at", UTC_DATETIME, nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["digest_subscriptions.id"],
            name=op.f("fk_digest_deliveries_subscription_id_digest_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_deliveries")),
        sa.UniqueConstraint(
            "subscription_id", "period_key", name="uq_digest_deliveries_subscription_period"
        ),
    )
    with op.batch_alter_table("digest_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_digest_deliveries_period_status", ["period_key", "status"], unique=False)

    op.create_table(
        "digest_sent_papers",
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("arxiv_id", sa.String(length=64), nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["digest_subscriptions.id"],
            name=op.f("fk_digest_sent_papers_subscription_id_digest_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", "arxiv_id", name=op.f("pk_digest_sent_papers")),
    )

    op.create_table(
        "digest_runs",
        sa.Column("period_key", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("heartbeat_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("empty", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("period_key", name=op.f("pk_digest_runs")),
    )

    op.create_table(
        "email_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox")),
    )
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_outbox_sent_at"), ["sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_outbox_sent_at"))
    op.drop_table("email_outbox")
    op.drop_table("digest_runs")
    op.drop_table("digest_sent_papers")
    with op.batch_alter_table("digest_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_digest_deliveries_period_status")
    op.drop_table("digest_deliveries")
    with op.batch_alter_table("digest_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_subscriptions_user_id"))
        batch_op.drop_index(batch_op.f("ix_digest_subscriptions_status"))
    op.drop_table("digest_subscriptions")
