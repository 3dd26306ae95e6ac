"""Papers, their versions, their appearances in the daily feed, and their embeddings."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broadsheet.models.base import Base, utcnow


class Paper(Base):
    """One paper, keyed by its arXiv id without version."""

    __tablename__ = "papers"

    arxiv_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(default=list)
    categories: Mapped[list[str]] = mapped_column(default=list)
    primary_category: Mapped[str | None] = mapped_column(String(32), index=True)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    updated_at: Mapped[datetime | None]
    version: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    journal_ref: Mapped[str | None] = mapped_column(Text)
    doi: Mapped[str | None] = mapped_column(String(255))
    license: Mapped[str | None] = mapped_column(String(255))
    github_repo: Mapped[str | None] = mapped_column(String(500))
    project_page: Mapped[str | None] = mapped_column(String(500))
    keywords: Mapped[list[str]] = mapped_column(default=list)
    thumbnail: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(32), default="")
    # Upvotes and comments counted elsewhere (Hugging Face) before the paper came here.
    imported_upvotes: Mapped[int] = mapped_column(Integer, default=0)
    imported_comments: Mapped[int] = mapped_column(Integer, default=0)
    # Votes and comments made on this site, kept in step with their tables in the same transaction.
    vote_count: Mapped[int] = mapped_column(Integer, default=0)
    comment_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    @property
    def upvotes(self) -> int:
        return self.imported_upvotes + self.vote_count

    @property
    def num_comments(self) -> int:
        return self.imported_comments + self.comment_count


class PaperListing(Base):
    """A paper in the listing of one category or archive (`records.listing_keys`: cs.cl, cs), with
    its publication time, so a category page or feed reads its newest papers from one index range
    instead of matching every paper's category list. Kept by the ingest path with the paper."""

    __tablename__ = "paper_listings"
    __table_args__ = (Index("ix_paper_listings_newest", "key", "published_at", "arxiv_id"),)

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    arxiv_id: Mapped[str] = mapped_column(ForeignKey("papers.arxiv_id", ondelete="CASCADE"), primary_key=True)
    # The paper's `published_at`, or UNKNOWN_PUBLISHED when it has none (so those come last).
    published_at: Mapped[datetime]


# Where a paper without a publication time sorts in a listing: after every real one.
UNKNOWN_PUBLISHED = datetime(1970, 1, 1, tzinfo=UTC)


class PaperVersionRow(Base):
    """One arXiv version of a paper and when it was submitted."""

    __tablename__ = "paper_versions"

    arxiv_id: Mapped[str] = mapped_column(ForeignKey("papers.arxiv_id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[datetime | None]


class DailyEntry(Base):
    """A paper's appearance in the feed of one day: who submitted it and what curators did."""

    __tablename__ = "daily_entries"
    __table_args__ = (
        UniqueConstraint("day", "arxiv_id", name="uq_daily_entries_day_paper"),
        Index("ix_daily_entries_paper", "arxiv_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    arxiv_id: Mapped[str] = mapped_column(ForeignKey("papers.arxiv_id", ondelete="CASCADE"))
    submitted_by: Mapped[str | None] = mapped_column(String(200))
    submitter_id: Mapped[int | None] = mapped_column(Integer, index=True)
    submitted_at: Mapped[datetime | None]
    picked: Mapped[bool] = mapped_column(Boolean, default=False)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaperEmbedding(Base):
    """A paper's vector for one model, with the hash of the exact text that was embedded."""

    __tablename__ = "paper_embeddings"

    arxiv_id: Mapped[str] = mapped_column(ForeignKey("papers.arxiv_id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # little-endian float32
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
