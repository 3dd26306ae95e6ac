"""The normalised shape every source produces before it is stored."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

# New-style ids (0704.0001, 2503.11731) and old-style ids (hep-th/9901001, math.GT/0309136).
_NEW_ID = re.compile(r"^(\d{4}\.\d{4,5})(v\d+)?$")
_OLD_ID = re.compile(r"^([a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(v\d+)?$")
# An arXiv category (cs.CL, math.OC, q-bio.NC, hep-th) or archive (cs), in any case. Category lists
# from arXiv also carry MSC and ACM classes ("68T45, 62H30", "I.2.7"), which this does not match.
ARXIV_CATEGORY = re.compile(r"[a-z][a-z-]*(?:\.[a-z][a-z-]*)?", re.IGNORECASE)


def is_arxiv_category(value: str) -> bool:
    return ARXIV_CATEGORY.fullmatch(value) is not None


# The longest category or archive name a listing is kept under (arXiv's are under 20 characters;
# what category lists carry beyond them, such as MSC classes, may be longer and is left out).
LISTING_KEY_MAX = 40


def listing_keys(categories: Iterable[str]) -> set[str]:
    """Every name a paper with these categories is listed under (`listed_under` is true for exactly
    these, lowercased): each category, and each archive holding one (cs.CL: cs.cl and cs)."""
    keys = set()
    for name in categories:
        lowered = name.lower()
        keys.add(lowered)
        keys.update(lowered[:i] for i, char in enumerate(lowered) if char == ".")
    return {key for key in keys if 0 < len(key) <= LISTING_KEY_MAX}


def listed_under(categories: Iterable[str], requested: str) -> bool:
    """Whether a paper with these categories is in `requested`: that category in any case (cs.cl is
    cs.CL), or an archive holding one of them (cs holds cs.CL)."""
    return requested.lower() in listing_keys(categories)


def id_month(arxiv_id: str) -> datetime | None:
    """The month an arXiv id was issued, which is its first version's: 2409.13661 -> 2024-09-01,
    hep-th/9901001 -> 1999-01-01 (UTC). None when the id says nothing of it."""
    if match := _NEW_ID.match(arxiv_id):
        digits = match.group(1)
    elif match := _OLD_ID.match(arxiv_id):
        digits = match.group(1).split("/", 1)[1]
    else:
        return None
    year, month = int(digits[:2]), int(digits[2:4])
    if not 1 <= month <= 12:
        return None
    return datetime(year + (1900 if year >= 91 else 2000), month, 1, tzinfo=UTC)


def first_version_bound(arxiv_id: str, published: datetime | None) -> datetime | None:
    """`published`, unless it is later than the month after the id's: then the first of the id's month.

    A daily listing's "first seen" day, or the day a paper reached Hugging Face, can be years after
    its first version for an old paper listed again (2409.13661 first seen on 2025-03-19); its id's
    month is the better date. (A first version submitted on a month's last day is announced in the
    next month, so one month later is still taken as given.)
    """
    issued = id_month(arxiv_id)
    if published is None or issued is None:
        return published
    if (published.year * 12 + published.month) - (issued.year * 12 + issued.month) > 1:
        return issued
    return published


class InvalidArxivId(ValueError):
    """Raised when a string is not an arXiv identifier."""


def split_arxiv_id(raw: str) -> tuple[str, int | None]:
    """Return (id without version, version or None) for an arXiv id, or raise InvalidArxivId."""
    text = raw.strip()
    for pattern in (_NEW_ID, _OLD_ID):
        match = pattern.match(text)
        if match:
            version = match.group(2)
            return match.group(1), int(version[1:]) if version else None
    raise InvalidArxivId(f"not an arXiv id: {raw!r} (expected e.g. 2503.11731 or hep-th/9901001)")


def normalize_arxiv_id(raw: str) -> str:
    """The arXiv id without its version, the key every paper is stored under."""
    return split_arxiv_id(raw)[0]


@dataclass(slots=True)
class PaperVersion:
    version: int
    created: datetime | None = None


@dataclass(slots=True)
class DailyAppearance:
    """A paper's appearance in the curated daily feed of one day (Hugging Face daily papers)."""

    day: date
    upvotes: int = 0
    num_comments: int = 0
    submitted_by: str | None = None
    submitted_at: datetime | None = None


@dataclass(slots=True)
class PaperRecord:
    """One paper as a source describes it; stored by `arxiv_id` (no version)."""

    arxiv_id: str
    title: str
    abstract: str
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)  # primary first when the source says which
    published_at: datetime | None = None  # first version
    updated_at: datetime | None = None  # latest version
    version: int | None = None  # latest version number the source knows
    versions: list[PaperVersion] = field(default_factory=list)
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    github_repo: str | None = None
    project_page: str | None = None
    keywords: list[str] = field(default_factory=list)
    thumbnail: str | None = None
    daily: DailyAppearance | None = None
    source: str = ""  # "arxiv-api", "oai", "arxiv-snapshot", "arxiv-jsonl", "hf-daily"


@dataclass(slots=True)
class DeletedRecord:
    """An OAI-PMH record marked deleted."""

    arxiv_id: str


@dataclass(slots=True)
class RecordProblem:
    """A record that could not be read: reported and skipped, the rest of the batch still lands."""

    location: str  # "path:line", or a URL, or "record 12"
    arxiv_id: str | None
    reason: str


SourceItem = PaperRecord | DeletedRecord | RecordProblem
