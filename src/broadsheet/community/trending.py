"""The /trending page: papers of a recent window ranked by the trending score (upvotes and age)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from broadsheet.models import DailyEntry, Paper
from broadsheet.papers import repository as papers_repository
from broadsheet.papers.trending import entry_time, trending_entries, trending_score

ALL = 1_000_000


@dataclass
class TrendingPage:
    """Ranked papers of the window `start..end`; `fallback` says the window ending now was empty."""

    start: date
    end: date
    reference: datetime
    rows: list[tuple[DailyEntry, Paper, float]]
    total: int
    page: int
    limit: int
    fallback: bool

    @property
    def has_more(self) -> bool:
        return (self.page + 1) * self.limit < self.total


def trending(
    session: Session, *, window_days: int, page: int = 0, limit: int = 30, now: datetime | None = None
) -> TrendingPage:
    """Rank the window of `window_days` days ending now; when it has no papers, the one ending at the latest feed day.

    A paper in the feed on several days of the window counts once, aged from its first appearance.
    """
    now = now or datetime.now(UTC)
    end = now.astimezone(UTC).date()
    start = end - timedelta(days=window_days - 1)
    rows, _ = trending_entries(session, start, end, offset=0, limit=ALL, now=now)
    reference, fallback = now, False
    if not rows:
        latest = papers_repository.latest_feed_day(session)
        if latest is not None and latest < start:
            end, start, fallback = latest, latest - timedelta(days=window_days - 1), True
            reference = datetime.combine(end, time(23, 59, 59), tzinfo=UTC)
            rows, _ = trending_entries(session, start, end, offset=0, limit=ALL, now=reference)
    first: dict[str, tuple[DailyEntry, Paper]] = {}
    for entry, paper in rows:
        seen = first.get(paper.arxiv_id)
        if seen is None or entry_time(entry) < entry_time(seen[0]):
            first[paper.arxiv_id] = (entry, paper)
    scored = [
        (entry, paper, trending_score(paper.upvotes, entry_time(entry), reference)) for entry, paper in first.values()
    ]
    scored.sort(key=lambda row: (row[2], row[1].upvotes, row[1].arxiv_id), reverse=True)
    offset = page * limit
    return TrendingPage(start, end, reference, scored[offset : offset + limit], len(scored), page, limit, fallback)
