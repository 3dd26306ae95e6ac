"""Digest fixtures: settings pointing at a loopback SMTP server, a loaded database, subscriber factories."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import make_engine, make_session_factory, migrate, unit_of_work
from broadsheet.models import DigestSubscription
from broadsheet.settings import Settings
from tests.fixtures.smtp import SmtpServer, smtp_server  # noqa: F401  (fixture)

BASE_URL = "https://broadsheet.example"


@pytest.fixture
def mail_settings(loaded_settings: Settings, smtp_server: SmtpServer) -> Settings:  # noqa: F811
    return loaded_settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "smtp_security": "none",
            "base_url": BASE_URL,
            "digest_retry_base_s": 0.01,
            "digest_smtp_connections": 2,
        }
    )


@pytest.fixture
def loaded_factory(mail_settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(mail_settings.resolved_database_url)
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


def add_subscriber(factory: sessionmaker[Session], email: str, **preferences: Any) -> int:
    """A confirmed subscriber, as if the confirmation link had been clicked."""
    values: dict[str, Any] = {
        "email": email,
        "status": "active",
        "frequency": "daily",
        "kind": "trending",
        "keywords": "",
        "categories": [],
        "saved_search": "",
        "max_papers": 10,
        "token_nonce": secrets.token_hex(8),
        "failure_count": 0,
    }
    values.update(preferences)
    with unit_of_work(factory) as session:
        subscription = DigestSubscription(**values)
        session.add(subscription)
        session.flush()
        return subscription.id
