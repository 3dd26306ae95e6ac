"""Turns a feed document into RSS 2.0 or Atom (feedgen) or JSON Feed 1.1."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from feedgen.feed import FeedGenerator

from broadsheet.papers.schemas import iso
from broadsheet.web.app import shorten

MEDIA_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
FORMATS = tuple(MEDIA_TYPES)


@dataclass(frozen=True)
class FeedItem:
    """One paper in a feed."""

    arxiv_id: str
    title: str
    url: str
    abstract: str
    authors: list[str]
    published: datetime
    categories: list[str] = field(default_factory=list)
    arxiv_url: str = ""
    pdf_url: str = ""
    upvotes: int = 0


@dataclass(frozen=True)
class FeedDocument:
    """A feed: what it is, where its page and itself live, and its papers in order."""

    title: str
    description: str
    page_url: str
    self_url: str  # without the format extension's query string differences: one per format
    items: list[FeedItem]
    updated: datetime | None = None

    @property
    def last_updated(self) -> datetime:
        if self.updated is not None:
            return self.updated
        return max((item.published for item in self.items), default=datetime(2000, 1, 1, tzinfo=UTC))


# What XML 1.0 cannot carry at all: control characters other than tab and newlines, lone surrogates,
# and U+FFFE/U+FFFF. A search's words (in a search feed's title) or a source's text may hold them,
# and lxml refuses the whole feed over one.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    """`text` without the characters XML cannot carry (a control character becomes a space)."""
    return _NOT_XML.sub(" ", text)


def _summary(item: FeedItem) -> str:
    authors = f"{len(item.authors)} author{'' if len(item.authors) == 1 else 's'}"
    links = f"arXiv: {item.arxiv_url} · PDF: {item.pdf_url}" if item.arxiv_url else ""
    return f"{shorten(item.abstract, 600)}\n\n{authors} · {item.upvotes} upvotes · {links}"


def _generator(doc: FeedDocument, self_url: str, self_type: str) -> FeedGenerator:
    generator = FeedGenerator()
    generator.id(doc.page_url)
    generator.title(_xml(doc.title))
    generator.subtitle(_xml(doc.description))
    generator.description(_xml(doc.description))
    generator.link(href=doc.page_url, rel="alternate")
    generator.link(href=self_url, rel="self", type=self_type)
    generator.language("en")
    generator.generator("Broadsheet")
    generator.updated(doc.last_updated)
    generator.lastBuildDate(doc.last_updated)
    generator.load_extension("dc")
    for item in doc.items:
        entry = generator.add_entry(order="append")
        entry.id(item.url)
        entry.guid(item.url, permalink=True)
        entry.title(_xml(item.title))
        entry.link(href=item.url, rel="alternate")
        summary = _xml(_summary(item))
        entry.summary(summary)
        entry.description(summary)
        entry.published(item.published)
        entry.updated(item.published)
        authors = [_xml(name) for name in item.authors[:50]]
        for name in authors:
            entry.author({"name": name})
        entry.dc.dc_creator(authors or ["unknown"])  # type: ignore[attr-defined]
        for category in item.categories:
            entry.category(term=_xml(category))
    return generator


def render_feed(doc: FeedDocument, fmt: str, self_url: str) -> bytes:
    if fmt == "rss":
        return bytes(_generator(doc, self_url, "application/rss+xml").rss_str(pretty=False))
    if fmt == "atom":
        return bytes(_generator(doc, self_url, "application/atom+xml").atom_str(pretty=False))
    return json.dumps(json_feed(doc, self_url), ensure_ascii=False).encode()


def json_feed(doc: FeedDocument, self_url: str) -> dict[str, Any]:
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1)."""
    return {
        "version": "https://jsonfeed.org/version/1.1",
        "title": doc.title,
        "home_page_url": doc.page_url,
        "feed_url": self_url,
        "description": doc.description,
        "language": "en",
        "items": [
            {
                "id": item.url,
                "url": item.url,
                "external_url": item.arxiv_url or None,
                "title": item.title,
                "content_text": _summary(item),
                "summary": shorten(item.abstract, 300),
                "date_published": iso(item.published),
                "authors": [{"name": name} for name in item.authors[:50]],
                "tags": item.categories,
                "_broadsheet": {"arxiv_id": item.arxiv_id, "upvotes": item.upvotes, "pdf": item.pdf_url},
            }
            for item in doc.items
        ],
    }
