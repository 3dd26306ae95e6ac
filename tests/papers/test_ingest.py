"""The importer on real files: idempotent, version-aware, and tolerant of bad records."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.models import DailyEntry, Paper, PaperVersionRow
from broadsheet.papers.ingest import import_items
from broadsheet.sources.daily_jsonl import read_daily_jsonl
from broadsheet.sources.hf_daily import read_hf_daily
from broadsheet.sources.records import DailyAppearance, PaperRecord, PaperVersion
from broadsheet.sources.snapshot import read_snapshot
from tests.fixtures.paths import ARXIV_CORPUS, HF_DAILY_DIR, SHARED_DATA


def _snapshot_rows(session: Session) -> list[tuple]:
    return [
        tuple(row)
        for row in session.execute(
            select(Paper.arxiv_id, Paper.title, Paper.abstract, Paper.version, Paper.modified_at).order_by(
                Paper.arxiv_id
            )
        )
    ]


def test_importing_the_same_file_twice_changes_nothing(factory: sessionmaker[Session]) -> None:
    first = import_items(factory, read_hf_daily(HF_DAILY_DIR))
    with factory() as session:
        before = _snapshot_rows(session)
        entries = session.scalar(select(func.count()).select_from(DailyEntry))
    second = import_items(factory, read_hf_daily(HF_DAILY_DIR))

    assert first.inserted == 1639 and first.daily_added == 1639
    assert (second.inserted, second.updated, second.daily_added) == (0, 0, 0)
    assert second.unchanged == 1639
    with factory() as session:
        assert _snapshot_rows(session) == before
        assert session.scalar(select(func.count()).select_from(DailyEntry)) == entries


def test_catalogue_then_daily_feed_merges_links_and_upvotes(factory: sessionmaker[Session]) -> None:
    hf_ids = {item.arxiv_id for item in read_hf_daily(HF_DAILY_DIR) if isinstance(item, PaperRecord)}
    catalogue = [item for item in read_daily_jsonl(ARXIV_CORPUS) if getattr(item, "arxiv_id", None) in hf_ids]
    assert catalogue, "some daily papers are also in the arXiv catalogue"
    import_items(factory, catalogue)
    report = import_items(factory, read_hf_daily(HF_DAILY_DIR))

    assert report.updated == len(catalogue)
    with factory() as session:
        paper = session.get(Paper, "2601.00393")
        assert paper is not None
        assert paper.github_repo == "https://github.com/IamCreateAI/NeoVerse"
        assert paper.upvotes == 132


def _record(arxiv_id: str, version: int | None, title: str, abstract: str = "An abstract.") -> PaperRecord:
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=abstract,
        authors=["Ada Lovelace"],
        categories=["cs.CL"],
        published_at=datetime(2026, 1, 2, tzinfo=UTC),
        version=version,
        versions=[PaperVersion(v, datetime(2026, 1, v, tzinfo=UTC)) for v in range(1, (version or 1) + 1)],
        source="test",
    )


def test_newer_version_replaces_text_and_keeps_votes_and_feed_entries(factory: sessionmaker[Session]) -> None:
    first = _record("2601.00001", 1, "Old title")
    first.daily = DailyAppearance(day=datetime(2026, 1, 5).date(), upvotes=7)
    import_items(factory, [first])
    with factory.begin() as session:
        session.get(Paper, "2601.00001").vote_count = 3  # type: ignore[union-attr]

    report = import_items(factory, [_record("2601.00001", 2, "New title", "A revised abstract.")])
    older = import_items(factory, [_record("2601.00001", 1, "Old title")])

    assert report.updated == 1 and report.changed_ids == ["2601.00001"]
    assert older.unchanged == 1
    with factory() as session:
        paper = session.get(Paper, "2601.00001")
        assert paper is not None
        assert (paper.title, paper.abstract, paper.version) == ("New title", "A revised abstract.", 2)
        assert paper.upvotes == 10
        assert session.scalar(select(func.count()).select_from(DailyEntry)) == 1
        assert session.scalar(select(func.count()).select_from(PaperVersionRow)) == 2


def test_old_style_ids_latex_and_unicode_survive(factory: sessionmaker[Session]) -> None:
    title = r"Étude of $\mathcal{N}=4$ SYM — 弦理论 with \"quotes\" and emoji 🧪"
    import_items(factory, [_record("hep-th/9901001", 3, title)])
    with factory() as session:
        paper = session.get(Paper, "hep-th/9901001")
        assert paper is not None and paper.title == title


def test_snapshot_sample_imports_with_versions(factory: sessionmaker[Session]) -> None:
    path = SHARED_DATA / "arxiv" / "kaggle_snapshot_format" / "arxiv-metadata-oai-snapshot.first200.jsonl"
    report = import_items(factory, read_snapshot(path))
    assert report.inserted == 200 and report.problem_count == 0
    with factory() as session:
        paper = session.get(Paper, "0704.0001")
        assert paper is not None and paper.version is not None and paper.version >= 1
        assert "diphoton" in paper.title


def test_bad_lines_are_reported_and_the_rest_lands(tmp_path: Path, factory: sessionmaker[Session]) -> None:
    lines = []
    with gzip.open(ARXIV_CORPUS, "rt") as source:
        lines = [line.rstrip("\n") for line in islice(source, 5)]
    lines.insert(2, '{"id": "2503.99999", "title": "cut off')
    lines.insert(4, json.dumps({"id": "not-an-id", "title": "x", "summary": "y", "authors": [], "categories": []}))
    path = tmp_path / "2026-01-01.jsonl"
    path.write_text("\n".join(lines) + "\n")

    report = import_items(factory, read_daily_jsonl(path))

    assert report.inserted == 5
    assert report.problem_count == 2
    assert {problem.location.rsplit(":", 1)[-1] for problem in report.problems} == {"3", "5"}


def test_a_run_killed_half_way_keeps_whole_batches_and_a_rerun_completes(factory: sessionmaker[Session]) -> None:
    records = [item for item in islice(read_daily_jsonl(ARXIV_CORPUS), 250)]

    def dying() -> object:
        for index, item in enumerate(records):
            if index == 180:
                raise KeyboardInterrupt
            yield item

    with pytest.raises(KeyboardInterrupt):
        import_items(factory, dying(), batch_size=50)  # type: ignore[arg-type]
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Paper)) == 150

    report = import_items(factory, records, batch_size=50)
    assert (report.inserted, report.unchanged) == (100, 150)


def test_an_old_paper_listed_again_is_dated_by_its_id_not_the_day_it_was_seen(
    factory: sessionmaker[Session],
) -> None:
    """The daily files and Hugging Face date a paper by when it showed up; an id's month bounds its first version."""
    from broadsheet.sources.records import first_version_bound, id_month

    # Real lines: papers with ids of 2022-2024 first seen in the 2025 daily files, among the others.
    records = [r for r in islice(read_daily_jsonl(ARXIV_CORPUS), 20_000) if isinstance(r, PaperRecord)]
    old = [r for r in records if r.published_at and first_version_bound(r.arxiv_id, r.published_at) != r.published_at]
    assert len(old) > 10
    fresh = next(r for r in records if r.published_at and r not in old)
    import_items(factory, [old[0], fresh])
    with factory() as session:
        stored = session.get(Paper, old[0].arxiv_id)
        assert stored is not None and stored.published_at == id_month(old[0].arxiv_id)
        assert stored.published_at < old[0].published_at  # type: ignore[operator]
        kept = session.get(Paper, fresh.arxiv_id)
        assert kept is not None and kept.published_at == fresh.published_at
    # The rule itself: a first version on a month's last day is announced in the next month and kept.
    assert first_version_bound("2409.13661", datetime(2025, 3, 19, tzinfo=UTC)) == datetime(2024, 9, 1, tzinfo=UTC)
    assert first_version_bound("2409.13661", datetime(2024, 10, 1, tzinfo=UTC)) == datetime(2024, 10, 1, tzinfo=UTC)
    assert first_version_bound("hep-th/9901001", datetime(2003, 5, 1, tzinfo=UTC)) == datetime(1999, 1, 1, tzinfo=UTC)
    assert id_month("2413.00001") is None and first_version_bound("not-an-id", None) is None
