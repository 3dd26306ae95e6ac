"""What goes in a digest: the period it covers and the papers chosen for one subscriber."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol

from sqlalchemy.orm import Session

from broadsheet.errors import BroadsheetError, InvalidInput
from broadsheet.models import DigestSubscription
from broadsheet.papers import repository as papers_repository
from broadsheet.papers.trending import trending_entries
from broadsheet.sources.records import listed_under

Frequency = Literal["daily", "weekly"]
FREQUENCIES: tuple[Frequency, ...] = ("daily", "weekly")
# Candidates looked at per subscriber; more than the largest digest so papers already sent can be dropped.
CANDIDATES = 200


class SearchHitLike(Protocol):
    @property
    def arxiv_id(self) -> str: ...

    @property
    def score(self) -> float: ...


class PaperSearch(Protocol):
    """The one method of the search service a personal digest needs (hybrid where embeddings are on).

    `published_from`/`published_until` are inclusive days of first publication.
    """

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        published_from: date | None = None,
        published_until: date | None = None,
        categories: list[str] | None = None,
    ) -> Sequence[SearchHitLike]: ...


@dataclass(frozen=True)
class DigestPeriod:
    """The feed days one digest covers, named by the day it ends on.

    A daily digest (sent on weekdays) ending on a Monday also covers the weekend before it; on other
    days it covers that day. A weekly digest covers the ISO week (Monday to Sunday) of its end day.
    """

    frequency: Frequency
    end: date

    @property
    def key(self) -> str:
        if self.frequency == "daily":
            return f"daily:{self.end.isoformat()}"
        year, week, _ = self.end.isocalendar()
        return f"weekly:{year}-W{week:02d}"

    @property
    def first_day(self) -> date:
        if self.frequency == "weekly":
            return self.end - timedelta(days=self.end.weekday())
        return self.end - timedelta(days=2) if self.end.weekday() == 0 else self.end

    @property
    def last_day(self) -> date:
        if self.frequency == "weekly":
            return self.first_day + timedelta(days=6)
        return self.end

    @property
    def published_from(self) -> datetime:
        return datetime.combine(self.first_day, time(0), tzinfo=UTC)

    @property
    def published_until(self) -> datetime:
        return datetime.combine(self.last_day, time.max, tzinfo=UTC)

    @property
    def label(self) -> str:
        if self.frequency == "weekly":
            return f"week {self.key.split('-W')[1]}, {self.first_day:%b %-d} – {self.last_day:%b %-d, %Y}"
        if self.first_day != self.last_day:
            return f"{self.first_day:%b %-d} – {self.last_day:%b %-d, %Y}"
        return f"{self.end:%A, %B %-d, %Y}"


def parse_frequency(value: str) -> Frequency:
    for frequency in FREQUENCIES:
        if value == frequency:
            return frequency
    raise InvalidInput(f"period must be daily or weekly, got {value!r}")


class SearchUnavailable(BroadsheetError):
    status = 503


def personal_query(subscription: DigestSubscription) -> str:
    """The text a personal digest searches for: the saved search, then the keywords."""
    return " ".join(part.strip() for part in (subscription.saved_search, subscription.keywords) if part.strip())


class PaperPicker:
    """Chooses each subscriber's papers for one period; shared rankings are computed once per run."""

    def __init__(self, period: DigestPeriod, search: PaperSearch | None) -> None:
        self._period = period
        self._search = search
        self._trending: list[str] | None = None
        self._categories_of: dict[str, list[str]] = {}
        self._searches: dict[tuple[str, tuple[str, ...]], list[str]] = {}

    def trending(self, session: Session) -> list[str]:
        if self._trending is None:
            rows, _ = trending_entries(
                session, self._period.first_day, self._period.last_day, offset=0, limit=CANDIDATES * 5
            )
            # A paper in the feed on several days of the period appears once, at its best rank.
            self._trending = list(dict.fromkeys(paper.arxiv_id for _, paper in rows))
            self._categories_of = {paper.arxiv_id: list(paper.categories) for _, paper in rows}
        return self._trending

    def pick(self, session: Session, subscription: DigestSubscription, already_sent: set[str]) -> list[str]:
        """The best papers of the period for this subscriber that it has not been sent before."""
        wanted = max(1, subscription.max_papers)
        if subscription.kind == "personal":
            candidates = self._personal(session, subscription)
        else:
            candidates = self.trending(session)
        picked = [arxiv_id for arxiv_id in candidates if arxiv_id not in already_sent]
        return picked[:wanted]

    def _personal(self, session: Session, subscription: DigestSubscription) -> list[str]:
        categories = tuple(sorted(subscription.categories or []))
        query = personal_query(subscription)
        key = (query, categories)
        if key in self._searches:
            return self._searches[key]
        if query:
            if self._search is None:
                raise SearchUnavailable("personal digests with keywords need the search service; not available")
            try:
                hits = self._search.search(
                    query,
                    limit=CANDIDATES,
                    published_from=self._period.first_day,
                    published_until=self._period.last_day,
                    categories=list(categories) or None,
                )
            except BroadsheetError as error:  # e.g. the index is still being built
                if error.status != 503:
                    raise
                raise SearchUnavailable(error.message) from error
            found = [hit.arxiv_id for hit in hits]
        elif categories:
            in_trending = [
                arxiv_id
                for arxiv_id in self.trending(session)
                if any(listed_under(self._categories_of.get(arxiv_id, []), wanted) for wanted in categories)
            ]
            newest = papers_repository.newest_in_categories(
                session, list(categories), self._period.published_from, self._period.published_until, CANDIDATES
            )
            found = list(dict.fromkeys(in_trending + newest))
        else:
            found = []
        self._searches[key] = found
        return found
