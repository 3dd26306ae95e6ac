"""Idempotent bulk upsert of source records into the store, in batched transactions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import unit_of_work
from broadsheet.models import DailyEntry, Paper, PaperListing, PaperVersionRow
from broadsheet.models.base import utcnow
from broadsheet.models.papers import UNKNOWN_PUBLISHED
from broadsheet.sources.records import (
    DeletedRecord,
    PaperRecord,
    RecordProblem,
    SourceItem,
    first_version_bound,
    listing_keys,
)

# Columns a newer version replaces; the others are only filled in when still empty.
_VERSIONED = ("title", "abstract", "authors", "categories", "primary_category", "updated_at", "version")
_FILL_IN = ("comment", "journal_ref", "doi", "license", "thumbnail", "keywords", "published_at")
_LINKS = ("github_repo", "project_page")
_COMPARED = _VERSIONED + _FILL_IN + _LINKS + ("imported_upvotes", "imported_comments")
MAX_REPORTED_PROBLEMS = 1000


@dataclass
class ImportReport:
    """What one import run did; problems are the records that were reported and skipped."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted_seen: int = 0
    daily_added: int = 0
    problem_count: int = 0
    problems: list[RecordProblem] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)

    def add_problem(self, problem: RecordProblem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_REPORTED_PROBLEMS:
            self.problems.append(problem)

    def merge(self, other: ImportReport) -> None:
        for name in ("read", "inserted", "updated", "unchanged", "deleted_seen", "daily_added"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for problem in other.problems:
            self.add_problem(problem)
        self.problem_count += other.problem_count - len(other.problems)
        self.changed_ids.extend(other.changed_ids)


def _row_from_record(record: PaperRecord) -> dict[str, Any]:
    return {
        "arxiv_id": record.arxiv_id,
        "title": record.title,
        "abstract": record.abstract,
        "authors": list(record.authors),
        "categories": list(record.categories),
        "primary_category": record.categories[0] if record.categories else None,
        "published_at": first_version_bound(record.arxiv_id, record.published_at),
        "updated_at": record.updated_at or record.published_at,
        "version": record.version,
        "comment": record.comment,
        "journal_ref": record.journal_ref,
        "doi": record.doi,
        "license": record.license,
        "github_repo": record.github_repo,
        "project_page": record.project_page,
        "keywords": list(record.keywords),
        "thumbnail": record.thumbnail,
        "source": record.source,
        "imported_upvotes": record.daily.upvotes if record.daily else 0,
        "imported_comments": record.daily.num_comments if record.daily else 0,
    }


def _is_newer(incoming: dict[str, Any], stored: dict[str, Any]) -> bool:
    if incoming["version"] is not None and stored["version"] is not None:
        return bool(incoming["version"] > stored["version"])
    if incoming["version"] is not None and stored["version"] is None:
        return True
    new_time, old_time = incoming["updated_at"], stored["updated_at"]
    return new_time is not None and old_time is not None and new_time > old_time


def merge_paper(stored: dict[str, Any], incoming: dict[str, Any], has_daily: bool) -> dict[str, Any]:
    """The column values that change when `incoming` meets the stored row (empty when nothing does)."""
    merged = dict(stored)
    if _is_newer(incoming, stored):
        for name in _VERSIONED:
            if incoming[name] not in (None, [], ""):
                merged[name] = incoming[name]
    for name in _FILL_IN:
        if merged[name] in (None, [], "") and incoming[name] not in (None, [], ""):
            merged[name] = incoming[name]
    if incoming["published_at"] and stored["published_at"] and incoming["published_at"] < stored["published_at"]:
        merged["published_at"] = incoming["published_at"]
    for name in _LINKS:
        if incoming[name]:
            merged[name] = incoming[name]
    if has_daily:
        merged["imported_upvotes"] = incoming["imported_upvotes"]
        merged["imported_comments"] = incoming["imported_comments"]
    return {name: merged[name] for name in _COMPARED if merged[name] != stored[name]}


def upsert_records(session: Session, records: list[PaperRecord]) -> ImportReport:
    """Insert new papers and merge known ones; keyed by arXiv id, so running it twice changes nothing."""
    report = ImportReport()
    latest: dict[str, PaperRecord] = {}
    for record in records:
        latest[record.arxiv_id] = record  # a later line about the same paper wins within a batch
    ids = list(latest)
    columns = [getattr(Paper, name) for name in ("arxiv_id", *_COMPARED)]
    stored = {
        row.arxiv_id: dict(row._mapping) for row in session.execute(select(*columns).where(Paper.arxiv_id.in_(ids)))
    }

    new_rows: list[dict[str, Any]] = []
    relisted: dict[str, dict[str, Any]] = {}  # papers whose listings change: their categories and date
    now = utcnow()
    for arxiv_id, record in latest.items():
        incoming = _row_from_record(record)
        if arxiv_id not in stored:
            new_rows.append({**incoming, "created_at": now, "modified_at": now})
            relisted[arxiv_id] = incoming
            report.inserted += 1
            report.changed_ids.append(arxiv_id)
            continue
        changes = merge_paper(stored[arxiv_id], incoming, record.daily is not None)
        if not changes:
            report.unchanged += 1
            continue
        session.execute(update(Paper).where(Paper.arxiv_id == arxiv_id).values(**changes, modified_at=now))
        if {"categories", "published_at"} & changes.keys():
            relisted[arxiv_id] = {**stored[arxiv_id], **changes}
        report.updated += 1
        if {"title", "abstract"} & changes.keys():
            report.changed_ids.append(arxiv_id)
    if new_rows:
        session.execute(insert(Paper), new_rows)
    _list(session, relisted, stored.keys())

    _add_versions(session, list(latest.values()))
    report.daily_added = _add_daily_entries(session, list(latest.values()))
    return report


def _list(session: Session, papers: dict[str, dict[str, Any]], stored: Iterable[str]) -> None:
    """(Re)write the category listings of these papers (by id: their categories and published_at);
    only those among the `stored` ones can have listings to replace."""
    relisted = [arxiv_id for arxiv_id in stored if arxiv_id in papers]
    if relisted:
        session.execute(delete(PaperListing).where(PaperListing.arxiv_id.in_(relisted)))
    rows = [
        {"key": key, "arxiv_id": arxiv_id, "published_at": paper["published_at"] or UNKNOWN_PUBLISHED}
        for arxiv_id, paper in papers.items()
        for key in listing_keys(paper["categories"] or [])
    ]
    if rows:
        session.connection().execute(insert(PaperListing), rows)  # as Core: the ORM bulk path took twice as long


def _add_versions(session: Session, records: list[PaperRecord]) -> None:
    wanted = {(r.arxiv_id, v.version): v.created for r in records for v in r.versions}
    if not wanted:
        return
    ids = list({arxiv_id for arxiv_id, _ in wanted})
    query = select(PaperVersionRow.arxiv_id, PaperVersionRow.version).where(PaperVersionRow.arxiv_id.in_(ids))
    known = {tuple(row) for row in session.execute(query)}
    missing = [
        {"arxiv_id": arxiv_id, "version": version, "created": created}
        for (arxiv_id, version), created in wanted.items()
        if (arxiv_id, version) not in known
    ]
    if missing:
        session.execute(insert(PaperVersionRow), missing)


def _add_daily_entries(session: Session, records: list[PaperRecord]) -> int:
    wanted: dict[tuple[date, str], PaperRecord] = {(r.daily.day, r.arxiv_id): r for r in records if r.daily is not None}
    if not wanted:
        return 0
    ids = list({arxiv_id for _, arxiv_id in wanted})
    query = select(DailyEntry.day, DailyEntry.arxiv_id).where(DailyEntry.arxiv_id.in_(ids))
    known = {tuple(row) for row in session.execute(query)}
    rows = []
    for (day, arxiv_id), record in wanted.items():
        if (day, arxiv_id) in known:
            continue
        daily = record.daily
        assert daily is not None
        rows.append(
            {
                "day": day,
                "arxiv_id": arxiv_id,
                "submitted_by": daily.submitted_by,
                "submitted_at": daily.submitted_at,
                "picked": True,  # imported daily papers were chosen by that feed's curators
                "pinned": False,
                "removed": False,
                "created_at": utcnow(),
            }
        )
    if rows:
        session.execute(insert(DailyEntry), rows)
    return len(rows)


def _batches(items: Iterable[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def import_items(
    factory: sessionmaker[Session],
    items: Iterable[SourceItem],
    *,
    batch_size: int = 2000,
    on_batch: Callable[[int], None] | None = None,
) -> ImportReport:
    """Store source items, one transaction a batch: a run killed half-way keeps whole batches only."""
    report = ImportReport()
    for batch in _batches(items, batch_size):
        records: list[PaperRecord] = []
        for item in batch:
            if isinstance(item, PaperRecord):
                records.append(item)
            elif isinstance(item, DeletedRecord):
                report.deleted_seen += 1
            else:
                report.add_problem(item)
        report.read += len(records)
        if records:
            with unit_of_work(factory) as session:
                report.merge(upsert_records(session, records))
        if on_batch:
            on_batch(len(batch))
    return report
