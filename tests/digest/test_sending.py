"""Digest emails end to end: a real SMTP server on loopback receives them and the `email` package reads them."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import unit_of_work
from broadsheet.digest.commands import load_search
from broadsheet.digest.delivery import acquire_run
from broadsheet.digest.errors import RunInProgress
from broadsheet.digest.selection import DigestPeriod
from broadsheet.digest.tasks import send_digests
from broadsheet.models import DigestDelivery, DigestRun, DigestSubscription, Paper
from broadsheet.papers.ingest import import_items
from broadsheet.papers.trending import trending_entries
from broadsheet.search.service import SearchService
from broadsheet.settings import Settings
from broadsheet.sources.daily_jsonl import read_daily_jsonl
from tests.digest.conftest import BASE_URL, add_subscriber
from tests.fixtures.paths import ARXIV_CORPUS
from tests.fixtures.smtp import SmtpServer

DAY = date(2026, 5, 28)  # the last day of the bundled feed, a Thursday


def _parts(message):  # type: ignore[no-untyped-def]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def _top_trending(factory: sessionmaker[Session], day: date, count: int) -> list[Paper]:
    with unit_of_work(factory) as session:
        rows, _ = trending_entries(session, day, day, offset=0, limit=500)
    unique = list({paper.arxiv_id: paper for _, paper in reversed(rows)}.values())
    order = list(dict.fromkeys(paper.arxiv_id for _, paper in rows))
    by_id = {paper.arxiv_id: paper for paper in unique}
    return [by_id[a] for a in order[:count]]


def test_trending_digest_is_multipart_like_the_site_with_one_click_unsubscribe(
    mail_settings: Settings, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    add_subscriber(loaded_factory, "ada@example.org", max_papers=5)
    report = send_digests(mail_settings, loaded_factory, "daily", DAY)

    assert report.sent == 1 and report.errors == []
    (message,) = smtp_server.to("ada@example.org")
    assert message["To"] == "ada@example.org"
    assert "Trending papers" in message["Subject"]
    assert message["Message-ID"].startswith("<digest.") and "2026-05-28" in message["Message-ID"]
    unsubscribe = re.fullmatch(r"<(https://[^>]+)>", message["List-Unsubscribe"])
    assert unsubscribe and unsubscribe.group(1).startswith(f"{BASE_URL}/digest/unsubscribe?token=")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    text, html = _parts(message)
    expected = _top_trending(loaded_factory, DAY, 5)
    assert len(expected) == 5
    positions = [html.index(paper.title.replace("&", "&amp;")) for paper in expected]
    assert positions == sorted(positions), "cards are in trending order"
    for paper in expected:
        assert paper.title in text
        assert f"{BASE_URL}/papers/{paper.arxiv_id}" in html
        assert f"https://arxiv.org/abs/{paper.arxiv_id}" in html
        authors = f"{len(paper.authors)} author{'' if len(paper.authors) == 1 else 's'}"
        assert authors in text and authors in html
        assert f"{paper.upvotes} upvote" in text
    assert html.count('class="card"') == 5
    assert "<img" not in html, "readable without images"
    assert unsubscribe.group(1) in html.replace("&amp;", "&") and unsubscribe.group(1) in text
    assert f"{BASE_URL}/digest/manage?token=" in text


def test_each_period_is_sent_once_and_no_paper_is_sent_twice(
    mail_settings: Settings, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    add_subscriber(loaded_factory, "bo@example.org", max_papers=8, frequency="weekly")
    first = send_digests(mail_settings, loaded_factory, "weekly", DAY)
    again = send_digests(mail_settings, loaded_factory, "weekly", DAY)
    assert (first.sent, again.sent, again.already_done) == (1, 0, 1)
    assert len(smtp_server.to("bo@example.org")) == 1

    # The week before shares papers that stayed in the feed: none of them is sent again.
    send_digests(mail_settings, loaded_factory, "weekly", date(2026, 5, 21))
    with unit_of_work(loaded_factory) as session:
        deliveries = session.scalars(select(DigestDelivery).order_by(DigestDelivery.id)).all()
    assert [d.status for d in deliveries] == ["sent", "sent"]
    assert not set(deliveries[0].paper_ids) & set(deliveries[1].paper_ids)
    assert len(smtp_server.to("bo@example.org")) == 2


def test_no_email_when_there_is_nothing_to_send(
    mail_settings: Settings, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    add_subscriber(loaded_factory, "cy@example.org")
    add_subscriber(loaded_factory, "pending@example.org", status="pending")
    report = send_digests(mail_settings, loaded_factory, "daily", date(2026, 7, 1))  # after the data ends
    assert (report.due, report.sent, report.empty) == (1, 0, 1)
    send_digests(mail_settings, loaded_factory, "daily", DAY)
    assert [r.recipients for r in smtp_server.received] == [["cy@example.org"]], "pending gets nothing"


@pytest.fixture
def search(mail_settings: Settings, loaded_factory: sessionmaker[Session]) -> SearchService:
    """The real search service over the loaded store; embeddings are off in tests, so it ranks with BM25F."""
    service = SearchService(mail_settings, loaded_factory)
    service.sync()
    service.ready.set()
    return service


def test_personal_digest_has_the_best_matches_of_the_period(
    mail_settings: Settings, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer, search: SearchService
) -> None:
    period = DigestPeriod("weekly", DAY)
    add_subscriber(
        loaded_factory, "di@example.org", frequency="weekly", kind="personal", keywords="video", max_papers=4
    )
    report = send_digests(mail_settings, loaded_factory, "weekly", DAY, search=search)
    assert report.sent == 1
    (message,) = smtp_server.to("di@example.org")
    assert message["Subject"].startswith("Your papers")
    with unit_of_work(loaded_factory) as session:
        (delivery,) = session.scalars(select(DigestDelivery)).all()
        papers = [session.get(Paper, a) for a in delivery.paper_ids]
    assert 1 <= len(papers) <= 4
    window = {"published_from": period.first_day, "published_until": period.last_day}
    expected = [hit.arxiv_id for hit in search.search("video", limit=4, **window)]
    assert delivery.paper_ids == expected
    for paper in papers:
        assert paper is not None and paper.published_at is not None
        assert period.published_from <= paper.published_at <= period.published_until
        assert "video" in (paper.title + " " + paper.abstract).lower()
        assert paper.title in _parts(message)[0]


def test_a_digest_of_categories_takes_them_in_any_case_and_whole_archives(
    mail_settings: Settings, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    # The Hugging Face daily papers carry no arXiv categories: add the arXiv papers of the period.
    period = DigestPeriod("weekly", DAY)
    in_period = (
        record
        for record in read_daily_jsonl(ARXIV_CORPUS)
        if record.published_at and period.published_from <= record.published_at <= period.published_until
    )
    import_items(loaded_factory, in_period)
    wanted = {"cl@example.org": "CS.cl", "eess@example.org": "eess"}
    for email, category in wanted.items():
        add_subscriber(loaded_factory, email, frequency="weekly", kind="personal", categories=[category], max_papers=8)
    report = send_digests(mail_settings, loaded_factory, "weekly", DAY)
    assert report.sent == 2
    with unit_of_work(loaded_factory) as session:
        for delivery in session.scalars(select(DigestDelivery)):
            subscription = session.get(DigestSubscription, delivery.subscription_id)
            assert subscription is not None
            papers = [session.get(Paper, arxiv_id) for arxiv_id in delivery.paper_ids]
            assert len(papers) == 8, subscription.email
            prefix = {"CS.cl": "cs.CL", "eess": "eess."}[wanted[subscription.email]]
            assert all(p is not None and any(c.startswith(prefix) for c in p.categories) for p in papers)


def test_temporary_failures_are_retried_and_permanent_ones_pause_after_a_threshold(
    mail_settings: Settings, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    add_subscriber(loaded_factory, "ok@example.org")
    gone = add_subscriber(loaded_factory, "gone@example.org")
    flaky_tries: list[int] = []

    def reply(recipients: list[str], attempt: int) -> str | None:
        if recipients == ["gone@example.org"]:
            return "550 5.1.1 No such user"
        if recipients == ["ok@example.org"] and len(flaky_tries) < 2:
            flaky_tries.append(attempt)
            return "451 4.3.0 Try again later"
        return None

    smtp_server.reply = reply
    settings = mail_settings.model_copy(update={"digest_failure_threshold": 2})
    first = send_digests(settings, loaded_factory, "daily", DAY)
    assert (first.sent, first.failed, first.paused) == (1, 1, 0)
    assert len(flaky_tries) == 2 and len(smtp_server.to("ok@example.org")) == 1
    second = send_digests(settings, loaded_factory, "daily", date(2026, 5, 27))
    assert (second.failed, second.paused) == (1, 1)
    with unit_of_work(loaded_factory) as session:
        subscription = session.get(DigestSubscription, gone)
        assert subscription is not None and subscription.status == "paused"
        assert "550" in (subscription.last_failure or "")
    third = send_digests(settings, loaded_factory, "daily", date(2026, 5, 26))
    assert third.due == 1 and third.failed == 0


def test_a_live_run_keeps_others_out_and_a_dead_one_is_taken_over(loaded_factory: sessionmaker[Session]) -> None:
    import os
    import socket

    with unit_of_work(loaded_factory) as session:
        session.add(DigestRun(period_key="daily:2026-05-28", owner=f"{socket.gethostname()}:{os.getpid()}:live"))
        session.add(DigestRun(period_key="daily:2026-05-27", owner=f"{socket.gethostname()}:999999999:dead"))
    with pytest.raises(RunInProgress):
        acquire_run(loaded_factory, "daily:2026-05-28", "me")
    acquire_run(loaded_factory, "daily:2026-05-27", "me")
    with unit_of_work(loaded_factory) as session:
        run = session.get(DigestRun, "daily:2026-05-27")
        assert run is not None and run.owner == "me"


def test_the_digest_command_searches_the_index_serve_saved(
    mail_settings: Settings, loaded_factory: sessionmaker[Session], search: SearchService
) -> None:
    saved = search.save_index()
    assert saved is not None
    from_cli = load_search(mail_settings, loaded_factory)
    hits = from_cli.search("video generation", limit=5)
    assert [h.arxiv_id for h in hits] == [h.arxiv_id for h in search.search("video generation", limit=5)] and hits
    assert from_cli._service._snapshot == saved  # type: ignore[attr-defined]


def test_personal_digest_through_the_search_service(
    mail_settings: Settings, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer, search: SearchService
) -> None:
    period = DigestPeriod("weekly", DAY)
    add_subscriber(
        loaded_factory,
        "eve@example.org",
        frequency="weekly",
        kind="personal",
        keywords="video generation",
        max_papers=5,
    )
    report = send_digests(mail_settings, loaded_factory, "weekly", DAY, search=search)
    assert report.sent == 1
    hits = search.search("video generation", limit=5, published_from=period.first_day, published_until=period.last_day)
    with unit_of_work(loaded_factory) as session:
        (delivery,) = session.scalars(select(DigestDelivery)).all()
    assert delivery.paper_ids == [hit.arxiv_id for hit in hits] and hits
    text = smtp_server.to("eve@example.org")[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert 'for "video generation"' in text
