"""Without the shared data, the first run harvests recent papers from the arXiv API and says so."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from sqlalchemy import func, select

from broadsheet.db import make_engine, make_session_factory, migrate
from broadsheet.models import DailyEntry, Paper
from broadsheet.papers.bootstrap import load_real_papers
from tests.fixtures.app import make_settings
from tests.fixtures.replay import ReplayServer, Reply

RECORDED = "arxiv/api_atom/arxiv_api_atom_query_cs.RO_neural_2025-10-17.xml"


def test_bootstrap_without_shared_data_harvests_live(
    tmp_path: Path, replay_server: ReplayServer, shared_data: Path
) -> None:
    body = (shared_data / RECORDED).read_bytes()
    replay_server.respond_with(lambda seen: Reply(body))
    settings = make_settings(
        tmp_path, shared_data_dir=tmp_path / "absent", arxiv_api_url=replay_server.url + "/api/query"
    )
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    factory = make_session_factory(engine)
    out = io.StringIO()

    report = load_real_papers(settings, factory, Console(file=out, width=200))

    assert "No shared data" in out.getvalue() and "harvesting recent papers live from arXiv" in out.getvalue()
    assert report is not None and report.inserted == 2
    categories = {seen.query.get("search_query", "") for seen in replay_server.requests}
    assert any("cat:cs.CL" in query for query in categories) and any("cat:cs.CV" in query for query in categories)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Paper)) == 2
        assert session.scalar(select(func.count()).select_from(DailyEntry)) == 2, "harvested papers enter the feed"
    again = load_real_papers(settings, factory, Console(file=out, width=200))
    assert again is None and "already has 2 papers" in out.getvalue()
    engine.dispose()
