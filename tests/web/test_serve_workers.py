"""`serve --workers N` spreads keep-alive connections over its workers."""

from __future__ import annotations

import os

import pytest

from broadsheet.cli import spread_connections_over_workers


def test_workers_accept_one_connection_per_wakeup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_TCP_SINGLE_ACCEPT", "")  # so the test's change is undone afterwards
    monkeypatch.delenv("UV_TCP_SINGLE_ACCEPT")
    spread_connections_over_workers()
    assert os.environ["UV_TCP_SINGLE_ACCEPT"] == "1"


def test_an_operator_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_TCP_SINGLE_ACCEPT", "0")
    spread_connections_over_workers()
    assert os.environ["UV_TCP_SINGLE_ACCEPT"] == "0"
