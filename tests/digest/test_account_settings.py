"""Digest settings of a signed-in user: still double opt-in, then edited in place from the account page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import unit_of_work
from broadsheet.models import DigestSubscription
from broadsheet.settings import Settings
from broadsheet.web.app import create_app
from tests.community.conftest import page_csrf, sign_up
from tests.digest.conftest import BASE_URL
from tests.fixtures.smtp import SmtpServer


@pytest.fixture
def web(mail_settings: Settings) -> Iterator[TestClient]:
    app = create_app(mail_settings)
    with TestClient(app, base_url=BASE_URL) as client:
        yield client
    app.state.engine.dispose()


def _subscription(factory: sessionmaker[Session]) -> DigestSubscription:
    with unit_of_work(factory) as session:
        subscription = session.scalar(select(DigestSubscription))
        assert subscription is not None
        return subscription


def test_account_page_subscribes_with_confirmation_then_edits_and_cancels(
    web: TestClient, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    assert web.get("/settings/digest").status_code == 401
    sign_up(web, "grace")
    page = web.get("/settings/digest")
    assert page.status_code == 200 and "grace@example.org" in page.text
    form = {
        "csrf_token": page_csrf(web, "/settings/digest"),
        "frequency": "weekly",
        "kind": "personal",
        "keywords": "retrieval",
        "max_papers": "7",
    }
    pending = web.post("/settings/digest", data=form)
    assert pending.status_code == 200 and "nothing is sent until you click" in pending.text
    assert _subscription(loaded_factory).status == "pending"

    smtp_server.wait_for(1)
    text = smtp_server.to("grace@example.org")[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    confirm = re.search(rf"{re.escape(BASE_URL)}(/digest/confirm\?token=\S+)", text)
    assert confirm and web.get(confirm.group(1)).status_code == 200
    assert _subscription(loaded_factory).status == "active"

    web.post("/settings/digest", data={**form, "frequency": "daily", "max_papers": "3"})
    subscription = _subscription(loaded_factory)
    assert (subscription.status, subscription.frequency, subscription.max_papers) == ("active", "daily", 3)
    twin = web.get("/settings/digest", headers={"accept": "application/json"}).json()
    assert twin["subscription"]["keywords"] == "retrieval"

    web.post("/settings/digest", data={**form, "action": "unsubscribe"})
    assert _subscription(loaded_factory).status == "unsubscribed"
