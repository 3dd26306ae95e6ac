"""The search page clicked through in Debian's chromium: query, highlights, filter, paging, similar papers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broadsheet.search.embedder import Embedder
from broadsheet.web.app import create_app
from tests.fixtures.app import make_settings
from tests.fixtures.browser import LiveServer, screenshot
from tests.search.conftest import indexed_service


@pytest.fixture
def search_site(tmp_path: Path, catalogue_database: Path, embedder: Embedder) -> Iterator[LiveServer]:
    service, _ = indexed_service(tmp_path, catalogue_database, embedder)
    app = create_app(make_settings(tmp_path))
    app.state.search = service
    with LiveServer(app) as server:
        yield server


def titles(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("article.card h3").all_inner_texts()]


def test_reader_searches_filters_pages_and_follows_similar_papers(search_site: LiveServer, page: Any) -> None:
    page.goto(search_site.url + "/search")
    page.fill("input[name=q]", "video generation")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/search?q=video+generation**")
    first_page = titles(page)
    assert len(first_page) == 20
    marks = [m.lower() for m in page.locator("article.card mark").all_inner_texts()]
    assert marks and all(m.startswith(("video", "generat")) for m in marks), marks
    screenshot(page, "search")

    page.click("a[rel=next]")
    page.wait_for_url("**p=1**")
    assert not set(titles(page)) & set(first_page)
    page.click("a[rel=prev]")
    page.wait_for_url("**p=0**")
    assert titles(page) == first_page

    page.fill("input[name=category]", "cs.CL")
    page.click("button:has-text('Search')")
    page.wait_for_url("**category=cs.CL**")
    filtered = page.locator("article.card h3 a")
    assert filtered.count() > 0
    filtered.first.click()
    page.wait_for_url("**/papers/**")
    assert "cs.CL" in page.locator("a.category").all_inner_texts()

    similar = page.locator("section.similar li a")
    assert similar.count() == 5
    own_title = page.locator("h1.paper-title").inner_text()
    assert own_title not in similar.all_inner_texts()
    first_similar = similar.first.inner_text()
    page.click("text=More like this")
    page.wait_for_url("**/search?like=**")
    assert own_title in page.locator("p.search-like").inner_text()
    found = titles(page)
    assert len(found) == 20 and own_title not in found and found[0] == first_similar


def test_an_arxiv_link_typed_in_the_box_opens_the_paper(search_site: LiveServer, page: Any) -> None:
    page.goto(search_site.url + "/search")
    page.fill("input[name=q]", "https://arxiv.org/abs/2503.11731v2")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/papers/2503.11731")
    assert page.locator("h1.paper-title").inner_text()

    page.goto(search_site.url + "/search?q=" + "x" * 501)
    assert "500 characters" in page.locator("[role=alert]").inner_text()
