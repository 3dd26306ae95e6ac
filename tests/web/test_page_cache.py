"""The anonymous page cache: shared pages, but each visitor's forms carry a token bound to their own cookie."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from broadsheet.models import Paper
from broadsheet.web import cache as cache_module
from broadsheet.web.app import create_app
from tests.fixtures.app import make_settings

TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


class Clock:
    """The cache's clock, moved by hand so the tests do not depend on how fast the machine is."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(cache_module, "now", fake)
    return fake


@pytest.fixture
def cached_app(tmp_path: Path, hf_daily_database: Path, clock: Clock) -> Iterator[FastAPI]:
    (tmp_path / "broadsheet.sqlite3").write_bytes(hf_daily_database.read_bytes())
    app = create_app(make_settings(tmp_path, page_cache_ttl_s=3))
    yield app
    app.state.engine.dispose()


def _cache(app: FastAPI) -> object:
    layer = app.middleware_stack
    while layer is not None and type(layer).__name__ != "AnonymousPageCache":
        layer = getattr(layer, "app", None)
    assert layer is not None
    return layer


def test_visitors_share_the_page_but_not_the_token(cached_app: FastAPI) -> None:
    alice, bob = TestClient(cached_app), TestClient(cached_app)
    first = alice.get("/date/2026-01-05")
    second = bob.get("/date/2026-01-05")
    cache = _cache(cached_app)
    assert cache.hits >= 1  # type: ignore[attr-defined]
    alice_token, bob_token = TOKEN.search(first.text), TOKEN.search(second.text)
    assert alice_token and bob_token and alice_token.group(1) != bob_token.group(1)
    assert TOKEN.sub("", first.text) == TOKEN.sub("", second.text)

    refused = bob.post("/digest/subscribe", data={"email": "bob@example.org", "csrf_token": alice_token.group(1)})
    assert refused.status_code == 403
    accepted = bob.post("/digest/subscribe", data={"email": "bob@example.org", "csrf_token": bob_token.group(1)})
    assert accepted.status_code in (200, 303)


def test_replayed_responses_do_not_grow_headers(cached_app: FastAPI) -> None:
    client = TestClient(cached_app)
    counts = {len(client.get("/api/daily_papers", headers={"cookie": ""}).headers.raw) for _ in range(5)}
    assert len(counts) == 1


def test_an_anonymous_reader_sees_changes_once_the_entry_expires(cached_app: FastAPI, clock: Clock) -> None:
    client = TestClient(cached_app)
    before = client.get("/api/papers/2601.00393").json()["upvotes"]
    with cached_app.state.session_factory.begin() as session:
        session.execute(update(Paper).where(Paper.arxiv_id == "2601.00393").values(vote_count=Paper.vote_count + 5))
    clock.now += 2.9
    assert client.get("/api/papers/2601.00393").json()["upvotes"] == before  # still the cached copy
    clock.now += 0.2
    assert client.get("/api/papers/2601.00393").json()["upvotes"] == before + 5
