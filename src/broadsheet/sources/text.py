"""Small text and date helpers shared by the source readers."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime
from pathlib import Path

from broadsheet.sources.records import InvalidArxivId, RecordProblem, split_arxiv_id

# ASCII whitespace only: arXiv hard-wraps titles and abstracts, but a no-break or ideographic space in the
# text itself is content and stays.
_ASCII_WHITESPACE = re.compile(r"[ \t\r\n\f\v]+")
_ABS_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/(.+?)(?:\.pdf)?/?$")


def collapse_whitespace(text: str) -> str:
    """Join hard-wrapped lines: runs of ASCII whitespace become one space, ends trimmed."""
    return _ASCII_WHITESPACE.sub(" ", text).strip()


def optional_text(value: object) -> str | None:
    """A collapsed string, or None for missing/blank values."""
    if value is None:
        return None
    text = collapse_whitespace(str(value))
    return text or None


def required_fields(
    location: str,
    raw_id: object,
    title: object,
    abstract: object,
    *,
    names: tuple[str, str, str] = ("'id'", "'title'", "'abstract'"),
) -> tuple[str, int | None, str, str] | RecordProblem:
    """(arxiv id, version, title, abstract) of a source record, or the problem naming the field at fault.

    `names` are the id, title and abstract fields as the source calls them, for the message.
    """
    id_name, title_name, abstract_name = names
    if not isinstance(raw_id, str):
        return RecordProblem(location, None, f"missing or non-text {id_name}")
    try:
        arxiv_id, version = split_arxiv_id(raw_id)
    except InvalidArxivId as exc:
        return RecordProblem(location, None, str(exc))
    clean_title, clean_abstract = optional_text(title), optional_text(abstract)
    if clean_title is None:
        return RecordProblem(location, arxiv_id, f"blank {title_name}")
    if clean_abstract is None:
        return RecordProblem(location, arxiv_id, f"blank {abstract_name}")
    return arxiv_id, version, clean_title, clean_abstract


def arxiv_id_from_url(url: str) -> tuple[str, int | None]:
    """(id, version) from an abs/pdf URL such as http://arxiv.org/abs/1601.00001v1; raises InvalidArxivId."""
    match = _ABS_URL.search(url.strip())
    if not match:
        raise InvalidArxivId(f"not an arXiv abs/pdf URL: {url!r}")
    return split_arxiv_id(match.group(1))


def as_utc(moment: datetime) -> datetime:
    """Attach UTC to a naive datetime, convert an aware one to UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_iso_datetime(value: str) -> datetime:
    """An ISO-8601 date or datetime ('2015-12-26T21:19:45Z', '2017-06-16') as an aware UTC datetime."""
    text = value.strip()
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
    return as_utc(datetime.fromisoformat(text))


def parse_rfc2822_datetime(value: str) -> datetime:
    """An e-mail style date ('Mon, 2 Apr 2007 19:18:42 GMT') as an aware UTC datetime."""
    return as_utc(parsedate_to_datetime(value.strip()))


def date_from_filename(path: Path) -> date | None:
    """The date in a file named like 2026-06-25.jsonl, 2026-06-25.jsonl.gz or 2026-01-02.json."""
    stem = path.name.split(".", 1)[0]
    try:
        return date.fromisoformat(stem)
    except ValueError:
        return None


def split_author_string(authors: str) -> list[str]:
    """Names from an arXiv author string: 'A. One, B. Two and C. Three (MIT)' → ['A. One', 'B. Two', ...].

    Parenthesised affiliations are dropped; names are otherwise kept verbatim (including TeX accents).
    """
    without_affiliations: list[str] = []
    depth = 0
    for char in authors:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            without_affiliations.append(char)
    text = collapse_whitespace("".join(without_affiliations))
    names: list[str] = []
    for chunk in text.split(","):
        for name in _AND.split(chunk):
            cleaned = name.strip()
            if cleaned:
                names.append(cleaned)
    return names


_AND = re.compile(r"\s+and\s+|^and\s+")


def first_doi(value: str | None) -> str | None:
    """arXiv lets authors list several DOIs in one field ('10.1/a, 10.2/b;10.3/c'); keep the first."""
    if not value:
        return None
    for separator in (",", ";"):
        value = value.replace(separator, " ")
    parts = value.split()
    return parts[0] if parts else None
