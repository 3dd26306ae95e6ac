"""Rules of the daily feed and the paper page: periods, navigation, ordering, lookups."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from sqlalchemy.orm import Session

from broadsheet.errors import InvalidInput, NotFound
from broadsheet.models import DailyEntry, Paper, PaperVersionRow
from broadsheet.papers import repository
from broadsheet.papers.trending import trending_entries
from broadsheet.sources.records import InvalidArxivId, split_arxiv_id

PeriodKind = Literal["day", "week", "month"]
SORTS = ("default", "publishedAt", "trending")


@dataclass(frozen=True)
class Period:
    """A day, an ISO week or a month of the feed."""

    kind: PeriodKind
    start: date
    end: date

    @property
    def key(self) -> str:
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def path(self) -> str:
        return {"day": "/date/", "week": "/week/", "month": "/month/"}[self.kind] + self.key

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.start.strftime("%A, %B %-d, %Y")
        if self.kind == "week":
            return f"Week {self.key[-2:]} of {self.start.isocalendar()[0]}: {self.start:%b %-d} – {self.end:%b %-d}"
        return self.start.strftime("%B %Y")


def day_period(day: date) -> Period:
    return Period("day", day, day)


def week_period(day: date) -> Period:
    start = day - timedelta(days=day.weekday())
    return Period("week", start, start + timedelta(days=6))


def month_period(day: date) -> Period:
    last = calendar.monthrange(day.year, day.month)[1]
    return Period("month", day.replace(day=1), day.replace(day=last))


def _period_of(kind: PeriodKind, day: date) -> Period:
    return {"day": day_period, "week": week_period, "month": month_period}[kind](day)


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"date must be YYYY-MM-DD, got {text!r}") from None


def parse_week(text: str) -> Period:
    try:
        year, week = text.upper().split("-W")
        return week_period(date.fromisocalendar(int(year), int(week), 1))
    except ValueError:
        raise InvalidInput(f"week must be YYYY-Www (e.g. 2026-W02), got {text!r}") from None


def parse_month(text: str) -> Period:
    try:
        year, month = text.split("-")
        if len(year) != 4:
            raise ValueError
        return month_period(date(int(year), int(month), 1))
    except ValueError:
        raise InvalidInput(f"month must be YYYY-MM, got {text!r}") from None


@dataclass
class FeedPage:
    """One page of the feed of a period, with the neighbouring periods that have papers."""

    period: Period | None
    entries: list[tuple[DailyEntry, Paper]]
    total: int
    page: int
    limit: int
    sort: str
    previous: Period | None = None
    next: Period | None = None

    @property
    def has_more(self) -> bool:
        return (self.page + 1) * self.limit < self.total


def resolve_period(
    session: Session, *, day: str | None = None, week: str | None = None, month: str | None = None
) -> Period | None:
    """The period a request names, or the latest day with papers when it names none."""
    given = [value for value in (day, week, month) if value]
    if len(given) > 1:
        raise InvalidInput("give at most one of date, week and month")
    if day:
        return day_period(parse_day(day))
    if week:
        return parse_week(week)
    if month:
        return parse_month(month)
    latest = repository.latest_feed_day(session)
    return day_period(latest) if latest else None


def daily_feed(
    session: Session,
    period: Period | None,
    *,
    sort: str = "default",
    page: int = 0,
    limit: int = 30,
    submitter: str | None = None,
) -> FeedPage:
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    if page < 0:
        raise InvalidInput("p (page) must be 0 or more")
    if not 1 <= limit <= 100:
        raise InvalidInput("limit must be between 1 and 100")
    if period is None:
        return FeedPage(None, [], 0, page, limit, sort)
    if sort == "trending":
        entries, total = trending_entries(session, period.start, period.end, offset=page * limit, limit=limit)
    else:
        entries, total = repository.feed_entries(
            session, period.start, period.end, sort=sort, offset=page * limit, limit=limit, submitter=submitter
        )
    before = repository.feed_day_before(session, period.start)
    after = repository.feed_day_after(session, period.end)
    return FeedPage(
        period,
        entries,
        total,
        page,
        limit,
        sort,
        previous=_period_of(period.kind, before) if before else None,
        next=_period_of(period.kind, after) if after else None,
    )


def parse_arxiv_id(raw: str) -> str:
    try:
        return split_arxiv_id(raw)[0]
    except InvalidArxivId as error:
        raise InvalidInput(str(error)) from None


@dataclass
class PaperDetail:
    paper: Paper
    versions: list[PaperVersionRow] = field(default_factory=list)
    feed_days: list[date] = field(default_factory=list)


def paper_detail(session: Session, raw_id: str) -> PaperDetail:
    arxiv_id = parse_arxiv_id(raw_id)
    paper = repository.get_paper(session, arxiv_id)
    if paper is None:
        raise NotFound(f"no paper with arXiv id {arxiv_id} here")
    return PaperDetail(
        paper,
        versions=repository.paper_versions(session, arxiv_id),
        feed_days=repository.feed_days_of_paper(session, arxiv_id),
    )


def category_listing(session: Session, category: str, *, page: int, limit: int) -> list[Paper]:
    """One page of a category's newest papers, plus one more to tell whether there is a next page."""
    if not category or len(category) > 32 or not all(c.isalnum() or c in ".-_" for c in category):
        raise InvalidInput(f"category: expected an arXiv category like cs.CL, got {category[:40]!r}")
    return repository.category_papers(session, category, offset=page * limit, limit=limit + 1)
