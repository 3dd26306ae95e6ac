"""Submissions to today's feed (from the store or the arXiv API, served locally) and curator picks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from broadsheet.models import User
from broadsheet.web.app import create_app
from tests.community.conftest import new_client, page_csrf, sign_up
from tests.fixtures.app import make_settings
from tests.fixtures.paths import SHARED_DATA
from tests.fixtures.replay import ReplayServer, Reply

RECORDED = SHARED_DATA / "arxiv" / "api_atom" / "arxiv_api_atom_id_list_1601.00001_2020-09-04.xml"
EMPTY_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>ArXiv Query</title><id>x</id>
<updated>2020-09-04T00:00:00-04:00</updated>
<opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:totalResults>
<opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
<opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:itemsPerPage></feed>"""


@pytest.fixture
def arxiv_api(replay_server: ReplayServer) -> str:
    """A local stand-in for export.arxiv.org: the recorded answer for 1601.00001, an empty feed otherwise."""
    recorded = RECORDED.read_bytes()
    replay_server.respond_with(
        lambda seen: Reply(
            recorded if "1601.00001" in seen.query.get("id_list", "") else EMPTY_FEED,
            content_type="application/atom+xml",
        )
    )
    return replay_server.url + "/api/query"


def submit(client: TestClient, raw: str) -> tuple[int, str]:
    response = client.post(
        "/submit", data={"csrf_token": page_csrf(client, "/submit"), "arxiv": raw}, follow_redirects=False
    )
    return response.status_code, response.text


def app_with(tmp_path: Path, hf_daily_database: Path, **overrides: object) -> FastAPI:
    import shutil

    shutil.copy(hf_daily_database, tmp_path / "broadsheet.sqlite3")
    return create_app(make_settings(tmp_path, **overrides))  # type: ignore[arg-type]


def test_submission_refusals_are_clear(client: TestClient) -> None:
    sign_up(client, "alice")
    status, text = submit(client, "not an id; DROP TABLE papers --")
    assert status == 400 and "is not an arXiv id or URL" in text
    known = client.get("/api/daily_papers?date=2026-05-28").json()[0]["paper"]["id"]
    status, text = submit(client, f"https://arxiv.org/abs/{known}v2")
    assert status == 400 and "more than 14 days ago" in text


def test_unknown_paper_and_arxiv_fetch(tmp_path: Path, hf_daily_database: Path, arxiv_api: str) -> None:
    app = app_with(tmp_path, hf_daily_database, arxiv_api_url=arxiv_api, submission_max_age_days=100_000)
    with TestClient(app) as client:
        sign_up(client, "alice")
        status, text = submit(client, "2401.99999")
        assert status == 404 and "arXiv has no paper 2401.99999" in text
        status, _ = submit(client, "https://arxiv.org/pdf/1601.00001v1.pdf")
        assert status == 303
        today = datetime.now(UTC).date().isoformat()
        items = client.get(f"/api/daily_papers?date={today}").json()
        assert [(i["paper"]["id"], i["submittedBy"]["name"]) for i in items] == [("1601.00001", "alice")]
        assert items[0]["paper"]["title"].startswith("Inelastic effects in molecular transport junctions")
        page = client.get("/").text
        assert "submitted by alice" in page and "Inelastic effects" in page
        status, text = submit(client, "arXiv:1601.00001")
        assert status == 409 and "already in today&#39;s feed" in text
        assert client.get("/api/users/alice").json()["submitted"][0]["paper"]["id"] == "1601.00001"
    app.state.engine.dispose()


def test_submission_api_and_curation(tmp_path: Path, hf_daily_database: Path) -> None:
    app = app_with(tmp_path, hf_daily_database, submission_max_age_days=100_000)
    with TestClient(app) as alice:
        sign_up(alice, "alice")
        header = {"X-CSRF-Token": page_csrf(alice, "/")}
        ids = [item["paper"]["id"] for item in alice.get("/api/daily_papers?date=2026-05-28&limit=3").json()]
        for arxiv_id in ids:
            response = alice.post("/api/submissions", json={"arxiv": arxiv_id}, headers=header)
            assert response.status_code == 201, response.text
        today = datetime.now(UTC).date().isoformat()
        curation = {"day": today, "arxiv_id": ids[2], "action": "pick"}
        assert alice.post("/api/curation", json=curation, headers=header).status_code == 403
        with app.state.session_factory() as session:
            session.scalars(select(User)).one().role = "curator"
            session.commit()
        # The card shows curator controls now; the form picks the last paper, which then comes first.
        assert 'action="/curate"' in alice.get("/").text
        form = {"csrf_token": page_csrf(alice, "/"), "day": today, "arxiv_id": ids[2], "action": "pick"}
        assert alice.post("/curate", data=form, follow_redirects=False).status_code == 303
        order = [i["paper"]["id"] for i in alice.get(f"/api/daily_papers?date={today}").json()]
        assert order[0] == ids[2]
        assert (
            alice.post(
                "/api/curation", json={**curation, "arxiv_id": ids[1], "action": "pin"}, headers=header
            ).status_code
            == 200
        )
        order = [i["paper"]["id"] for i in alice.get(f"/api/daily_papers?date={today}").json()]
        assert order[:2] == [ids[1], ids[2]]
        alice.post("/api/curation", json={**curation, "action": "remove"}, headers=header)
        order = [i["paper"]["id"] for i in alice.get(f"/api/daily_papers?date={today}").json()]
        assert ids[2] not in order
        bob = sign_up(new_client(app), "bob")
        status, text = submit(bob, ids[2])
        assert status == 409 and "removed from today" in text
    app.state.engine.dispose()
