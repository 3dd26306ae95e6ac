"""A plain keyword search over the papers table: the honest stand-in used where the hybrid service is absent.

It is NOT hybrid search: it counts query words in titles (twice) and abstracts. Tests and the digest
benchmark use it only when `broadsheet.search.service` is not available, and say so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import unit_of_work
from broadsheet.models import Paper

WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class KeywordHit:
    arxiv_id: str
    score: float


class SqlKeywordSearch:
    """Keyword matching over one window of papers at a time (loaded once per window)."""

    name = "keyword (not hybrid)"

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._window: tuple[datetime | None, datetime | None] | None = None
        self._docs: list[tuple[str, set[str], set[str], list[str]]] = []

    def _load(self, published_from: datetime | None, published_until: datetime | None) -> None:
        if self._window == (published_from, published_until):
            return
        query = select(Paper.arxiv_id, Paper.title, Paper.abstract, Paper.categories)
        if published_from is not None:
            query = query.where(Paper.published_at >= published_from)
        if published_until is not None:
            query = query.where(Paper.published_at <= published_until)
        with unit_of_work(self._factory) as session:
            rows = session.execute(query).all()
        self._docs = [
            (arxiv_id, set(WORD.findall(title.lower())), set(WORD.findall(abstract.lower())), list(cats))
            for arxiv_id, title, abstract, cats in rows
        ]
        self._window = (published_from, published_until)

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        published_from: date | None = None,
        published_until: date | None = None,
        categories: list[str] | None = None,
    ) -> Sequence[KeywordHit]:
        start = datetime.combine(published_from, time(0), tzinfo=UTC) if published_from else None
        end = datetime.combine(published_until, time.max, tzinfo=UTC) if published_until else None
        self._load(start, end)
        words = set(WORD.findall(query.lower()))
        wanted = set(categories or [])
        hits: list[KeywordHit] = []
        for arxiv_id, title, abstract, cats in self._docs:
            if wanted and not wanted & set(cats):
                continue
            score = 2.0 * len(words & title) + len(words & abstract)
            if score > 0:
                hits.append(KeywordHit(arxiv_id, score))
        hits.sort(key=lambda hit: (-hit.score, hit.arxiv_id))
        return hits[:limit]
