"""The papers of each feed view: the daily feed of a period, trending, a category, a search."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from broadsheet.digest import repository as digest_repository
from broadsheet.digest.selection import PaperSearch
from broadsheet.errors import BroadsheetError, InvalidInput
from broadsheet.feeds.render import FeedDocument, FeedItem
from broadsheet.models import DailyEntry, Paper
from broadsheet.papers import service as papers_service
from broadsheet.papers.schemas import arxiv_links
from broadsheet.settings import Settings

FEED_LIMIT = 100


class SearchNotAvailable(BroadsheetError):
    status = 503


def _item(base_url: str, entry: DailyEntry | None, paper: Paper) -> FeedItem:
    appeared = None
    if entry is not None:
        appeared = entry.submitted_at or datetime.combine(entry.day, time(0), tzinfo=UTC)
    links = arxiv_links(paper.arxiv_id)
    return FeedItem(
        arxiv_id=paper.arxiv_id,
        title=paper.title,
        url=f"{base_url}/papers/{paper.arxiv_id}",
        abstract=paper.abstract,
        authors=list(paper.authors),
        published=appeared or paper.published_at or paper.created_at,
        categories=list(paper.categories),
        arxiv_url=links["arxiv"],
        pdf_url=links["pdf"],
        upvotes=paper.upvotes,
    )


def _items(base_url: str, rows: Iterable[tuple[DailyEntry | None, Paper]]) -> list[FeedItem]:
    return [_item(base_url, entry, paper) for entry, paper in rows]


def daily_feed(
    session: Session, settings: Settings, *, day: str | None, week: str | None, month: str | None
) -> tuple[FeedDocument, dict[str, str]]:
    period = papers_service.resolve_period(session, day=day, week=week, month=month)
    page = papers_service.daily_feed(session, period, limit=FEED_LIMIT)
    base = settings.base_url.rstrip("/")
    query = {key: value for key, value in (("date", day), ("week", week), ("month", month)) if value}
    label = period.label if period else "no papers yet"
    doc = FeedDocument(
        title=f"{settings.site_name} Daily Papers · {label}",
        description=f"Papers of the {settings.site_name} daily feed, {label}, by upvotes.",
        page_url=base + (period.path if period and query else "/"),
        self_url="",
        items=_items(base, page.entries),
    )
    return doc, query


def trending_feed(session: Session, settings: Settings) -> FeedDocument:
    from broadsheet.community.trending import trending

    page = trending(session, window_days=settings.trending_window_days, limit=min(FEED_LIMIT, settings.page_size))
    base = settings.base_url.rstrip("/")
    return FeedDocument(
        title=f"{settings.site_name} · Trending papers",
        description=f"Papers of the last {settings.trending_window_days} days ranked by the trending score.",
        page_url=f"{base}/trending",
        self_url="",
        items=_items(base, ((entry, paper) for entry, paper, _ in page.rows)),
        updated=page.reference,
    )


def category_feed(session: Session, settings: Settings, category: str) -> FeedDocument:
    papers = papers_service.category_listing(session, category, page=0, limit=FEED_LIMIT)[:FEED_LIMIT]
    base = settings.base_url.rstrip("/")
    return FeedDocument(
        title=f"{settings.site_name} · {category}",
        description=f"The newest papers in {category}.",
        page_url=f"{base}/category/{category}",
        self_url="",
        items=_items(base, ((None, paper) for paper in papers)),
    )


def search_feed(session: Session, settings: Settings, search: PaperSearch | None, query: str) -> FeedDocument:
    query = query.strip()
    if not query:
        raise InvalidInput("q: expected a search query")
    if len(query) > 500:
        raise InvalidInput("q: at most 500 characters")
    if search is None:
        raise SearchNotAvailable("Search is not available on this server yet (the index is not loaded).")
    hits = search.search(query, limit=min(FEED_LIMIT, settings.page_size))
    papers = digest_repository.papers_by_id(session, (hit.arxiv_id for hit in hits))
    entries = digest_repository.feed_entries_of(session, list(papers))
    base = settings.base_url.rstrip("/")
    return FeedDocument(
        title=f"{settings.site_name} · Search: {query}",
        description=f"Papers matching “{query}”, best first.",
        page_url=f"{base}/search?{urlencode({'q': query})}",
        self_url="",
        items=_items(base, ((entries.get(h.arxiv_id), papers[h.arxiv_id]) for h in hits if h.arxiv_id in papers)),
        updated=datetime.now(UTC),
    )


def alternates(path: str, params: dict[str, Any]) -> list[dict[str, str]]:
    """The feed twins of a page, for `<link rel="alternate">`: the page's own view, else the daily feed."""
    stem, query, title = "/feed", "", "Daily Papers"
    parts = path.rstrip("/").split("/")
    if len(parts) == 3 and parts[1] in ("date", "week", "month"):
        key = {"date": "date", "week": "week", "month": "month"}[parts[1]]
        query, title = "?" + urlencode({key: parts[2]}), f"Daily Papers {parts[2]}"
    elif path == "/trending":
        stem, title = "/trending", "Trending papers"
    elif len(parts) == 3 and parts[1] == "category" and parts[2]:
        stem, title = f"/category/{parts[2]}", f"Papers in {parts[2]}"
    elif path == "/search" and params.get("q"):
        stem, query, title = "/search", "?" + urlencode({"q": params["q"]}), f"Search: {params['q']}"
    kinds = (
        ("rss", "application/rss+xml", "RSS"),
        ("atom", "application/atom+xml", "Atom"),
        ("json", "application/feed+json", "JSON Feed"),
    )
    return [
        {"type": media, "title": f"{title} ({label})", "href": f"{stem}.{fmt}{query}"} for fmt, media, label in kinds
    ]
