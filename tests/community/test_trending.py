"""Trending: the score, the window ending now or at the latest feed day, the JSON twin, and OpenAPI docs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from broadsheet.community.trending import trending
from broadsheet.papers.trending import trending_score
from tests.community.conftest import page_csrf, sign_up


def test_score_prefers_fresh_well_liked_papers() -> None:
    now = datetime(2026, 5, 28, 12, tzinfo=UTC)
    assert trending_score(10, now, now) > trending_score(10, now - timedelta(days=2), now)
    assert trending_score(20, now - timedelta(hours=6), now) > trending_score(10, now - timedelta(hours=6), now)
    assert abs(trending_score(0, now, now) - 1 / 12**1.5) < 1e-12


def test_empty_recent_window_falls_back_to_the_latest_feed_day(client: TestClient, app: FastAPI) -> None:
    data = client.get("/api/trending").json()
    assert data["window"] == {"start": "2026-05-22", "end": "2026-05-28", "fallback": True}
    scores = [item["score"] for item in data["items"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 50
    assert len({item["paper"]["id"] for item in data["items"]}) == len(scores)
    page = client.get("/trending").text
    assert "ranks the week ending at the latest feed day, 2026-05-28" in page
    assert data["items"][0]["title"] in page
    # The feed's sort=trending still answers, in its own order of the day.
    assert client.get("/api/daily_papers?date=2026-05-28&sort=trending").status_code == 200


def test_window_ending_now_when_there_are_recent_submissions(app: FastAPI) -> None:
    app.state.settings.submission_max_age_days = 100_000
    with TestClient(app) as client:
        sign_up(client, "alice")
        header = {"X-CSRF-Token": page_csrf(client)}
        old = client.get("/api/daily_papers?date=2026-05-20&limit=2").json()
        for item in old:
            assert (
                client.post("/api/submissions", json={"arxiv": item["paper"]["id"]}, headers=header).status_code == 201
            )
        client.put(f"/api/papers/{old[1]['paper']['id']}/vote", headers=header)
        data = client.get("/api/trending").json()
        assert data["window"]["fallback"] is False and data["window"]["end"] == datetime.now(UTC).date().isoformat()
        assert {i["paper"]["id"] for i in data["items"]} == {i["paper"]["id"] for i in old}
        assert "ranks the week ending" not in client.get("/trending").text
    with app.state.session_factory() as session:
        page = trending(session, window_days=7, limit=1, now=datetime.now(UTC) + timedelta(days=30))
        assert page.fallback is True and page.total == 2


def test_openapi_documents_the_community_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in [
        ("/api/papers/{arxiv_id}/vote", "put"),
        ("/api/papers/{arxiv_id}/vote", "delete"),
        ("/api/submissions", "post"),
        ("/api/papers/{arxiv_id}/comments", "post"),
        ("/api/comments/{comment_id}", "patch"),
        ("/api/trending", "get"),
        ("/api/tokens", "post"),
    ]:
        assert method in paths[path], (path, method)
    schemes = spec["components"]["securitySchemes"]
    assert {scheme["type"] for scheme in schemes.values()} >= {"http", "apiKey"}
