"""Digest subscriptions, their per-period deliveries, the papers already sent, run locks and the outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broadsheet.models.base import Base, utcnow


class DigestSubscription(Base):
    """One address that asked for digests: how often, of what, and whether it may be sent to."""

    __tablename__ = "digest_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # pending (waiting for the confirmation click), active, paused (too many bounces), unsubscribed
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    frequency: Mapped[str] = mapped_column(String(8), default="daily")  # daily (weekdays) | weekly
    kind: Mapped[str] = mapped_column(String(16), default="trending")  # trending | personal
    keywords: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[list[str]] = mapped_column(default=list)
    saved_search: Mapped[str] = mapped_column(Text, default="")
    max_papers: Mapped[int] = mapped_column(Integer, default=10)
    # Random per subscription and part of every signed token; rotated to void old links.
    token_nonce: Mapped[str] = mapped_column(String(32))
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[str | None] = mapped_column(Text)
    confirm_sent_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DigestDelivery(Base):
    """The digest of one subscription for one period: claimed, then sent, empty or failed; never twice."""

    __tablename__ = "digest_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "period_key", name="uq_digest_deliveries_subscription_period"),
        Index("ix_digest_deliveries_period_status", "period_key", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("digest_subscriptions.id", ondelete="CASCADE"))
    period_key: Mapped[str] = mapped_column(String(32))  # "daily:2026-05-28" or "weekly:2026-W22"
    # claimed (papers chosen, not yet confirmed sent), sent, empty (nothing new), failed (permanent)
    status: Mapped[str] = mapped_column(String(16), default="claimed")
    paper_ids: Mapped[list[str]] = mapped_column(default=list)
    message_id: Mapped[str] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class DigestSentPaper(Base):
    """A paper that already went to a subscription, so no later digest repeats it."""

    __tablename__ = "digest_sent_papers"

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("digest_subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    arxiv_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class DigestRun(Base):
    """The lock and record of sending one period: one live owner at a time, taken over once it is dead."""

    __tablename__ = "digest_runs"

    period_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))  # host:pid:random
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    sent: Mapped[int] = mapped_column(Integer, default=0)
    empty: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)


class OutboxEmail(Base):
    """A transactional email (confirmation, manage link) queued in the request's transaction, sent after it."""

    __tablename__ = "email_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(String(320))
    message: Mapped[str] = mapped_column(Text)  # the whole RFC 5322 message
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
