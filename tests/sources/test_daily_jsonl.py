"""Daily arXiv JSON-lines reader, on the recorded daily files and the large deduplicated gzip."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import pytest

from broadsheet.sources.daily_jsonl import read_daily_jsonl
from broadsheet.sources.records import PaperRecord, RecordProblem


@pytest.fixture(scope="module")
def daily_dir(arxiv_data: Path) -> Path:
    return arxiv_data / "daily_arxiv_cs"


@pytest.fixture(scope="module")
def big_gz(daily_dir: Path) -> Path:
    return daily_dir / "arxiv_cs_CV_CL_AI_2025-03_to_2026-07.dedup.jsonl.gz"


def test_first_lines_of_the_big_gzip_read_cleanly(big_gz: Path) -> None:
    items = list(read_daily_jsonl(big_gz, limit=3000))
    assert len(items) == 3000
    papers = [item for item in items if isinstance(item, PaperRecord)]
    assert len(papers) == 3000
    assert papers[0].arxiv_id == "2503.11731"
    assert papers[0].categories == ["cs.CV", "cs.RO"]
    assert papers[0].authors[0] == "Xianming Zeng" and len(papers[0].authors) == 16
    assert papers[0].published_at == datetime(2025, 3, 18, tzinfo=UTC)  # first_seen_file_date
    assert all(paper.title and paper.abstract and paper.published_at for paper in papers)
    by_id = {paper.arxiv_id: paper for paper in papers}
    assert by_id["2503.13961"].title.startswith("BG-Triangle: Bézier Gaussian Triangle")
    assert by_id["2503.15457"].title.startswith("Di$\\mathtt{[M]}$O: Distilling Masked Diffusion")
    assert by_id["2504.01196"].title.startswith("$μ$KE: Matryoshka")


def test_daily_files_take_their_date_from_the_file_name(daily_dir: Path) -> None:
    items = list(read_daily_jsonl(daily_dir / "daily_raw"))
    assert len(items) == 26 + 332 + 332 + 332 + 230 + 674 + 371
    papers = [item for item in items if isinstance(item, PaperRecord)]
    assert len(papers) == len(items)
    assert papers[0].arxiv_id == "2606.25042"
    assert papers[0].published_at == datetime(2026, 6, 25, tzinfo=UTC)
    assert papers[-1].published_at == datetime(2026, 7, 1, tzinfo=UTC)
    # Greek letters and TeX in the abstract survive untouched
    assert "$\\{π_i\\}$ and real exponents $\\{ α_i \\}$" in papers[0].abstract


def test_file_without_a_date_in_its_name_leaves_published_at_empty(daily_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "export.jsonl"
    copy.write_bytes((daily_dir / "daily_raw" / "2026-06-25.jsonl").read_bytes())
    papers = [item for item in read_daily_jsonl(copy) if isinstance(item, PaperRecord)]
    assert len(papers) == 26 and all(paper.published_at is None for paper in papers)


def test_cjk_and_no_break_spaces_are_kept(daily_dir: Path, tmp_path: Path) -> None:
    record = json.loads((daily_dir / "daily_raw" / "2026-06-25.jsonl").read_text(encoding="utf-8").splitlines()[0])
    record["title"] = "信息  from\n  coincidences\u00a0(巧合)"
    target = tmp_path / "2026-06-25.jsonl"
    target.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    (paper,) = list(read_daily_jsonl(target))
    assert isinstance(paper, PaperRecord)
    assert paper.title == "信息 from coincidences\u00a0(巧合)"


def test_bad_line_reported_with_line_number_rest_read(daily_dir: Path, tmp_path: Path) -> None:
    lines = (daily_dir / "daily_raw" / "2026-06-29.jsonl").read_text(encoding="utf-8").splitlines()
    lines[9] = '{"id": "2606.99999", "title": "truncated'
    missing_id = json.loads(lines[19])
    missing_id["id"] = "not an id"
    lines[19] = json.dumps(missing_id)
    target = tmp_path / "2026-06-29.jsonl"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(read_daily_jsonl(target))
    problems = [item for item in items if isinstance(item, RecordProblem)]
    assert [(problem.location, problem.arxiv_id) for problem in problems] == [
        (f"{target}:10", "2606.99999"),
        (f"{target}:20", None),
    ]
    assert "not an arXiv id" in problems[1].reason
    assert len(items) - len(problems) == 230 - 2


def test_gzip_cut_short_keeps_what_was_read_and_says_so(big_gz: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.jsonl.gz"
    with big_gz.open("rb") as source:
        cut.write_bytes(source.read(200_000))
    items = list(read_daily_jsonl(cut))
    assert isinstance(items[-1], RecordProblem)
    assert "cut short" in items[-1].reason
    papers = items[:-1]
    assert len(papers) > 100 and all(isinstance(item, PaperRecord) for item in papers)
    with gzip.open(big_gz, "rt", encoding="utf-8") as full:
        expected = [json.loads(line)["id"] for line in islice(full, len(papers))]
    assert [item.arxiv_id for item in papers if isinstance(item, PaperRecord)] == expected
