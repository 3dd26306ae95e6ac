"""The daily feed and paper pages, and their JSON twins, on the real Hugging Face daily papers."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_home_shows_the_latest_day_with_papers(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "Thursday, May 28, 2026" in response.text
    assert response.text.count('class="card"') == 29  # every paper of that day


def test_navigation_skips_empty_days(client: TestClient) -> None:
    # 2026-01-03 and 2026-01-04 are a weekend with no papers in the archive.
    response = client.get("/date/2026-01-05")
    assert 'href="/date/2026-01-02"' in response.text
    assert 'href="/date/2026-01-06"' in response.text
    empty = client.get("/date/2026-01-03")
    assert empty.status_code == 200 and "No papers in this feed" in empty.text


def test_a_page_past_the_last_says_so_and_links_to_the_first(client: TestClient) -> None:
    past = client.get("/", params={"p": 1, "sort": "trending"})  # the latest day fits on one page
    assert past.status_code == 200 and 'class="card"' not in past.text
    assert "No more papers: page 2 is past the last one (1 page for Thursday, May 28, 2026)." in past.text
    assert 'href="?sort=trending">First page' in past.text and "Page 2 of" not in past.text
    week = client.get("/week/2026-W22", params={"p": 1})
    assert week.text.count('class="card"') > 0 and "Page 2 of" in week.text


def test_week_and_month_views_and_their_neighbours(client: TestClient) -> None:
    week = client.get("/week/2026-W02")
    assert week.status_code == 200 and "Week 02 of 2026" in week.text
    # The archive has nothing from January 10 to March 31: next goes straight to April.
    assert 'href="/week/2026-W01"' in week.text and 'href="/week/2026-W14"' in week.text
    month = client.get("/month/2026-04")
    assert "April 2026" in month.text
    assert 'href="/month/2026-01"' in month.text and 'href="/month/2026-05"' in month.text


def test_api_daily_papers_has_the_hugging_face_shape(client: TestClient) -> None:
    items = client.get("/api/daily_papers", params={"date": "2026-01-05", "limit": 100}).json()
    assert len(items) == 15
    first = items[0]
    assert set(first) >= {"paper", "publishedAt", "title", "numComments", "submittedBy"}
    assert set(first["paper"]) >= {
        "id",
        "title",
        "summary",
        "authors",
        "publishedAt",
        "upvotes",
        "githubRepo",
        "projectPage",
    }
    assert first["paper"]["authors"][0].keys() >= {"name"}
    upvotes = [item["paper"]["upvotes"] for item in items]
    assert upvotes == sorted(upvotes, reverse=True)


def test_api_paging_sorting_and_periods(client: TestClient) -> None:
    page0 = client.get("/api/daily_papers", params={"month": "2026-04", "limit": 10}).json()
    page1 = client.get("/api/daily_papers", params={"month": "2026-04", "limit": 10, "p": 1}).json()
    assert len(page0) == 10 and not {i["paper"]["id"] for i in page0} & {i["paper"]["id"] for i in page1}
    newest = client.get("/api/daily_papers", params={"date": "2026-04-06", "sort": "publishedAt", "limit": 100}).json()
    dates = [item["paper"]["publishedAt"] for item in newest]
    assert dates == sorted(dates, reverse=True)
    trending = client.get("/api/daily_papers", params={"date": "2026-04-06", "sort": "trending", "limit": 100}).json()
    assert {i["paper"]["id"] for i in trending} == {i["paper"]["id"] for i in newest}


def test_api_rejects_bad_parameters_with_a_clear_message(client: TestClient) -> None:
    for params, field in [
        ({"date": "2026-02-30"}, "date"),
        ({"week": "26W1"}, "week"),
        ({"sort": "random"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"date": "2026-01-05", "month": "2026-01"}, "month"),
    ]:
        response = client.get("/api/daily_papers", params=params)
        assert response.status_code == 400, params
        assert field in response.json()["error"]
    # A page number past any listing is refused, not passed on to the database as an offset it cannot hold.
    for path in ("/", "/category/cs.CL", "/date/2026-04-06"):
        response = client.get(path, params={"p": "99999999999999999999"})
        assert response.status_code == 400 and "p" in response.text, path


def test_paper_page_has_everything_a_reader_needs(client: TestClient) -> None:
    page = client.get("/papers/2601.00393")
    assert page.status_code == 200
    text = page.text
    for expected in [
        "NeoVerse",
        "Yuxue Yang",
        "Zhaoxiang Zhang",
        "https://arxiv.org/abs/2601.00393",
        "https://arxiv.org/pdf/2601.00393",
        "https://github.com/IamCreateAI/NeoVerse",
        "https://neoverse-4d.github.io/",
        'href="/date/2026-01-05"',
    ]:
        assert expected in text


def test_paper_json_and_markdown_twins(client: TestClient) -> None:
    paper = client.get("/api/papers/2601.00393").json()
    assert paper["id"] == "2601.00393" and paper["upvotes"] == 132 and paper["dailyDates"] == ["2026-01-05"]
    markdown = client.get("/papers/2601.00393.md")
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith("# NeoVerse") and "Yuxue Yang" in markdown.text


def test_unknown_and_malformed_ids(client: TestClient) -> None:
    missing = client.get("/papers/2601.99999")
    assert missing.status_code == 404 and "no paper with arXiv id 2601.99999" in missing.text
    assert "<html" in missing.text
    bad = client.get("/papers/not-a-paper")
    assert bad.status_code == 400
    assert client.get("/api/papers/2601.99999").json()["status"] == 404
    assert client.get("/api/papers/x'; DROP TABLE papers;--").status_code == 400
    assert client.get("/papers/2601.00393").status_code == 200


def test_openapi_describes_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/daily_papers" in spec["paths"] and "/api/papers/{arxiv_id}" in spec["paths"]
    # The list endpoints return ready JSON as a response; their documented shape must stay.
    for path in ("/api/daily_papers", "/api/papers/search"):
        body = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert body["type"] == "array" and body["items"]["type"] == "object", path
    trending = spec["paths"]["/api/trending"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert trending["type"] == "object"


def test_category_page_lists_the_newest_papers_of_a_category(client: TestClient) -> None:
    from itertools import islice

    from broadsheet.papers.ingest import import_items
    from broadsheet.sources.daily_jsonl import read_daily_jsonl
    from tests.fixtures.paths import ARXIV_CORPUS

    import_items(client.app.state.session_factory, islice(read_daily_jsonl(ARXIV_CORPUS), 300))  # type: ignore[attr-defined]
    page = client.get("/category/cs.CL")
    assert page.status_code == 200 and "Papers in cs.CL" in page.text
    ids = [part.split('"')[0] for part in page.text.split('id="paper-')[1:]]
    assert ids
    for arxiv_id in ids[:10]:
        assert "cs.CL" in client.get(f"/api/papers/{arxiv_id}").json()["categories"]
    assert client.get("/category/cs.CL.atom").status_code == 200
    assert client.get("/category/<script>").status_code in (400, 404)
    past = client.get("/category/cs.CL", params={"p": 50})
    assert "No more papers in cs.CL: page 51 is past the last one." in past.text and 'class="card"' not in past.text


def test_subject_classes_on_a_paper_page_are_not_category_links(client: TestClient) -> None:
    from itertools import islice

    from sqlalchemy import select

    from broadsheet.models import Paper
    from broadsheet.papers.ingest import import_items
    from broadsheet.sources.daily_jsonl import read_daily_jsonl
    from broadsheet.sources.records import is_arxiv_category
    from tests.fixtures.paths import ARXIV_CORPUS

    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    import_items(factory, islice(read_daily_jsonl(ARXIV_CORPUS), 400))
    with factory() as session:
        # arXiv's category lists carry MSC and ACM classes too, such as "68T45, 62H30" or "I.2.7".
        paper = next(p for p in session.scalars(select(Paper)) if not all(map(is_arxiv_category, p.categories)))
    page = client.get(f"/papers/{paper.arxiv_id}").text
    for name in paper.categories:
        link = f'<a class="category" href="/category/{name}">{name}</a>'
        assert (link in page) == is_arxiv_category(name), name
        assert f">{name}</" in page
