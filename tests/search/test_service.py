"""Search over the store: filters, new and changed papers, the search page and its JSON twin."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.errors import InvalidInput
from broadsheet.models import Paper, PaperEmbedding
from broadsheet.papers.ingest import import_items
from broadsheet.search.embedder import Embedder
from broadsheet.search.errors import ModelMismatchError
from broadsheet.search.service import SearchFilters, phrase_pattern
from broadsheet.sources.records import PaperRecord
from broadsheet.web.app import create_app
from tests.fixtures.app import make_settings
from tests.search.conftest import VECTORS, CountingEmbedder, indexed_service

T = TypeVar("T")


def test_filters_restrict_results_exactly(tmp_path: Path, catalogue_database: Path, embedder: Embedder) -> None:
    service, factory = indexed_service(tmp_path, catalogue_database, embedder)
    with factory() as session:
        papers = {p.arxiv_id: p for p in session.scalars(select(Paper))}
    days = sorted({p.published_at.date() for p in papers.values() if p.published_at})
    cut = days[len(days) // 2]

    cl = service.search("language models", limit=50, categories=["cs.CL"])
    assert cl and all("cs.CL" in papers[h.arxiv_id].categories for h in cl)
    recent = service.search("image segmentation", limit=50, published_from=cut)
    assert recent and all(papers[h.arxiv_id].published_at.date() >= cut for h in recent)  # type: ignore[union-attr]
    with_code = service.search("a method", limit=50, has_code=True)
    assert all(papers[h.arxiv_id].github_repo for h in with_code)
    nothing = service.search("segmentation", categories=["astro-ph.CO"])
    assert nothing == []


def test_categories_match_in_any_case_by_archive_and_from_the_query(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder
) -> None:
    service, factory = indexed_service(tmp_path, catalogue_database, embedder)
    with factory() as session:
        listed = {p.arxiv_id: p.categories for p in session.scalars(select(Paper))}

    def found(query: str, **filters: Any) -> list[str]:
        return [hit.arxiv_id for hit in service.search(query, limit=200, **filters)]

    exact = found("language models", categories=["cs.CL"])
    assert exact and all("cs.CL" in listed[i] for i in exact)
    assert found("language models", categories=["cs.cl"]) == found("language models", categories=["CS.CL"]) == exact
    assert found("cat:cs.CL language models") == found("language models category:CS.cl") == exact
    # Two categories: papers in either; the form's and the query's are combined the same way.
    both = found("language models", categories=["cs.CL", "cs.CV"])
    assert {"cs.CL", "cs.CV"} <= {c for i in both for c in listed[i]}
    assert all({"cs.CL", "cs.CV"} & set(listed[i]) for i in both)
    assert found("cat:cs.CV language models", categories=["cs.CL"]) == both
    # The papers each key selects, against the store: a category in any case, an archive's every category.
    arrays = service._filter_arrays()
    for key, wanted in [("cs.cl", lambda c: c == "cs.CL"), ("eess", lambda c: c.startswith("eess."))]:
        truth = [any(wanted(c) for c in listed[i]) for i in service.searcher.ids]
        assert arrays.in_category(key).tolist() == truth and any(truth) and not all(truth), key
    # A category no paper lists finds nothing and is named back; none of it is kept in memory.
    assert found("language models", categories=["astro-ph.CO"]) == found("cat:astro-ph.co language models") == []
    assert service.unlisted_categories(["cs.cl", "astro-ph.CO", "cs"]) == ["astro-ph.CO"]
    assert "astro-ph.co" not in service._filter_arrays().by_category
    with pytest.raises(InvalidInput, match="not an arXiv category"):
        service.search("language models", categories=["cs.CL; DROP"])


def test_phrase_pattern_matches_whole_words_across_any_whitespace() -> None:
    pattern = phrase_pattern("Large  language models")
    assert pattern is not None
    assert pattern.search("we study large language\nmodels here")
    assert not pattern.search("very large language modelsx")
    assert not pattern.search("enlarge language models")
    assert phrase_pattern("   ") is None


def test_phrase_filter_reads_only_candidates_and_agrees_with_a_full_scan(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder
) -> None:
    service, factory = indexed_service(tmp_path, catalogue_database, embedder)
    with factory() as session:
        titles = list(session.scalars(select(Paper.title).order_by(Paper.arxiv_id).limit(40)))
    arrays = service._filter_arrays()
    phrases = [" ".join(title.split()[i : i + n]) for title in titles for i, n in ((0, 2), (1, 3))]
    phrases += ["language models", "of the", "neural network", "no such words together"]
    for phrase in phrases:
        pattern = phrase_pattern(phrase)
        assert pattern is not None
        expected = arrays.texts.containing(pattern)  # every text read
        assert (service._with_phrase(arrays.texts, phrase) == expected).all(), phrase
    assert arrays.texts.containing(phrase_pattern("language models"), among=np.zeros(0, np.int32)).sum() == 0  # type: ignore[arg-type]


def test_phrases_and_authors(tmp_path: Path, catalogue_database: Path, embedder: Embedder) -> None:
    service, factory = indexed_service(tmp_path, catalogue_database, embedder)
    with factory() as session:
        paper = session.scalars(select(Paper).order_by(Paper.arxiv_id)).first()
    assert paper is not None
    author = paper.authors[-1]
    hits = service.search(f'author:"{author}"', limit=20)
    assert paper.arxiv_id in {h.arxiv_id for h in hits}
    phrase = " ".join(paper.title.split()[:3])
    phrased = service.search(f'"{phrase}"', limit=20)
    assert phrased and all(phrase.lower() in (h.arxiv_id and _text(factory, h.arxiv_id)) for h in phrased)


def test_authors_and_phrases_match_with_or_without_accents(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder
) -> None:
    service, factory = indexed_service(tmp_path, catalogue_database, embedder)
    with factory() as session:
        paper = session.get(Paper, "2503.11849")
    assert paper is not None and "Laura Leal-Taixé" in paper.authors
    for name in ("Leal-Taixé", "leal-taixe", "LEAL-TAIXE"):
        assert paper.arxiv_id in [h.arxiv_id for h in service.search(f"author:{name}", limit=5)], name
    assert service.search("author:Taixa", limit=5) == []
    with factory.begin() as session:  # an accented word in a title: found as typed and as most people type it
        session.execute(
            update(Paper)
            .where(Paper.arxiv_id == paper.arxiv_id)
            .values(title="A naïve Bayes baseline for École tracking", modified_at=datetime.now(UTC))
        )
    service.sync()
    for query in ('"naive bayes baseline"', '"naïve Bayes baseline"', "naive ecole tracking"):
        assert service.search(query, limit=1)[0].arxiv_id == paper.arxiv_id, query


def _text(factory: sessionmaker[Session], arxiv_id: str) -> str:
    with factory() as session:
        paper = session.get(Paper, arxiv_id)
        assert paper is not None
        return f"{paper.title} {paper.abstract}".lower()


def test_a_new_paper_is_found_after_sync_and_a_changed_abstract_is_embedded_once(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder
) -> None:
    service, factory = indexed_service(tmp_path, catalogue_database, embedder)
    counting = service.embedder
    assert isinstance(counting, CountingEmbedder)
    fresh = PaperRecord(
        arxiv_id="2611.00001",
        title="Teaching quadruped robots to climb stairs from a single camera",
        abstract="We train a legged robot controller end to end from monocular images to traverse staircases.",
        authors=["A. Researcher"],
        categories=["cs.RO"],
        published_at=datetime(2026, 11, 20, tzinfo=UTC),
        source="test",
    )
    import_items(factory, [fresh])
    service.sync()
    hits = service.search("four-legged robot walking up steps with vision", limit=3, mode="dense")
    assert hits[0].arxiv_id == "2611.00001"
    assert len(counting.embedded) == 1
    # embedded through OpenVINO, whose compiled model is freed once the sync is done with it
    assert counting.paper_backend == "openvino" and not counting._paper_failed and not counting._paper_encoders

    with factory.begin() as session:
        session.execute(
            update(Paper)
            .where(Paper.arxiv_id == "2611.00001")
            .values(
                abstract="We fly a quadrotor drone through forests using event cameras.",
                version=2,
                modified_at=datetime.now(UTC),
            )
        )
    service.sync()
    service.sync()
    assert len(counting.embedded) == 2, "the changed text is embedded once, an unchanged one never again"
    assert service.search("drone flying through a forest", limit=1, mode="dense")[0].arxiv_id == "2611.00001"
    with factory() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(PaperEmbedding).where(PaperEmbedding.arxiv_id == "2611.00001")
            )
            == 1
        )


class SlowCountingEmbedder(CountingEmbedder):
    """Takes its time, so that two workers syncing at once both see the same papers unembedded."""

    def encode(self, texts, precision=None):  # type: ignore[no-untyped-def]
        time.sleep(0.5)
        return super().encode(texts, precision)


def test_two_workers_syncing_at_once_embed_each_new_text_once(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder
) -> None:
    from broadsheet.search.service import SearchService

    first, factory = indexed_service(tmp_path, catalogue_database, embedder)
    second = SearchService(first.settings, factory, SlowCountingEmbedder(embedder))
    second.sync()
    second.ready.set()
    first.embedder = first.searcher.embedder = SlowCountingEmbedder(embedder)
    fresh = [
        PaperRecord(
            arxiv_id=f"2611.0000{i}",
            title=f"Stair climbing for legged robots, part {i}",
            abstract="A controller for quadruped robots that climbs staircases from camera images.",
            authors=["A. Researcher"],
            categories=["cs.RO"],
            published_at=datetime(2026, 11, 20, tzinfo=UTC),
            source="test",
        )
        for i in range(1, 5)
    ]
    import_items(factory, fresh)
    start = threading.Barrier(2)

    def sync(service: SearchService) -> int:
        start.wait()
        return service.sync().embedded

    with ThreadPoolExecutor(2) as pool:
        embedded = list(pool.map(sync, [first, second]))
    assert sorted(embedded) == [0, 4], "one worker embeds the new papers; the other takes the stored vectors"
    for service in (first, second):
        assert service.search("quadruped robot climbing stairs", limit=4, mode="dense")[0].arxiv_id.startswith("2611.")


def test_vectors_of_another_model_are_refused(tmp_path: Path, catalogue_database: Path, embedder: Embedder) -> None:
    service, _ = indexed_service(tmp_path, catalogue_database, embedder)
    other = tmp_path / "other"
    shutil.copytree(VECTORS, other)
    manifest = (other / "manifest.json").read_text().replace("all-MiniLM-L6-v2", "all-mpnet-base-v2")
    (other / "manifest.json").write_text(manifest)
    with pytest.raises(ModelMismatchError, match="mpnet"):
        service.import_vectors(other)


def test_similar_papers_share_the_topic(tmp_path: Path, catalogue_database: Path, embedder: Embedder) -> None:
    service, factory = indexed_service(tmp_path, catalogue_database, embedder)
    with factory() as session:
        paper = session.scalars(select(Paper).order_by(Paper.arxiv_id)).first()
    assert paper is not None
    similar = service.similar(paper.arxiv_id, 5)
    assert len(similar) == 5 and paper.arxiv_id not in {h.arxiv_id for h in similar}
    assert all(0 < h.score <= 1 for h in similar)


def test_more_like_this_pages_through_the_closest_papers_within_the_filters(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder
) -> None:
    service, factory = indexed_service(tmp_path, catalogue_database, embedder)
    with factory() as session:
        paper = session.get(Paper, "2503.11849")
        listed = {p.arxiv_id: p.categories for p in session.scalars(select(Paper))}
    assert paper is not None
    none = SearchFilters()
    closest = [h.arxiv_id for h in service.like(paper.arxiv_id, none, limit=60)]
    assert len(closest) == 60 and paper.arxiv_id not in closest
    assert closest[:5] == [h.arxiv_id for h in service.similar(paper.arxiv_id, 5)]
    pages = [h.arxiv_id for n in range(3) for h in service.like(paper.arxiv_id, none, limit=20, offset=20 * n)]
    assert pages == closest
    in_cl = [h.arxiv_id for h in service.like(paper.arxiv_id, SearchFilters(["cs.cl"]), limit=20)]
    assert in_cl and all("cs.CL" in listed[i] for i in in_cl)
    assert service.like("2101.99999", none, limit=20) == []  # no vector (not in the index)


@pytest.fixture
def search_client(tmp_path: Path, catalogue_database: Path, embedder: Embedder) -> TestClient:
    service, _ = indexed_service(tmp_path, catalogue_database, embedder)
    app = create_app(make_settings(tmp_path))
    app.state.search = service
    return TestClient(app)


def test_search_page_highlights_and_pages(search_client: TestClient) -> None:
    page = search_client.get("/search", params={"q": "video generation"})
    assert page.status_code == 200
    assert page.text.count('class="card"') == 20
    assert "<mark>" in page.text
    items = search_client.get("/api/papers/search", params={"q": "video generation", "limit": 5}).json()
    assert len(items) == 5 and set(items[0]) >= {"paper", "title", "numComments"}
    second = search_client.get("/api/papers/search", params={"q": "video generation", "limit": 5, "p": 1}).json()
    assert not {i["paper"]["id"] for i in items} & {i["paper"]["id"] for i in second}


def test_paper_ids_and_urls_go_straight_to_the_paper(search_client: TestClient) -> None:
    for query in [
        "2503.11731",
        "arXiv:2503.11731v2",
        "https://arxiv.org/abs/2503.11731v1",
        "https://arxiv.org/pdf/2503.11731.pdf",
        "https://huggingface.co/papers/2503.11731",
    ]:
        response = search_client.get("/search", params={"q": query}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/papers/2503.11731", query


def test_bad_queries_get_a_clear_message(search_client: TestClient) -> None:
    for query, expected in [("   ", 200), ("x" * 501, 400), ("!!! ??? ***", 400), ("2603.99999", 404)]:
        response = search_client.get("/search", params={"q": query})
        assert response.status_code == expected, query
    api = search_client.get("/api/papers/search", params={"q": "x" * 501})
    assert api.status_code == 400 and "500 characters" in api.json()["error"]
    for nameless in ('author:"" video', "author:*** video"):
        api = search_client.get("/api/papers/search", params={"q": nameless})
        assert api.status_code == 400 and "author: needs a name" in api.json()["error"], nameless
    hostile = search_client.get("/search", params={"q": "<script>alert(1)</script> video"})
    assert hostile.status_code == 200
    assert "<script>alert(1)</script>" not in hostile.text and "&lt;script&gt;" in hostile.text
    sql = search_client.get("/api/papers/search", params={"q": "video'; DROP TABLE papers; --"})
    assert sql.status_code == 200


def test_category_requests_get_results_or_a_clear_message(search_client: TestClient) -> None:
    lower = search_client.get("/api/papers/search", params={"q": "video generation", "category": "cs.cv"}).json()
    assert lower and all("cs.CV" in item["paper"]["categories"] for item in lower)
    for query, category, message in [
        ("video", "cs.CV!", "category: 'cs.CV!' is not an arXiv category"),
        ("video cat:", None, "cat: needs an arXiv category"),
        ("video cat:a.b.c", None, "q: 'a.b.c' is not an arXiv category"),
        ("cat:cs.CV", None, "add words to search for in cs.CV"),
        ("video author:", None, "author: needs a name"),
    ]:
        params = {"q": query, **({"category": category} if category else {})}
        api = search_client.get("/api/papers/search", params=params)
        assert api.status_code == 400 and message in api.json()["error"], query
        page = search_client.get("/search", params=params)
        assert page.status_code == 400 and escape(message) in page.text, query
    unlisted = search_client.get("/search", params={"q": "video cat:astro-ph.CO", "category": "cs.CV"})
    assert unlisted.status_code == 200 and 'class="card"' in unlisted.text  # cs.CV has papers
    nowhere = search_client.get("/search", params={"q": "video cat:astro-ph.CO"})
    assert "No paper here is listed under astro-ph.CO." in nowhere.text and 'class="card"' not in nowhere.text


def test_the_more_like_this_page_and_its_json_twin(search_client: TestClient) -> None:
    page = search_client.get("/papers/2503.11849")
    assert 'href="/search?like=2503.11849">More like this' in page.text
    like = search_client.get("/search", params={"like": "2503.11849"})
    assert like.status_code == 200 and "Papers closest in meaning to" in like.text
    assert like.text.count('class="card"') == 20 and 'id="paper-2503.11849"' not in like.text
    assert "like=2503.11849" in like.text and "&amp;p=1" in like.text  # the pager keeps it
    items = search_client.get("/api/papers/search", params={"like": "arXiv:2503.11849v2", "limit": 5}).json()
    assert [i["paper"]["id"] for i in items] == [
        i["paper"]["id"] for i in search_client.get("/api/papers/search", params={"like": "2503.11849"}).json()[:5]
    ]
    for params, status, message in [
        ({"like": "not-an-id"}, 400, "like: expected an arXiv id"),
        ({"like": "2101.99999"}, 404, "no paper with arXiv id 2101.99999 here"),
        ({"like": "2503.11849", "q": "video"}, 400, "not both"),
    ]:
        response = search_client.get("/api/papers/search", params=params)
        assert response.status_code == status and message in response.json()["error"], params


def test_newest_first_orders_the_best_matches_by_date(search_client: TestClient) -> None:
    def items(**params: Any) -> list[dict[str, Any]]:
        response = search_client.get("/api/papers/search", params={"q": "video generation", "limit": 100, **params})
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]

    best, newest = items(), items(sort="newest")
    assert {i["paper"]["id"] for i in newest} == {i["paper"]["id"] for i in best}  # the same 100 best matches
    dates = [i["paper"]["publishedAt"] for i in newest]
    assert dates == sorted(dates, reverse=True)
    assert [i["paper"]["id"] for i in newest] != [i["paper"]["id"] for i in best]
    pages = [p["paper"]["id"] for n in range(5) for p in items(sort="newest", limit=20, p=n)]
    assert pages == [i["paper"]["id"] for i in newest]
    assert items(sort="newest", limit=20, p=5) == []
    page = search_client.get("/search", params={"q": "video generation", "sort": "newest"})
    assert '<option value="newest" selected>' in page.text and "sort=newest" in page.text  # the pager keeps it
    bad = search_client.get("/api/papers/search", params={"q": "video", "sort": "oldest"})
    assert bad.status_code == 400 and "sort must be relevance or newest" in bad.json()["error"]


def test_date_filter_errors_name_the_field(search_client: TestClient) -> None:
    response = search_client.get("/api/papers/search", params={"q": "video", "from": "last week"})
    assert response.status_code == 400 and "from" in response.json()["error"]
    swapped = {"q": "video", "from": "2026-06-01", "until": "2026-05-01"}
    response = search_client.get("/api/papers/search", params=swapped)
    assert response.status_code == 400 and "from: 2026-06-01 is after until (2026-05-01)" in response.json()["error"]
    assert search_client.get("/search", params=swapped).status_code == 400


def test_a_page_past_the_last_says_so(search_client: TestClient) -> None:
    past = search_client.get("/search", params={"q": "video generation", "p": 100})
    assert past.status_code == 200 and 'class="card"' not in past.text
    assert "No more results for “video generation”: page 101 is past the last one." in past.text
    assert 'href="http://testserver/search?q=video+generation">First page' in past.text


def _lane_app(tmp_path: Path, catalogue_database: Path, embedder: Embedder, lanes: int) -> tuple[Any, Any]:
    service, _ = indexed_service(tmp_path, catalogue_database, embedder)
    app = create_app(make_settings(tmp_path, search_lanes=lanes))
    app.state.search = service
    return app, service


def _run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run on a thread of its own: the browser tests keep an event loop running on this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


async def _get_all(app: Any, paths: list[str]) -> list[int]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        responses = await asyncio.gather(*(client.get(path) for path in paths))
    return [response.status_code for response in responses]


def test_one_search_lane_runs_searches_one_after_another(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, service = _lane_app(tmp_path, catalogue_database, embedder, lanes=1)
    running, most = 0, 0
    guard = threading.Lock()
    real_run = service.run

    def slow_run(*args: Any, **kwargs: Any) -> Any:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        time.sleep(0.05)  # long enough for the other requests to arrive meanwhile
        try:
            return real_run(*args, **kwargs)
        finally:
            with guard:
                running -= 1

    monkeypatch.setattr(service, "run", slow_run)
    paths = ["/search?q=video+generation", "/api/papers/search?q=robot+grasping"] * 3
    assert _run_async(lambda: _get_all(app, paths)) == [200] * 6
    assert most == 1


def test_a_waiting_search_does_not_hold_up_other_pages(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, service = _lane_app(tmp_path, catalogue_database, embedder, lanes=2)
    both_in = threading.Barrier(3, timeout=10)  # two searches and the test itself
    real_run = service.run

    def gated_run(*args: Any, **kwargs: Any) -> Any:
        both_in.wait()  # two lanes: two searches are inside at once, or this times out
        return real_run(*args, **kwargs)

    monkeypatch.setattr(service, "run", gated_run)

    async def scenario() -> list[int]:
        searches = asyncio.gather(
            _get_all(app, ["/search?q=video+generation"]), _get_all(app, ["/api/papers/search?q=robots"])
        )
        for _ in range(500):
            if both_in.n_waiting == 2:
                break
            await asyncio.sleep(0.01)
        assert both_in.n_waiting == 2, "two lanes should let two searches in at once"
        other = await _get_all(app, ["/api/daily_papers", "/search"])  # both searches are still held
        await asyncio.to_thread(both_in.wait)
        return other + [code for codes in await searches for code in codes]

    assert _run_async(scenario) == [200] * 4
