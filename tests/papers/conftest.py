"""The store tests run on both backends: a SQLite file and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.settings import Settings
from tests.fixtures.app import migrated_factory


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def factory(request: pytest.FixtureRequest, settings: Settings) -> Iterator[sessionmaker[Session]]:
    url = settings.resolved_database_url if request.param == "sqlite" else request.getfixturevalue("postgres_database")
    engine, session_factory = migrated_factory(url)
    yield session_factory
    engine.dispose()
