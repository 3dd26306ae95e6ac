"""Fixtures every test can use: settings, a migrated database, the app and an in-process client."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.papers.ingest import import_items
from broadsheet.settings import Settings
from broadsheet.sources.hf_daily import read_hf_daily
from broadsheet.web.app import create_app
from tests.fixtures.app import make_settings, migrated_factory
from tests.fixtures.paths import HF_DAILY_DIR


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine, factory = migrated_factory(settings.resolved_database_url)
    yield factory
    engine.dispose()


@pytest.fixture(scope="session")
def hf_daily_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the 1,639 real Hugging Face daily papers, built once and copied per test."""
    path = tmp_path_factory.mktemp("hf") / "broadsheet.sqlite3"
    engine, factory = migrated_factory(f"sqlite:///{path}")
    import_items(factory, read_hf_daily(HF_DAILY_DIR))
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def loaded_settings(tmp_path: Path, hf_daily_database: Path) -> Settings:
    shutil.copy(hf_daily_database, tmp_path / "broadsheet.sqlite3")
    return make_settings(tmp_path)


@pytest.fixture
def app(loaded_settings: Settings) -> Iterator[FastAPI]:
    application = create_app(loaded_settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


pytest_plugins = ["tests.fixtures.browser", "tests.fixtures.postgres", "tests.fixtures.replay"]
