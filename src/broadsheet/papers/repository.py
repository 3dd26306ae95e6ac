"""SQL for papers, versions and daily entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from broadsheet.models import DailyEntry, Paper, PaperListing, PaperVersionRow
from broadsheet.papers import schemas

UPVOTES = Paper.imported_upvotes + Paper.vote_count
COMMENTS = Paper.imported_comments + Paper.comment_count
# Built once, as a page of search hits loads its papers with one of these on every request: plain
# rows with what `schemas` reads, without the ORM's per-object bookkeeping (20 papers in the server:
# 0.8 ms, against 1.1-1.6 ms as ORM objects). They run on the session's connection, as Core: the ORM's
# execution layer would only wrap the same rows (0.60 -> 0.55 ms for 20 papers).
def _by_id(fields: tuple[str, ...]) -> Select[Any]:
    columns = (getattr(Paper, name) for name in fields)
    return select(*columns, UPVOTES.label("upvotes"), COMMENTS.label("num_comments")).where(
        Paper.arxiv_id.in_(bindparam("ids", expanding=True))
    )


_PAPERS_BY_ID = _by_id(schemas.PAPER_FIELDS)
# A card leaves out the JSON-only columns (keywords, categories, ...): a page of 20 search hits loads
# and shapes in 1.6-1.8 ms of the server's time instead of 1.8-2.3 (the same page, byte for byte).
_CARDS_BY_ID = _by_id(schemas.CARD_FIELDS)


def get_paper(session: Session, arxiv_id: str) -> Paper | None:
    return session.get(Paper, arxiv_id)


def paper_fields(session: Session, arxiv_ids: Sequence[str]) -> dict[str, schemas.PaperFields]:
    """What the JSON shapes need of each paper, read-only, by arXiv id (unknown ids are left out)."""
    return _rows_by_id(session, _PAPERS_BY_ID, arxiv_ids)


def card_fields(session: Session, arxiv_ids: Sequence[str]) -> dict[str, schemas.CardFields]:
    """What a card shows of each paper, read-only, by arXiv id (unknown ids are left out)."""
    return _rows_by_id(session, _CARDS_BY_ID, arxiv_ids)


def _rows_by_id(session: Session, statement: Select[Any], arxiv_ids: Sequence[str]) -> dict[str, Any]:
    if not arxiv_ids:
        return {}
    rows = session.connection().execute(statement, {"ids": list(arxiv_ids)})
    return {row.arxiv_id: row for row in rows}


def paper_versions(session: Session, arxiv_id: str) -> list[PaperVersionRow]:
    query = select(PaperVersionRow).where(PaperVersionRow.arxiv_id == arxiv_id).order_by(PaperVersionRow.version)
    return list(session.scalars(query))


def feed_days_of_paper(session: Session, arxiv_id: str) -> list[date]:
    query = (
        select(DailyEntry.day)
        .where(DailyEntry.arxiv_id == arxiv_id, DailyEntry.removed.is_(False))
        .order_by(DailyEntry.day.desc())
    )
    return list(session.scalars(query))


def _visible_entries() -> Select[DailyEntry, Paper]:
    return (
        select(DailyEntry, Paper)
        .join(Paper, Paper.arxiv_id == DailyEntry.arxiv_id)
        .where(DailyEntry.removed.is_(False))
    )


def feed_entries(
    session: Session,
    start: date,
    end: date,
    *,
    sort: str,
    offset: int,
    limit: int,
    submitter: str | None = None,
) -> tuple[list[tuple[DailyEntry, Paper]], int]:
    """Entries of the days start..end (inclusive) in the requested order, and how many there are in all."""
    query = _visible_entries().where(DailyEntry.day >= start, DailyEntry.day <= end)
    if submitter:
        query = query.where(DailyEntry.submitted_by == submitter)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if sort == "publishedAt":
        query = query.order_by(Paper.published_at.desc().nulls_last(), Paper.arxiv_id.desc())
    else:
        query = query.order_by(
            DailyEntry.pinned.desc(), DailyEntry.picked.desc(), UPVOTES.desc(), Paper.arxiv_id.desc()
        )
    rows = session.execute(query.offset(offset).limit(limit)).all()
    return [(entry, paper) for entry, paper in rows], total


def latest_feed_day(session: Session) -> date | None:
    return session.scalar(select(func.max(DailyEntry.day)).where(DailyEntry.removed.is_(False)))


def feed_day_before(session: Session, day: date) -> date | None:
    query = select(func.max(DailyEntry.day)).where(DailyEntry.removed.is_(False), DailyEntry.day < day)
    return session.scalar(query)


def feed_day_after(session: Session, day: date) -> date | None:
    query = select(func.min(DailyEntry.day)).where(DailyEntry.removed.is_(False), DailyEntry.day > day)
    return session.scalar(query)


def count_papers(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Paper)) or 0


def count_feed_entries(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(DailyEntry)) or 0


def category_papers(session: Session, category: str, *, offset: int, limit: int) -> list[Paper]:
    """Newest papers listed under `category` (in any case) or, for an archive such as cs, any of its categories."""
    query = (
        select(Paper)
        .join(PaperListing, PaperListing.arxiv_id == Paper.arxiv_id)
        .where(PaperListing.key == category.lower())
        .order_by(PaperListing.published_at.desc(), PaperListing.arxiv_id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query))


def newest_in_categories(
    session: Session, categories: Sequence[str], start: datetime, end: datetime, limit: int
) -> list[str]:
    """Ids of papers published in a window listed under any of these categories (in any case, or
    archives such as cs), newest first."""
    query = (
        select(PaperListing.arxiv_id, PaperListing.published_at)
        .where(
            PaperListing.key.in_({category.lower() for category in categories}),
            PaperListing.published_at >= start,
            PaperListing.published_at <= end,
        )
        .distinct()
        .order_by(PaperListing.published_at.desc(), PaperListing.arxiv_id)
        .limit(limit)
    )
    return [arxiv_id for arxiv_id, _ in session.execute(query)]
