"""SQL of digests: subscriptions, deliveries, papers already sent, run locks and the outbox."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session

from broadsheet.models import (
    DailyEntry,
    DigestDelivery,
    DigestRun,
    DigestSentPaper,
    DigestSubscription,
    OutboxEmail,
    Paper,
)


def subscription_by_email(session: Session, email: str) -> DigestSubscription | None:
    return session.scalar(select(DigestSubscription).where(DigestSubscription.email == email))


def subscription_by_id(session: Session, subscription_id: int) -> DigestSubscription | None:
    return session.get(DigestSubscription, subscription_id)


def subscription_of_user(session: Session, user_id: int) -> DigestSubscription | None:
    return session.scalar(
        select(DigestSubscription).where(DigestSubscription.user_id == user_id).order_by(DigestSubscription.id)
    )


def due_subscriptions(session: Session, frequency: str, after_id: int, limit: int) -> Sequence[DigestSubscription]:
    """Active subscriptions of a frequency, in id order after a cursor (so a long run pages stably)."""
    query = (
        select(DigestSubscription)
        .where(
            DigestSubscription.status == "active",
            DigestSubscription.frequency == frequency,
            DigestSubscription.id > after_id,
        )
        .order_by(DigestSubscription.id)
        .limit(limit)
    )
    return session.scalars(query).all()


def count_due(session: Session, frequency: str) -> int:
    query = select(func.count()).where(DigestSubscription.status == "active", DigestSubscription.frequency == frequency)
    return int(session.scalar(query) or 0)


def deliveries_for(session: Session, period_key: str, subscription_ids: Iterable[int]) -> dict[int, DigestDelivery]:
    ids = list(subscription_ids)
    if not ids:
        return {}
    query = select(DigestDelivery).where(
        DigestDelivery.period_key == period_key, DigestDelivery.subscription_id.in_(ids)
    )
    return {delivery.subscription_id: delivery for delivery in session.scalars(query)}


def sent_papers(session: Session, subscription_ids: Iterable[int]) -> dict[int, set[str]]:
    ids = list(subscription_ids)
    result: dict[int, set[str]] = {sid: set() for sid in ids}
    if not ids:
        return result
    query = select(DigestSentPaper.subscription_id, DigestSentPaper.arxiv_id).where(
        DigestSentPaper.subscription_id.in_(ids)
    )
    for subscription_id, arxiv_id in session.execute(query):
        result[subscription_id].add(arxiv_id)
    return result


def mark_sent(session: Session, delivery_id: int, subscription_id: int, paper_ids: list[str], now: datetime) -> None:
    session.execute(
        update(DigestDelivery)
        .where(DigestDelivery.id == delivery_id)
        .values(status="sent", sent_at=now, error=None, attempts=DigestDelivery.attempts + 1)
    )
    session.execute(
        update(DigestSubscription)
        .where(DigestSubscription.id == subscription_id, DigestSubscription.failure_count != 0)
        .values(failure_count=0)
    )
    if paper_ids:
        rows = [{"subscription_id": subscription_id, "arxiv_id": a, "sent_at": now} for a in paper_ids]
        session.execute(insert(DigestSentPaper), rows)


def papers_by_id(session: Session, arxiv_ids: Iterable[str]) -> dict[str, Paper]:
    ids = list(dict.fromkeys(arxiv_ids))
    found: dict[str, Paper] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update((p.arxiv_id, p) for p in session.scalars(select(Paper).where(Paper.arxiv_id.in_(chunk))))
    return found


def feed_entries_of(session: Session, arxiv_ids: Iterable[str]) -> dict[str, DailyEntry]:
    """The latest feed entry of each paper, if it was in the daily feed at all."""
    ids = list(arxiv_ids)
    if not ids:
        return {}
    query = (
        select(DailyEntry).where(DailyEntry.arxiv_id.in_(ids), DailyEntry.removed.is_(False)).order_by(DailyEntry.day)
    )
    return {entry.arxiv_id: entry for entry in session.scalars(query)}


def run_of(session: Session, period_key: str) -> DigestRun | None:
    return session.get(DigestRun, period_key)


def take_over_run(session: Session, period_key: str, old_owner: str, new_owner: str, now: datetime) -> bool:
    """Compare-and-swap the owner of a run, so of two processes taking over a dead run only one wins."""
    result = session.execute(
        update(DigestRun)
        .where(DigestRun.period_key == period_key, DigestRun.owner == old_owner)
        .values(owner=new_owner, heartbeat_at=now, finished_at=None, started_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def heartbeat(session: Session, period_key: str, owner: str, now: datetime) -> bool:
    result = session.execute(
        update(DigestRun).where(DigestRun.period_key == period_key, DigestRun.owner == owner).values(heartbeat_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def finish_run(
    session: Session, period_key: str, owner: str, now: datetime, *, sent: int, empty: int, failed: int
) -> None:
    session.execute(
        update(DigestRun)
        .where(DigestRun.period_key == period_key, DigestRun.owner == owner)
        .values(finished_at=now, heartbeat_at=now, sent=sent, empty=empty, failed=failed)
    )


def count_deliveries(session: Session, period_key: str) -> dict[str, int]:
    query = (
        select(DigestDelivery.status, func.count())
        .where(DigestDelivery.period_key == period_key)
        .group_by(DigestDelivery.status)
    )
    return {status: int(count) for status, count in session.execute(query)}


def unsent_outbox(session: Session, ids: Iterable[int] | None, created_before: datetime | None) -> list[int]:
    query = select(OutboxEmail.id).where(OutboxEmail.sent_at.is_(None), OutboxEmail.attempts < 10)
    if ids is not None:
        query = query.where(OutboxEmail.id.in_(list(ids)))
    if created_before is not None:
        query = query.where(and_(OutboxEmail.created_at < created_before))
    return list(session.scalars(query.order_by(OutboxEmail.id)))
