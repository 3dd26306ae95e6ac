"""Upvotes: with and without JavaScript, one per user per paper, exact under real concurrency (SQLite and PG)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.community import service
from broadsheet.db import unit_of_work
from broadsheet.models import Paper, User, Vote
from tests.community.conftest import new_client, page_csrf, quick_users, sign_up
from tests.fixtures.app import migrated_factory

DAY = "2026-05-28"


def first_card_id(client: TestClient) -> str:
    items = client.get(f"/api/daily_papers?date={DAY}").json()
    return str(items[0]["paper"]["id"])


def upvotes(client: TestClient, arxiv_id: str) -> int:
    return int(client.get(f"/api/papers/{arxiv_id}").json()["upvotes"])


def test_upvote_and_remove_without_javascript(client: TestClient) -> None:
    sign_up(client, "alice")
    arxiv_id = first_card_id(client)
    before = upvotes(client, arxiv_id)
    token = page_csrf(client, f"/date/{DAY}")
    form = {"csrf_token": token, "action": "up", "next": f"/date/{DAY}"}
    response = client.post(f"/vote/{arxiv_id}", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/date/{DAY}"
    page = client.get(f"/date/{DAY}").text
    widget = page.split(f'data-paper="{arxiv_id}"', 1)[1].split("</form>", 1)[0]
    assert 'aria-pressed="true"' in widget and f'<span class="count">{before + 1}</span>' in widget
    assert 'name="action" value="remove"' in widget
    client.post(f"/vote/{arxiv_id}", data=form)  # a second upvote changes nothing
    assert upvotes(client, arxiv_id) == before + 1
    client.post(f"/vote/{arxiv_id}", data={**form, "action": "remove"})
    assert upvotes(client, arxiv_id) == before
    client.post(f"/vote/{arxiv_id}", data={**form, "action": "remove"})
    assert upvotes(client, arxiv_id) == before


def test_upvote_from_javascript_answers_json(client: TestClient) -> None:
    sign_up(client, "alice")
    arxiv_id = first_card_id(client)
    before = upvotes(client, arxiv_id)
    token = page_csrf(client, f"/papers/{arxiv_id}")
    response = client.post(
        f"/vote/{arxiv_id}", data={"csrf_token": token, "action": "up"}, headers={"Accept": "application/json"}
    )
    assert response.json() == {"id": arxiv_id, "upvotes": before + 1, "voted": True}


def test_anonymous_visitors_are_asked_to_sign_in(client: TestClient) -> None:
    arxiv_id = first_card_id(client)
    page = client.get(f"/papers/{arxiv_id}").text
    assert 'title="Sign in to upvote"' in page
    response = client.post(f"/vote/{arxiv_id}", data={"csrf_token": page_csrf(client), "action": "up"})
    assert response.status_code == 401


def test_votes_from_two_people_add_up_and_show_on_the_profile(client: TestClient, app: FastAPI) -> None:
    arxiv_id = first_card_id(client)
    before = upvotes(client, arxiv_id)
    for name in ("alice", "bob"):
        browser = sign_up(new_client(app), name)
        browser.post(f"/vote/{arxiv_id}", data={"csrf_token": page_csrf(browser, "/"), "action": "up"})
    assert upvotes(client, arxiv_id) == before + 2
    profile = client.get("/api/users/bob").json()
    assert [paper["id"] for paper in profile["upvoted"]] == [arxiv_id]


def test_voting_on_an_unknown_paper_is_a_404(client: TestClient) -> None:
    sign_up(client, "alice")
    response = client.post("/vote/2401.99999", data={"csrf_token": page_csrf(client), "action": "up"})
    assert response.status_code == 404


def _concurrently(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run `work(i)` for i in range(count) on real threads released together by a barrier."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(index)
        except BaseException as error:  # collected and reported by the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def _one_paper(factory: sessionmaker[Session]) -> str:
    with unit_of_work(factory) as session:
        session.add(
            Paper(
                arxiv_id="2605.00001",
                title="A paper",
                abstract="About votes.",
                published_at=datetime(2026, 5, 1, tzinfo=UTC),
            )
        )
    return "2605.00001"


def _check_concurrent_votes(factory: sessionmaker[Session]) -> None:
    arxiv_id = _one_paper(factory)
    user_ids = quick_users(factory, 50)
    users: dict[int, User] = {}
    with factory() as session:
        for user in session.scalars(select(User)):
            session.expunge(user)
            users[user.id] = user

    def vote(index: int) -> None:
        with unit_of_work(factory) as session:
            service.upvote(session, users[user_ids[index]], arxiv_id)

    assert _concurrently(50, vote) == []
    with factory() as session:
        assert session.get(Paper, arxiv_id).vote_count == 50  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(Vote)) == 50

    alice = users[user_ids[0]]

    def again(_: int) -> None:
        with unit_of_work(factory) as session:
            service.upvote(session, alice, arxiv_id)

    assert _concurrently(8, again) == []

    def remove(_: int) -> None:
        with unit_of_work(factory) as session:
            service.remove_upvote(session, alice, arxiv_id)

    assert _concurrently(8, remove) == []
    with factory() as session:
        assert session.get(Paper, arxiv_id).vote_count == 49  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(Vote)) == 49


def test_fifty_concurrent_votes_on_sqlite_give_fifty(tmp_path: Path) -> None:
    engine, factory = migrated_factory(f"sqlite:///{tmp_path / 'votes.sqlite3'}")
    try:
        _check_concurrent_votes(factory)
    finally:
        engine.dispose()


def test_one_user_voting_twice_at_once_counts_once(tmp_path: Path) -> None:
    engine, factory = migrated_factory(f"sqlite:///{tmp_path / 'twice.sqlite3'}")
    try:
        arxiv_id = _one_paper(factory)
        quick_users(factory, 1)
        with factory() as session:
            alice = session.scalars(select(User)).one()
            session.expunge(alice)

        def vote(_: int) -> None:
            with unit_of_work(factory) as session:
                service.upvote(session, alice, arxiv_id)

        assert _concurrently(2, vote) == []
        with factory() as session:
            assert session.get(Paper, arxiv_id).vote_count == 1  # type: ignore[union-attr]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_fifty_concurrent_votes_on_postgresql_give_fifty(postgres_database: str) -> None:
    engine, factory = migrated_factory(postgres_database)
    try:
        _check_concurrent_votes(factory)
    finally:
        engine.dispose()


def test_feed_day_is_unchanged_by_votes_api_shape(client: TestClient) -> None:
    """The JSON API answers the same counts the pages show."""
    sign_up(client, "alice")
    arxiv_id = first_card_id(client)
    state = client.get(f"/api/papers/{arxiv_id}/vote").json()
    assert state == {"id": arxiv_id, "upvotes": upvotes(client, arxiv_id), "voted": False}
    assert date.fromisoformat(DAY)
