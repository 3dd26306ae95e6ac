"""Fixtures for source tests: the shared real data and a local HTTP server replaying recorded responses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from broadsheet.sources.http import HttpSettings, PoliteClient
from tests.fixtures.paths import SHARED_DATA
from tests.fixtures.replay import ReplayServer, Reply, SeenRequest

__all__ = ["Reply", "ReplayServer", "SeenRequest"]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED_DATA
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path} (set BROADSHEET_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def arxiv_data(shared_data: Path) -> Path:
    return shared_data / "arxiv"


class RecordedSleeps:
    """Stands in for time.sleep: remembers each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
def client(sleeps: RecordedSleeps) -> Iterator[PoliteClient]:
    """A client as the tests use it: no politeness delay, 3 attempts, short timeouts, recorded sleeps."""
    settings = HttpSettings(
        timeout_s=5.0,
        politeness_delay_s=0.0,
        max_attempts=3,
        backoff_initial_s=0.5,
        backoff_max_s=4.0,
        retry_after_max_s=30.0,
    )
    with PoliteClient(settings, sleep=sleeps) as polite:
        yield polite
