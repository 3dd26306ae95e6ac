"""Kaggle arXiv snapshot reader, on the recorded 200-line sample."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broadsheet.sources.records import PaperRecord, PaperVersion, RecordProblem
from broadsheet.sources.snapshot import read_snapshot


@pytest.fixture(scope="module")
def snapshot_file(arxiv_data: Path) -> Path:
    return arxiv_data / "kaggle_snapshot_format" / "arxiv-metadata-oai-snapshot.first200.jsonl"


def test_reads_all_200_records(snapshot_file: Path) -> None:
    items = list(read_snapshot(snapshot_file))
    assert len(items) == 200
    assert all(isinstance(item, PaperRecord) for item in items)
    ids = [item.arxiv_id for item in items if isinstance(item, PaperRecord)]
    assert ids[0] == "0704.0001" and ids[-1] == "0704.0200"
    assert len(set(ids)) == 200


def test_first_record_fields(snapshot_file: Path) -> None:
    paper = next(read_snapshot(snapshot_file))
    assert isinstance(paper, PaperRecord)
    # authors_parsed has the accent as Unicode, where the authors string has TeX (Bal\'azs)
    assert paper.authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan"]
    assert paper.title == "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    assert paper.categories == ["hep-ph"]
    assert paper.versions == [
        PaperVersion(1, datetime(2007, 4, 2, 19, 18, 42, tzinfo=UTC)),
        PaperVersion(2, datetime(2007, 7, 24, 20, 10, 27, tzinfo=UTC)),
    ]
    assert paper.published_at == datetime(2007, 4, 2, 19, 18, 42, tzinfo=UTC)
    assert paper.updated_at == datetime(2007, 7, 24, 20, 10, 27, tzinfo=UTC)
    assert paper.version == 2
    assert paper.journal_ref == "Phys.Rev.D76:013009,2007"
    assert paper.doi == "10.1103/PhysRevD.76.013009"
    assert paper.comment == "37 pages, 15 figures; published version"
    assert paper.source == "arxiv-snapshot"


def test_latex_kept_and_whitespace_collapsed(snapshot_file: Path) -> None:
    papers = {item.arxiv_id: item for item in read_snapshot(snapshot_file) if isinstance(item, PaperRecord)}
    assert papers["0704.0002"].categories == ["math.CO", "cs.CG"]
    assert "the $(k,\\ell)$-pebble game with colors" in papers["0704.0002"].abstract
    assert papers["0704.0019"].title.endswith('the Gr\\"obner basis')
    assert all("\n" not in paper.abstract and "  " not in paper.title for paper in papers.values())


def test_gzip_is_detected_by_content_not_name(snapshot_file: Path, tmp_path: Path) -> None:
    packed = tmp_path / "snapshot.json"  # no .gz suffix on purpose
    packed.write_bytes(gzip.compress(snapshot_file.read_bytes()))
    assert [item.arxiv_id for item in read_snapshot(packed) if isinstance(item, PaperRecord)] == [
        item.arxiv_id for item in read_snapshot(snapshot_file) if isinstance(item, PaperRecord)
    ]


def test_limit_stops_early(snapshot_file: Path) -> None:
    assert len(list(read_snapshot(snapshot_file, limit=7))) == 7


def test_bad_lines_are_reported_with_line_numbers_and_the_rest_read(snapshot_file: Path, tmp_path: Path) -> None:
    lines = snapshot_file.read_text(encoding="utf-8").splitlines()
    lines[56] = lines[56][: len(lines[56]) // 2]  # line 57 cut in the middle
    blank_title = json.loads(lines[99])
    blank_title["title"] = "  \n "
    lines[99] = json.dumps(blank_title)  # line 100 without a title
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join(lines) + "\n", encoding="utf-8")

    items = list(read_snapshot(damaged))
    problems = [item for item in items if isinstance(item, RecordProblem)]
    assert [(problem.location, problem.arxiv_id) for problem in problems] == [
        (f"{damaged}:57", "0704.0057"),
        (f"{damaged}:100", "0704.0100"),
    ]
    assert "not valid JSON" in problems[0].reason
    assert "title" in problems[1].reason
    assert len([item for item in items if isinstance(item, PaperRecord)]) == 198
