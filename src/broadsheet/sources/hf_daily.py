"""Reader for Hugging Face daily papers: the flattened archive files and the raw /api/daily_papers JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from broadsheet.sources.jsonl import files_in
from broadsheet.sources.records import (
    DailyAppearance,
    InvalidArxivId,
    PaperRecord,
    RecordProblem,
    SourceItem,
    split_arxiv_id,
)
from broadsheet.sources.text import date_from_filename, optional_text, parse_iso_datetime, required_fields

SOURCE_NAME = "hf-daily"


def read_hf_daily(path: Path) -> Iterator[SourceItem]:
    """Papers from one daily JSON file or every *.json in a directory (sorted by name).

    Each file is either the archive shape (`{"date", "papers": [...]}` with snake_case papers) or
    the raw API shape (a JSON list of `{"paper": {...}, "numComments", "submittedBy", ...}`); the
    shape is detected per file. A file that is not JSON, or of neither shape, is one RecordProblem.
    """
    for file_path in files_in(Path(path), ("*.json",)):
        yield from read_hf_daily_file(file_path)


def read_hf_daily_file(path: Path) -> Iterator[SourceItem]:
    """The papers of one file, in file order."""
    location = str(path)
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        yield RecordProblem(location, None, f"not a readable JSON file: {exc}")
        return
    if isinstance(document, dict) and isinstance(document.get("papers"), list):
        file_day = _date_or_none(document.get("date")) or date_from_filename(path)
        for index, paper in enumerate(document["papers"]):
            yield paper_from_archive_entry(paper, location=f"{location}:papers[{index}]", file_day=file_day)
    elif isinstance(document, list):
        file_day = date_from_filename(path)
        for index, entry in enumerate(document):
            yield paper_from_api_entry(entry, location=f"{location}:[{index}]", file_day=file_day)
    else:
        yield RecordProblem(
            location,
            None,
            "neither an archive file ({'date', 'papers': [...]}) nor an API list ([{'paper': ...}])",
        )


def paper_from_archive_entry(paper: object, *, location: str, file_day: date | None) -> PaperRecord | RecordProblem:
    """One flattened archive paper (id, daily_date, title, summary, authors[names], upvotes, ...)."""
    if not isinstance(paper, dict):
        return RecordProblem(location, None, "paper entry is not an object")
    try:
        day = file_day or _date_or_none(paper.get("daily_date"))
        return _record(
            location=location,
            raw_id=paper.get("id"),
            title=paper.get("title"),
            abstract=paper.get("summary"),
            authors=[name for name in paper.get("authors") or [] if isinstance(name, str)],
            published_at=_datetime_or_none(paper.get("published_at")),
            day=day,
            upvotes=paper.get("upvotes"),
            num_comments=paper.get("num_comments"),
            submitted_by=None,
            submitted_at=_datetime_or_none(paper.get("submitted_on_daily_at")),
            keywords=paper.get("ai_keywords"),
            project_page=paper.get("project_page"),
            github_repo=paper.get("github_repo"),
            thumbnail=paper.get("thumbnail"),
        )
    except (ValueError, TypeError) as exc:
        return RecordProblem(location, _id_or_none(paper.get("id")), f"unreadable field: {exc}")


def paper_from_api_entry(entry: object, *, location: str, file_day: date | None) -> PaperRecord | RecordProblem:
    """One raw API item: `{"paper": {...}, "publishedAt", "numComments", "submittedBy", "thumbnail", ...}`.

    The day is the file name's date (the API's `?date=` a file was saved from), else the day the paper
    was submitted to the daily feed, else the item's `publishedAt`.
    """
    if not isinstance(entry, dict) or not isinstance(entry.get("paper"), dict):
        return RecordProblem(location, None, "item has no 'paper' object")
    paper: dict[str, Any] = entry["paper"]
    try:
        submitted_at = _datetime_or_none(paper.get("submittedOnDailyAt"))
        listed_at = _datetime_or_none(entry.get("publishedAt"))
        day = file_day or (submitted_at.date() if submitted_at else None) or (listed_at.date() if listed_at else None)
        submitter = entry.get("submittedBy") or paper.get("submittedOnDailyBy")
        return _record(
            location=location,
            raw_id=paper.get("id"),
            title=paper.get("title") or entry.get("title"),
            abstract=paper.get("summary") or entry.get("summary"),
            authors=[
                author["name"]
                for author in paper.get("authors") or []
                if isinstance(author, dict) and isinstance(author.get("name"), str)
            ],
            published_at=_datetime_or_none(paper.get("publishedAt")),
            day=day,
            upvotes=paper.get("upvotes"),
            num_comments=entry.get("numComments", paper.get("numComments")),
            submitted_by=_submitter_name(submitter),
            submitted_at=submitted_at or listed_at,
            keywords=paper.get("ai_keywords"),
            project_page=paper.get("projectPage"),
            github_repo=paper.get("githubRepo"),
            thumbnail=entry.get("thumbnail") or paper.get("thumbnail"),
        )
    except (ValueError, TypeError) as exc:
        return RecordProblem(location, _id_or_none(paper.get("id")), f"unreadable field: {exc}")


def _record(
    *,
    location: str,
    raw_id: object,
    title: object,
    abstract: object,
    authors: list[str],
    published_at: datetime | None,
    day: date | None,
    upvotes: object,
    num_comments: object,
    submitted_by: str | None,
    submitted_at: datetime | None,
    keywords: object,
    project_page: object,
    github_repo: object,
    thumbnail: object,
) -> PaperRecord | RecordProblem:
    fields = required_fields(location, raw_id, title, abstract, names=("paper 'id'", "title", "summary"))
    if isinstance(fields, RecordProblem):
        return fields
    arxiv_id, version, clean_title, clean_abstract = fields
    if day is None:
        return RecordProblem(location, arxiv_id, "no daily date (file name, 'date' or 'daily_date')")
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=clean_title,
        abstract=clean_abstract,
        authors=[name for author in authors if (name := optional_text(author))],
        published_at=published_at,
        version=version,
        github_repo=optional_text(github_repo),
        project_page=optional_text(project_page),
        keywords=[word for word in keywords if isinstance(word, str)] if isinstance(keywords, list) else [],
        thumbnail=optional_text(thumbnail),
        daily=DailyAppearance(
            day=day,
            upvotes=_count(upvotes),
            num_comments=_count(num_comments),
            submitted_by=submitted_by,
            submitted_at=submitted_at,
        ),
        source=SOURCE_NAME,
    )


def _submitter_name(submitter: object) -> str | None:
    if isinstance(submitter, str):
        return optional_text(submitter)
    if isinstance(submitter, dict):
        for key in ("name", "fullname", "user"):
            value = submitter.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _count(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected a count, got {value!r}")
    return int(value)


def _date_or_none(value: object) -> date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return date.fromisoformat(value.strip()[:10])


def _datetime_or_none(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return parse_iso_datetime(value)


def _id_or_none(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return split_arxiv_id(value)[0]
    except InvalidArxivId:
        return None
