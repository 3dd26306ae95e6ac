"""Hugging Face daily papers reader: the recorded archive directory and the raw API shape."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from broadsheet.sources.hf_daily import read_hf_daily
from broadsheet.sources.records import PaperRecord, RecordProblem


@pytest.fixture(scope="module")
def archive_dir(shared_data: Path) -> Path:
    return shared_data / "hf_daily" / "senmo996_daily"


def test_whole_archive_directory(archive_dir: Path) -> None:
    items = list(read_hf_daily(archive_dir))
    papers = [item for item in items if isinstance(item, PaperRecord)]
    assert len(items) == len(papers) == 1639
    assert len({paper.arxiv_id for paper in papers}) == 1639
    days = {paper.daily.day for paper in papers if paper.daily}
    assert len(days) == 49  # 69 files, 20 of them empty days
    assert min(days) == date(2026, 1, 1) and max(days) <= date(2026, 5, 28)


def test_archive_paper_fields(archive_dir: Path) -> None:
    papers = {item.arxiv_id: item for item in read_hf_daily(archive_dir / "2026-01-02.json")}
    paper = papers["2512.23959"]
    assert isinstance(paper, PaperRecord)
    assert paper.title == (
        "Improving Multi-step RAG with Hypergraph-based Memory for Long-Context Complex Relational Modeling"
    )
    assert paper.authors[0] == "Chulun Zhou" and len(paper.authors) == 7
    assert paper.github_repo == "https://github.com/Encyclomen/HGMem"
    assert paper.project_page is None
    assert paper.published_at == datetime(2025, 12, 30, 3, 13, 10, tzinfo=UTC)
    assert paper.daily is not None
    assert paper.daily.day == date(2026, 1, 2)
    assert paper.daily.upvotes == 111
    assert paper.daily.num_comments == 3
    assert paper.daily.submitted_at == datetime(2026, 1, 2, tzinfo=UTC)
    assert paper.source == "hf-daily"


def test_keywords_and_thumbnail(archive_dir: Path) -> None:
    paper = next(item for item in read_hf_daily(archive_dir / "2026-01-01.json") if item.arxiv_id == "2512.24880")
    assert isinstance(paper, PaperRecord)
    assert "Manifold-Constrained Hyper-Connections (mHC)" in paper.keywords
    assert paper.thumbnail == "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2512.24880.png"
    assert paper.daily is not None and paper.daily.upvotes == 328


def as_raw_api(archive_paper: dict[str, Any], submitter: str) -> dict[str, Any]:
    """The archive's flattened paper put back into /api/daily_papers shape (no raw archive exists)."""
    return {
        "paper": {
            "id": archive_paper["id"],
            "title": archive_paper["title"],
            "summary": archive_paper["summary"],
            "authors": [{"_id": str(index), "name": name} for index, name in enumerate(archive_paper["authors"])],
            "publishedAt": archive_paper["published_at"],
            "submittedOnDailyAt": archive_paper["submitted_on_daily_at"],
            "upvotes": archive_paper["upvotes"],
            "githubRepo": archive_paper["github_repo"],
            "projectPage": archive_paper["project_page"],
            "ai_keywords": archive_paper["ai_keywords"],
        },
        "publishedAt": archive_paper["submitted_on_daily_at"],
        "title": archive_paper["title"],
        "thumbnail": archive_paper["thumbnail"],
        "numComments": archive_paper["num_comments"],
        "submittedBy": {"_id": "x", "fullname": f"{submitter} Fullname", "name": submitter, "type": "user"},
    }


def test_raw_api_shape_is_detected_and_matches_the_archive(archive_dir: Path, tmp_path: Path) -> None:
    archive = json.loads((archive_dir / "2026-01-02.json").read_text(encoding="utf-8"))
    raw = [as_raw_api(paper, submitter=f"user{index}") for index, paper in enumerate(archive["papers"])]
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    (raw_dir / "daily_papers.json").write_text(json.dumps(raw), encoding="utf-8")

    from_archive = [item for item in read_hf_daily(archive_dir / "2026-01-02.json") if isinstance(item, PaperRecord)]
    from_raw = [item for item in read_hf_daily(raw_dir) if isinstance(item, PaperRecord)]
    assert len(from_raw) == len(from_archive) == archive["paper_count"]
    for raw_paper, archive_paper in zip(from_raw, from_archive, strict=True):
        assert raw_paper.arxiv_id == archive_paper.arxiv_id
        assert raw_paper.title == archive_paper.title
        assert raw_paper.authors == archive_paper.authors
        assert raw_paper.github_repo == archive_paper.github_repo
        assert raw_paper.keywords == archive_paper.keywords
        assert raw_paper.daily is not None and archive_paper.daily is not None
        assert raw_paper.daily.day == archive_paper.daily.day == date(2026, 1, 2)
        assert raw_paper.daily.upvotes == archive_paper.daily.upvotes
        assert raw_paper.daily.num_comments == archive_paper.daily.num_comments
    assert [paper.daily.submitted_by for paper in from_raw if paper.daily] == [
        f"user{index}" for index in range(len(from_raw))
    ]


def test_bad_entries_and_files_are_reported_and_the_rest_read(archive_dir: Path, tmp_path: Path) -> None:
    archive = json.loads((archive_dir / "2026-01-05.json").read_text(encoding="utf-8"))
    count = len(archive["papers"])
    assert count > 3
    archive["papers"][2]["summary"] = ""
    archive["papers"][3]["upvotes"] = "many"
    (tmp_path / "2026-01-05.json").write_text(json.dumps(archive), encoding="utf-8")
    (tmp_path / "2026-01-06.json").write_text('{"date": "2026-01-06", "papers": [', encoding="utf-8")
    (tmp_path / "notes.txt").write_text("ignored: not a .json file", encoding="utf-8")

    items = list(read_hf_daily(tmp_path))
    problems = [item for item in items if isinstance(item, RecordProblem)]
    assert [problem.location for problem in problems] == [
        f"{tmp_path / '2026-01-05.json'}:papers[2]",
        f"{tmp_path / '2026-01-05.json'}:papers[3]",
        str(tmp_path / "2026-01-06.json"),
    ]
    assert problems[0].arxiv_id == archive["papers"][2]["id"] and "summary" in problems[0].reason
    assert "not a readable JSON file" in problems[2].reason
    assert len([item for item in items if isinstance(item, PaperRecord)]) == count - 2
