"""Subscribe → confirm → receive → unsubscribe, clicked through in chromium against a live server."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import unit_of_work
from broadsheet.digest.render import DigestMail
from broadsheet.digest.tasks import send_digests
from broadsheet.models import DigestSubscription
from broadsheet.settings import Settings
from broadsheet.web.app import create_app
from tests.fixtures.browser import LiveServer, screenshot
from tests.fixtures.smtp import SmtpServer

pytestmark = pytest.mark.browser


def test_subscribe_confirm_receive_unsubscribe_in_a_browser(
    page: Any, mail_settings: Settings, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    app = create_app(mail_settings)
    server = LiveServer(app)
    settings = mail_settings.model_copy(update={"base_url": server.url})
    app.state.settings = settings
    app.state.digest_mail = DigestMail(settings)
    with server:
        page.goto(server.url + "/")
        page.fill("#subscribe-email", "reader@example.org")
        page.select_option("select[name=frequency]", "daily")
        page.click(".subscribe-box button[type=submit]")
        page.wait_for_selector("text=Check your inbox")
        screenshot(page, "digest-subscribe")

        smtp_server.wait_for(1)
        text = smtp_server.to("reader@example.org")[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
        confirm = re.search(rf"{re.escape(server.url)}/digest/confirm\?token=\S+", text)
        assert confirm
        page.goto(confirm.group(0))
        page.wait_for_selector("text=Subscription confirmed")

        report = send_digests(settings, loaded_factory, "daily", date(2026, 5, 28))
        assert report.sent == 1
        digest = smtp_server.to("reader@example.org")[-1]
        html = digest.get_body(("html",)).get_content()  # type: ignore[union-attr]
        page.goto("about:blank")  # as a mail client shows it: not inside one of the site's pages and their policy
        page.set_content(html)
        assert page.locator(".card").count() == 10
        screenshot(page, "digest-email")
        page.click("text=Unsubscribe")
        page.wait_for_selector("button:has-text('Unsubscribe')")
        page.click("button:has-text('Unsubscribe')")
        page.wait_for_selector("text=is unsubscribed")
        screenshot(page, "digest-unsubscribed")
        app.state.engine.dispose()

    with unit_of_work(loaded_factory) as session:
        subscription = session.scalar(select(DigestSubscription))
        assert subscription is not None and subscription.status == "unsubscribed"
