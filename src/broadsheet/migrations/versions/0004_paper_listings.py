"""paper listings: each paper under its categories and archives, for category pages and feeds

Revision ID: 0004
Revises: 0003
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import broadsheet.models.base
from broadsheet.sources.records import listing_keys

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = broadsheet.models.base.UTCDateTime(timezone=True)
UNKNOWN_PUBLISHED = datetime(1970, 1, 1, tzinfo=UTC)
BATCH = 5000


def upgrade() -> None:
    listings = op.create_table(
        "paper_listings",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("arxiv_id", sa.String(length=64), nullable=False),
        sa.Column("published_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["arxiv_id"],
            ["papers.arxiv_id"],
            name=op.f("fk_paper_listings_arxiv_id_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "arxiv_id", name=op.f("pk_paper_listings")),
    )
    op.create_index("ix_paper_listings_newest", "paper_listings", ["key", "published_at", "arxiv_id"])
    # The papers already stored, listed as the ingest path lists new ones.
    papers = sa.table(
        "papers",
        sa.column("arxiv_id", sa.String),
        sa.column("categories", sa.JSON),
        sa.column("published_at", UTC_DATETIME),
    )
    connection = op.get_bind()
    last = ""
    while True:  # in pages by id, so a large catalogue is never read whole
        page = connection.execute(
            sa.select(papers.c.arxiv_id, papers.c.categories, papers.c.published_at)
            .where(papers.c.arxiv_id > last)
            .order_by(papers.c.arxiv_id)
            .limit(BATCH)
        ).all()
        if not page:
            break
        rows = []
        for arxiv_id, categories, published_at in page:
            if isinstance(categories, str):  # a JSON column a driver hands back as text
                categories = json.loads(categories)
            when = published_at or UNKNOWN_PUBLISHED
            rows += [{"key": key, "arxiv_id": arxiv_id, "published_at": when} for key in listing_keys(categories or [])]
        if rows:
            op.bulk_insert(listings, rows)
        last = page[-1][0]


def downgrade() -> None:
    op.drop_index("ix_paper_listings_newest", table_name="paper_listings")
    op.drop_table("paper_listings")
