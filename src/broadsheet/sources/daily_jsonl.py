"""Reader for daily arXiv JSON-lines files (daily-arXiv-ai-enhanced crawler format), plain or gzip."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from itertools import islice
from pathlib import Path
from typing import Any

from broadsheet.sources.jsonl import files_in, read_json_objects
from broadsheet.sources.records import PaperRecord, RecordProblem, SourceItem
from broadsheet.sources.text import date_from_filename, optional_text, required_fields

SOURCE_NAME = "arxiv-jsonl"


def read_daily_jsonl(path: Path, *, limit: int | None = None) -> Iterator[SourceItem]:
    """Stream papers from one .jsonl/.jsonl.gz file, or from every such file in a directory (by name).

    `published_at` is the day the paper first appeared in the feed: `first_seen_file_date` when the
    line has it, else the date in the file name (2026-06-25.jsonl), else None.
    """
    items = _read_all(files_in(Path(path), ("*.jsonl", "*.jsonl.gz")))
    return islice(items, limit) if limit is not None else items


def _read_all(paths: list[Path]) -> Iterator[SourceItem]:
    for file_path in paths:
        file_day = date_from_filename(file_path)
        for location, value in read_json_objects(file_path):
            if isinstance(value, RecordProblem):
                yield value
            else:
                yield paper_from_daily_line(value, location=location, file_day=file_day)


def paper_from_daily_line(
    value: dict[str, Any], *, location: str, file_day: date | None = None
) -> PaperRecord | RecordProblem:
    """One line's object as a PaperRecord, or a RecordProblem naming `location` and the field at fault."""
    fields = required_fields(
        location, value.get("id"), value.get("title"), value.get("summary"), names=("'id'", "'title'", "'summary'")
    )
    if isinstance(fields, RecordProblem):
        return fields
    arxiv_id, version, title, abstract = fields
    categories = value.get("categories") or []
    authors = value.get("authors") or []
    if not isinstance(categories, list) or not isinstance(authors, list):
        return RecordProblem(location, arxiv_id, "'categories' and 'authors' must be lists")
    day = file_day
    first_seen = value.get("first_seen_file_date")
    if first_seen:
        try:
            day = date.fromisoformat(str(first_seen))
        except ValueError:
            return RecordProblem(location, arxiv_id, f"'first_seen_file_date' is not a date: {first_seen!r}")
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=abstract,
        authors=[name for author in authors if (name := optional_text(author))],
        categories=[code for category in categories if (code := optional_text(category))],
        published_at=datetime.combine(day, time(0), tzinfo=UTC) if day else None,
        version=version,
        comment=optional_text(value.get("comment")),
        source=SOURCE_NAME,
    )
