"""The trending score: upvotes discounted by age, so fresh well-liked papers rise."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from broadsheet.models import DailyEntry, Paper

GRAVITY = 1.5
AGE_OFFSET_HOURS = 12.0


def entry_time(entry: DailyEntry) -> datetime:
    return entry.submitted_at or datetime.combine(entry.day, time(0), tzinfo=UTC)


def trending_score(upvotes: int, appeared_at: datetime, now: datetime) -> float:
    """(upvotes + 1) / (age in hours + 12) ** 1.5, with age counted from when the paper entered the feed."""
    age_hours = max((now - appeared_at).total_seconds() / 3600.0, 0.0)
    return (upvotes + 1) / (age_hours + AGE_OFFSET_HOURS) ** GRAVITY


def trending_entries(
    session: Session,
    start: date,
    end: date,
    *,
    offset: int,
    limit: int,
    now: datetime | None = None,
) -> tuple[list[tuple[DailyEntry, Paper]], int]:
    """Entries of start..end ranked by trending score; `now` is the end of the window by default."""
    query = (
        select(DailyEntry, Paper)
        .join(Paper, Paper.arxiv_id == DailyEntry.arxiv_id)
        .where(DailyEntry.removed.is_(False), DailyEntry.day >= start, DailyEntry.day <= end)
    )
    rows = [(entry, paper) for entry, paper in session.execute(query)]
    # Ages are measured from the end of the window (or the latest entry), so a past window ranks as it did then.
    reference = now or max([datetime.combine(end, time(23, 59), tzinfo=UTC), *(entry_time(e) for e, _ in rows)])
    rows.sort(key=lambda row: trending_score(row[1].upvotes, entry_time(row[0]), reference), reverse=True)
    return rows[offset : offset + limit], len(rows)
