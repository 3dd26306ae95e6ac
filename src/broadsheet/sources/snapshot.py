"""Reader for the Kaggle arXiv metadata snapshot (JSON lines, plain or gzip)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from broadsheet.sources.jsonl import read_json_objects
from broadsheet.sources.records import (
    PaperRecord,
    PaperVersion,
    RecordProblem,
    SourceItem,
)
from broadsheet.sources.text import (
    first_doi,
    optional_text,
    parse_iso_datetime,
    parse_rfc2822_datetime,
    required_fields,
    split_author_string,
)

SOURCE_NAME = "arxiv-snapshot"


def read_snapshot(path: Path, *, limit: int | None = None) -> Iterator[SourceItem]:
    """Stream the snapshot file (plain or gzip), one PaperRecord or RecordProblem per non-blank line.

    `limit` stops after that many items, so a sample of the 4 GB file reads in seconds.
    """
    items = (_item(location, value) for location, value in read_json_objects(Path(path)))
    return islice(items, limit) if limit is not None else items


def paper_from_snapshot(value: dict[str, Any], *, location: str) -> PaperRecord | RecordProblem:
    """One snapshot object as a PaperRecord, or a RecordProblem naming `location` and the field at fault."""
    fields = required_fields(location, value.get("id"), value.get("title"), value.get("abstract"))
    if isinstance(fields, RecordProblem):
        return fields
    arxiv_id, _, title, abstract = fields
    try:
        versions = _versions(value.get("versions"))
        update_date = value.get("update_date")
        updated_fallback = parse_iso_datetime(update_date) if isinstance(update_date, str) and update_date else None
    except (ValueError, TypeError) as exc:
        return RecordProblem(location, arxiv_id, f"unreadable date: {exc}")
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=abstract,
        authors=_authors(value),
        categories=str(value.get("categories") or "").split(),  # primary first, as arXiv lists them
        published_at=versions[0].created if versions else None,
        updated_at=(versions[-1].created if versions else None) or updated_fallback,
        version=versions[-1].version if versions else None,
        versions=versions,
        comment=optional_text(value.get("comments")),
        journal_ref=optional_text(value.get("journal-ref")),
        doi=first_doi(optional_text(value.get("doi"))),
        license=optional_text(value.get("license")),
        source=SOURCE_NAME,
    )


def _item(location: str, value: dict[str, Any] | RecordProblem) -> SourceItem:
    if isinstance(value, RecordProblem):
        return value
    return paper_from_snapshot(value, location=location)


def _versions(raw: object) -> list[PaperVersion]:
    if not isinstance(raw, list):
        return []
    versions = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise TypeError(f"version entry is not an object: {entry!r}")
        number = int(str(entry.get("version", "")).lstrip("v"))
        created = entry.get("created")
        versions.append(PaperVersion(number, parse_rfc2822_datetime(created) if created else None))
    return sorted(versions, key=lambda version: version.version)


def _authors(value: dict[str, Any]) -> list[str]:
    """'First Last' names from `authors_parsed` ([last, first, suffix]), which has accents as Unicode;
    falls back to splitting the `authors` string (TeX accents) when it is missing."""
    parsed = value.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names = []
        for entry in parsed:
            if not isinstance(entry, list):
                continue
            last, first, suffix = ([*map(str, entry), "", "", ""])[:3]
            name = " ".join(part.strip() for part in (first, last, suffix) if part.strip())
            if name:
                names.append(name)
        if names:
            return names
    return split_author_string(str(value.get("authors") or ""))
