"""Subscribe box, double opt-in, signed links and one-click unsubscribe, through the app and a real SMTP server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import unit_of_work
from broadsheet.digest import service
from broadsheet.digest.errors import InvalidSubscription
from broadsheet.digest.render import DigestMail
from broadsheet.digest.tasks import send_digests
from broadsheet.models import DigestSubscription
from broadsheet.models.base import utcnow
from broadsheet.settings import Settings
from broadsheet.web.app import create_app
from tests.digest.conftest import BASE_URL
from tests.fixtures.smtp import SmtpServer


@pytest.fixture
def web(mail_settings: Settings) -> Iterator[TestClient]:
    app = create_app(mail_settings)
    with TestClient(app, base_url=BASE_URL) as client:
        yield client
    app.state.engine.dispose()


def _csrf(client: TestClient) -> str:
    page = client.get("/")
    assert 'class="subscribe-box"' in page.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    return match.group(1) if match else ""


def _subscribe(client: TestClient, email: str, **fields: str) -> str:
    response = client.post("/digest/subscribe", data={"email": email, "csrf_token": _csrf(client), **fields})
    assert response.status_code == 200, response.text
    return response.text


def _link(message: EmailMessage, path: str) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    match = re.search(rf"{re.escape(BASE_URL)}{path}\?token=[\w.\-]+", text)
    assert match, f"no {path} link in {text!r}"
    url = urlsplit(match.group(0))
    return f"{url.path}?{url.query}"


def _count(factory: sessionmaker[Session], email: str) -> int:
    with unit_of_work(factory) as session:
        query = select(func.count()).select_from(DigestSubscription).where(DigestSubscription.email == email)
        return int(session.scalar(query) or 0)


def test_double_opt_in_then_one_click_unsubscribe(
    web: TestClient, mail_settings: Settings, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    page = _subscribe(web, "Ada@Example.org", frequency="daily")
    assert "Check your inbox" in page
    smtp_server.wait_for(1)
    (confirmation,) = smtp_server.to("ada@example.org")
    assert confirmation.get_content_type() == "multipart/alternative"
    assert "Confirm" in confirmation["Subject"]

    # Nothing is sent before the link is clicked.
    assert send_digests(mail_settings, loaded_factory, "daily", date(2026, 5, 28)).sent == 0

    confirmed = web.get(_link(confirmation, "/digest/confirm"))
    assert confirmed.status_code == 200 and "Subscription confirmed" in confirmed.text
    assert send_digests(mail_settings, loaded_factory, "daily", date(2026, 5, 28)).sent == 1
    digest = smtp_server.to("ada@example.org")[-1]
    unsubscribe_url = re.fullmatch(r"<([^>]+)>", digest["List-Unsubscribe"]).group(1)  # type: ignore[union-attr]
    assert unsubscribe_url.startswith("https://")

    # A GET (a link scanner) does not unsubscribe; the mail client's RFC 8058 POST does, with no cookie.
    assert "Unsubscribe</button>" in web.get(unsubscribe_url).text
    bare = TestClient(web.app, base_url=BASE_URL)
    one_click = bare.post(
        unsubscribe_url,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200 and "is unsubscribed" in one_click.text
    with unit_of_work(loaded_factory) as session:
        subscription = session.scalar(select(DigestSubscription))
        assert subscription is not None and subscription.status == "unsubscribed"
    assert send_digests(mail_settings, loaded_factory, "daily", date(2026, 5, 27)).sent == 0


def test_subscribing_again_creates_nothing_new_and_reveals_nothing(
    web: TestClient, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer, mail_settings: Settings
) -> None:
    unknown = _subscribe(web, "new@example.org")
    again = _subscribe(web, "NEW@example.org ")
    assert unknown.replace("new@example.org", "X") == again.replace("new@example.org", "X")
    assert _count(loaded_factory, "new@example.org") == 1
    smtp_server.wait_for(1)
    time.sleep(0.2)
    assert len(smtp_server.to("new@example.org")) == 1, "a second request within minutes sends no second email"

    json_twin = web.post(
        "/digest/subscribe",
        data={"email": "new@example.org", "csrf_token": _csrf(web)},
        headers={"accept": "application/json"},
    )
    assert json_twin.json()["status"] == "check-your-inbox"

    # Once active, a later request mails the owner a manage link and leaves the preferences alone.
    mail = DigestMail(mail_settings)
    with unit_of_work(loaded_factory) as session:
        subscription = session.scalar(select(DigestSubscription))
        assert subscription is not None
        subscription.status = "active"
        later = utcnow() + timedelta(minutes=10)
        prefs = service.parse_preferences(frequency="weekly")
        ids = service.subscribe(session, mail, "new@example.org", prefs, now=later)
        assert len(ids) == 1 and subscription.frequency == "daily"


def test_links_are_signed_bound_to_one_address_and_confirmations_expire(
    web: TestClient, mail_settings: Settings, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    _subscribe(web, "one@example.org")
    _subscribe(web, "two@example.org")
    smtp_server.wait_for(2)
    confirm_one = _link(smtp_server.to("one@example.org")[0], "/digest/confirm")
    manage_one = _link(smtp_server.to("one@example.org")[0], "/digest/manage")
    token = confirm_one.split("token=")[1]

    with unit_of_work(loaded_factory) as session:
        two = session.scalar(select(DigestSubscription).where(DigestSubscription.email == "two@example.org"))
        assert two is not None
        two_id, two_nonce = two.id, two.token_nonce
    # The address is inside the signed payload: swapping the id or address breaks the signature.
    payload, _, signature = token.partition(".")
    forged = web.get(f"/digest/confirm?token={payload[:-2]}xx.{signature}")
    assert forged.status_code == 400
    # A correctly signed token naming two's id with one's address is refused too.
    mail = DigestMail(mail_settings)
    crossed = mail.tokens.make("confirm", two_id, "one@example.org", two_nonce)
    assert web.get(f"/digest/confirm?token={crossed}").status_code == 400
    # A manage token is not a confirmation token.
    assert web.get(confirm_one.replace(token, manage_one.split("token=")[1])).status_code == 400

    old = URLSafeTimedSerializer(mail_settings.secret_key, salt="broadsheet.digest.confirm", signer=_PastSigner)
    with unit_of_work(loaded_factory) as session:
        one = session.scalar(select(DigestSubscription).where(DigestSubscription.email == "one@example.org"))
        assert one is not None
        expired = old.dumps([one.id, one.email, one.token_nonce])
    response = web.get(f"/digest/confirm?token={expired}")
    assert response.status_code == 400 and "expired" in response.text
    assert web.get(confirm_one).status_code == 200


class _PastSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 3 * 24 * 3600


def test_manage_link_changes_preferences(
    web: TestClient, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    _subscribe(web, "pat@example.org")
    smtp_server.wait_for(1)
    manage = _link(smtp_server.to("pat@example.org")[0], "/digest/manage")
    page = web.get(manage)
    assert page.status_code == 200 and "Digest preferences" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    bad = web.post(manage, data={"csrf_token": csrf, "kind": "personal", "max_papers": "5"})
    assert bad.status_code == 400 and "personal digest needs" in bad.text
    saved = web.post(
        manage,
        data={
            "csrf_token": csrf,
            "frequency": "weekly",
            "kind": "personal",
            "keywords": "diffusion",
            "categories": "cs.CV, cs.LG",
            "max_papers": "5",
        },
        headers={"accept": "application/json"},
    )
    assert saved.status_code == 200
    twin = saved.json()["subscription"]
    assert (twin["frequency"], twin["kind"], twin["max_papers"], twin["status"]) == ("weekly", "personal", 5, "active")
    with unit_of_work(loaded_factory) as session:
        subscription = session.scalar(select(DigestSubscription))
        assert subscription is not None
        assert (subscription.frequency, subscription.kind, subscription.keywords, subscription.max_papers) == (
            "weekly",
            "personal",
            "diffusion",
            5,
        )
        assert subscription.categories == ["cs.CV", "cs.LG"] and subscription.status == "active"


def test_digest_categories_are_arxiv_categories_or_archives_in_any_case() -> None:
    preferences = service.parse_preferences(kind="personal", categories="cs.CL, CS.lg eess, hep-th")
    assert preferences.categories == ["cs.CL", "CS.lg", "eess", "hep-th"]
    for bad in ("cs.CL; DROP", "68T45", "I.2.7", "cs..CL"):
        with pytest.raises(InvalidSubscription, match="categories: expected arXiv categories"):
            service.parse_preferences(kind="personal", categories=bad)
