"""Every view's RSS, Atom and JSON Feed, read back with feedparser and compared with the JSON API."""

from __future__ import annotations

import re
from datetime import datetime
from itertools import islice
from typing import Any

import feedparser
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from broadsheet.models import Paper
from broadsheet.papers import repository
from broadsheet.papers.ingest import import_items
from broadsheet.search.service import SearchService
from broadsheet.sources.daily_jsonl import read_daily_jsonl
from tests.fixtures.paths import ARXIV_CORPUS


def _parsed(client: TestClient, url: str) -> feedparser.FeedParserDict:
    response = client.get(url)
    assert response.status_code == 200, (url, response.text[:300])
    if response.headers["content-type"].startswith("application/feed+json"):
        return _json_feed(response.json())
    feed = feedparser.parse(response.content)
    assert not feed.bozo, (url, feed.get("bozo_exception"))
    return feed


def _json_feed(data: dict[str, Any]) -> feedparser.FeedParserDict:
    """feedparser 6.0 reads RSS and Atom only: check JSON Feed 1.1's required fields, then adapt."""
    assert data["version"] == "https://jsonfeed.org/version/1.1"
    assert data["title"] and data["home_page_url"].startswith("http") and data["feed_url"].startswith("http")
    entries = []
    for item in data["items"]:
        assert item["id"] and (item.get("content_text") or item.get("content_html"))
        published = datetime.fromisoformat(item["date_published"].replace("Z", "+00:00"))
        entries.append(
            feedparser.FeedParserDict(
                title=item["title"],
                link=item["url"],
                summary=item["content_text"],
                published_parsed=published.timetuple(),
                tags=[feedparser.FeedParserDict(term=t) for t in item["tags"]],
            )
        )
    return feedparser.FeedParserDict(
        version="json11", feed=feedparser.FeedParserDict(title=data["title"]), entries=entries
    )


@pytest.mark.parametrize("fmt,version", [("rss", "rss20"), ("atom", "atom10"), ("json", "json11")])
def test_daily_feed_has_the_papers_of_the_day_in_feed_order(client: TestClient, fmt: str, version: str) -> None:
    expected = client.get("/api/daily_papers", params={"date": "2026-05-28", "limit": 100}).json()
    feed = _parsed(client, f"/feed.{fmt}?date=2026-05-28")
    assert feed.version == version
    assert "2026" in feed.feed.title
    assert [entry.title for entry in feed.entries] == [item["title"] for item in expected]
    first = feed.entries[0]
    assert first.link.endswith(f"/papers/{expected[0]['paper']['id']}")
    assert first.get("published_parsed") is not None
    assert first.summary


def test_latest_week_and_month_feeds(client: TestClient) -> None:
    latest = _parsed(client, "/feed.atom")
    day = client.get("/api/daily_papers", params={"limit": 100}).json()
    assert [entry.title for entry in latest.entries] == [item["title"] for item in day]
    week = _parsed(client, "/feed.rss?week=2026-W22")
    assert len(week.entries) > len(latest.entries)
    assert len(_parsed(client, "/feed.json?month=2026-05").entries) == 100
    bad = client.get("/feed.rss?week=22")
    assert bad.status_code == 400 and "week must be" in bad.text


def test_trending_feed_matches_the_trending_api(client: TestClient) -> None:
    items = client.get("/api/trending").json()["items"]
    feed = _parsed(client, "/trending.atom")
    titles = [entry.title for entry in feed.entries]
    assert titles and titles == [item["title"] for item in items][: len(titles)]
    assert _parsed(client, "/trending.json").entries[0].title == titles[0]


def test_category_feed_has_only_that_category_newest_first(client: TestClient, app: FastAPI) -> None:
    # The HF daily papers carry no arXiv categories: add real arXiv records that do.
    import_items(app.state.session_factory, islice(read_daily_jsonl(ARXIV_CORPUS), 400))
    feed = _parsed(client, "/category/cs.CL.rss")
    assert len(feed.entries) >= 10
    for entry in feed.entries:
        assert "cs.CL" in [tag.term for tag in entry.tags]
    dates = [entry.published_parsed for entry in feed.entries]
    assert dates == sorted(dates, reverse=True)
    assert client.get("/category/cs.CL.txt").status_code == 404
    # A category without a dot (hep-th, quant-ph) or an archive gets its feed too, not the HTML page.
    for path in ("/category/hep-th.rss", "/category/eess.atom", "/category/cs.json"):
        response = client.get(path)
        assert response.status_code == 200 and "html" not in response.headers["content-type"], path
    archive = _parsed(client, "/category/eess.atom")
    assert archive.entries and all(any(t.term.startswith("eess.") for t in e.tags) for e in archive.entries)


def test_search_feed_needs_the_search_service(client: TestClient, app: FastAPI) -> None:
    if getattr(app.state, "search", None) is None:
        unavailable = client.get("/search.json?q=diffusion")
        assert unavailable.status_code == 503 and "not available" in unavailable.json()["error"]
        assert client.get("/search.atom?q=diffusion").status_code == 503
        # The real search service, keyword side only (embeddings are off in tests for speed).
        service = SearchService(app.state.settings, app.state.session_factory)
        service.sync()
        service.ready.set()
        app.state.search = service
    feed = _parsed(client, "/search.atom?q=diffusion")
    assert feed.entries and "diffusion" in feed.feed.title
    assert "diffusion" in (feed.entries[0].title + feed.entries[0].summary).lower()
    assert client.get("/search.rss?q=").status_code == 400


def test_pages_link_their_feeds(client: TestClient) -> None:
    for path, expected in [
        ("/", "/feed.rss"),
        ("/date/2026-05-28", "/feed.rss?date=2026-05-28"),
        ("/week/2026-W22", "/feed.rss?week=2026-W22"),
        ("/trending", "/trending.rss"),
    ]:
        html = client.get(path).text
        head = html.split("</head>")[0]
        links = re.findall(r'<link rel="alternate" type="([^"]+)" title="[^"]*" href="([^"]+)"', head)
        assert ("application/rss+xml", expected) in links, (path, links)
        assert {media for media, _ in links} == {"application/rss+xml", "application/atom+xml", "application/feed+json"}
        for _, href in links:
            _parsed(client, href.replace("&amp;", "&"))


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_text_xml_cannot_carry_does_not_break_a_feed(client: TestClient, app: FastAPI, fmt: str) -> None:
    """A control character in a paper's text, or in a search's words, is dropped from the feed, not a 500."""
    import_items(app.state.session_factory, islice(read_daily_jsonl(ARXIV_CORPUS), 400))
    with app.state.session_factory() as session:
        newest = repository.category_papers(session, "cs.CL", offset=0, limit=1)[0].arxiv_id
        session.execute(update(Paper).where(Paper.arxiv_id == newest).values(title="Form\x0cfeed \x08title"))
        session.commit()
    feed = _parsed(client, f"/category/cs.CL.{fmt}")
    assert feed.entries[0].title == ("Form feed  title" if fmt != "json" else "Form\x0cfeed \x08title")
    if getattr(app.state, "search", None) is None:
        service = SearchService(app.state.settings, app.state.session_factory)
        service.sync()
        service.ready.set()
        app.state.search = service
    feed = _parsed(client, f"/search.{fmt}?q=diffusion%0Bmodels")
    assert feed.entries and "diffusion" in feed.feed.title
