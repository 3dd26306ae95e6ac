"""Client for the arXiv search API (Atom feed at export.arxiv.org/api/query): queries, paging, id lookups."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

import httpx
from lxml import etree

from broadsheet.sources.errors import ArxivApiError, MalformedResponse
from broadsheet.sources.http import PoliteClient, QueryParams, parse_xml
from broadsheet.sources.records import (
    InvalidArxivId,
    PaperRecord,
    PaperVersion,
    RecordProblem,
    split_arxiv_id,
)
from broadsheet.sources.text import arxiv_id_from_url, optional_text, parse_iso_datetime

ARXIV_API_URL = "https://export.arxiv.org/api/query"
SOURCE_NAME = "arxiv-api"
# The API refuses more than 2000 results per call and asks clients to page in smaller slices.
MAX_PAGE_SIZE = 2000
# id_list requests are GET query strings; keep them comfortably short.
ID_BATCH_SIZE = 100

_NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}


@dataclass(slots=True)
class AtomPage:
    """One parsed page of API results."""

    total_results: int | None
    start_index: int | None
    items_per_page: int | None
    items: list[PaperRecord | RecordProblem] = field(default_factory=list)


def build_search_query(
    *,
    category: str | None = None,
    submitted_from: date | datetime | None = None,
    submitted_until: date | datetime | None = None,
    terms: str | None = None,
) -> str:
    """An API `search_query` ANDing a category, a submittedDate range and free query terms.

    Dates are inclusive and read as UTC: `submitted_until=date(2024, 1, 31)` covers the whole day.
    `terms` is passed through as written (API syntax such as `ti:transformer AND abs:vision`).
    """
    parts: list[str] = []
    if category:
        parts.append(f"cat:{category}")
    if submitted_from is not None or submitted_until is not None:
        low = _api_timestamp(submitted_from, end_of_day=False) if submitted_from is not None else "000001010000"
        high = _api_timestamp(submitted_until, end_of_day=True) if submitted_until is not None else "999912312359"
        parts.append(f"submittedDate:[{low} TO {high}]")
    if terms and terms.strip():
        text = terms.strip()
        parts.append(f"({text})" if parts else text)
    if not parts:
        raise ValueError("an arXiv search needs a category, a submitted-date range or query terms")
    return " AND ".join(parts)


def search_arxiv(
    client: PoliteClient,
    *,
    category: str | None = None,
    submitted_from: date | datetime | None = None,
    submitted_until: date | datetime | None = None,
    search_query: str | None = None,
    id_list: Sequence[str] | None = None,
    page_size: int = 100,
    max_results: int | None = None,
    sort_by: str = "submittedDate",
    sort_order: str = "descending",
    base_url: str = ARXIV_API_URL,
) -> Iterator[PaperRecord | RecordProblem]:
    """Page through the arXiv API, yielding each entry as a PaperRecord (or a RecordProblem).

    Pages with `start`/`max_results` until `totalResults` is reached, a page comes back empty, or
    `max_results` entries have been yielded. `search_query` is raw API syntax, ANDed with the
    category/date filters. Raises `SourceUnavailable`/`MalformedResponse` (after the client's
    retries) when a whole page cannot be fetched or parsed, and `ArxivApiError` when the API
    reports an error entry (e.g. a bad query).
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    query = None
    if category or submitted_from or submitted_until or search_query:
        query = build_search_query(
            category=category,
            submitted_from=submitted_from,
            submitted_until=submitted_until,
            terms=search_query,
        )
    ids = [_checked_id(raw) for raw in id_list] if id_list else []
    if query is None and not ids:
        raise ValueError("an arXiv search needs a category, a date range, a search_query or an id_list")

    start = 0
    yielded = 0
    while True:
        size = page_size if max_results is None else min(page_size, max_results - yielded)
        if size <= 0:
            return
        params: dict[str, str | int] = {"start": start, "max_results": size}
        if query is not None:
            params["search_query"] = query
            params["sortBy"] = sort_by
            params["sortOrder"] = sort_order
        if ids:
            params["id_list"] = ",".join(ids)
        page = fetch_atom_page(client, base_url, params)
        for item in page.items:
            yield item
            yielded += 1
        start += len(page.items)
        # arXiv sometimes answers an empty page before totalResults; stopping is safer than spinning.
        if not page.items:
            return
        if page.total_results is not None and start >= page.total_results:
            return
        if max_results is not None and yielded >= max_results:
            return


def fetch_by_ids(
    client: PoliteClient,
    arxiv_ids: Sequence[str],
    *,
    base_url: str = ARXIV_API_URL,
) -> list[PaperRecord | RecordProblem]:
    """Look papers up by arXiv id (with or without version), in batches, in the order arXiv returns them.

    Raises `InvalidArxivId` before any request if an id is not an arXiv id. Ids arXiv does not know
    simply produce no record (or a RecordProblem for an empty entry); compare ids to find them.
    """
    ids = [_checked_id(raw) for raw in arxiv_ids]
    found: list[PaperRecord | RecordProblem] = []
    for offset in range(0, len(ids), ID_BATCH_SIZE):
        batch = ids[offset : offset + ID_BATCH_SIZE]
        found.extend(search_arxiv(client, id_list=batch, page_size=len(batch), base_url=base_url))
    return found


def fetch_paper(client: PoliteClient, arxiv_id: str, *, base_url: str = ARXIV_API_URL) -> PaperRecord | None:
    """One paper by id ("submit a paper by arXiv id"): its record, or None if arXiv has no such paper.

    Raises `InvalidArxivId` for text that is not an arXiv id, `SourceError` when arXiv cannot be reached.
    """
    wanted, _ = split_arxiv_id(arxiv_id)
    for item in fetch_by_ids(client, [arxiv_id], base_url=base_url):
        if isinstance(item, PaperRecord) and item.arxiv_id == wanted:
            return item
    return None


def fetch_atom_page(client: PoliteClient, base_url: str, params: QueryParams) -> AtomPage:
    """GET one API page and parse it (the client retries unreadable bodies before giving up)."""
    location = str(client_url(base_url, params))
    root = client.get_xml(base_url, params)
    return parse_atom_root(root, location=location)


def client_url(base_url: str, params: QueryParams) -> str:
    """The full URL of a request, as used in problem locations and error messages."""
    return str(httpx.URL(base_url, params=dict(params)))


def parse_atom_feed(content: bytes, *, location: str = "<atom feed>") -> AtomPage:
    """Parse a saved API response; raises `MalformedResponse` naming `location` if it is not an Atom feed."""
    try:
        root = parse_xml(content)
    except ValueError as exc:
        raise MalformedResponse(f"{location}: {exc}", url=location) from exc
    return parse_atom_root(root, location=location)


def parse_atom_root(root: etree._Element, *, location: str) -> AtomPage:
    """Turn a parsed `<feed>` into an AtomPage; entries that cannot be read become RecordProblems."""
    if root.tag != f"{{{_NS['atom']}}}feed":
        raise MalformedResponse(
            f"{location}: expected an Atom <feed>, got <{etree.QName(root).localname}>", url=location
        )
    page = AtomPage(
        total_results=_int_or_none(root.findtext("opensearch:totalResults", namespaces=_NS)),
        start_index=_int_or_none(root.findtext("opensearch:startIndex", namespaces=_NS)),
        items_per_page=_int_or_none(root.findtext("opensearch:itemsPerPage", namespaces=_NS)),
    )
    for number, entry in enumerate(root.iterfind("atom:entry", namespaces=_NS), start=1):
        entry_id = (entry.findtext("atom:id", namespaces=_NS) or "").strip()
        if "/api/errors" in entry_id:
            message = optional_text(entry.findtext("atom:summary", namespaces=_NS)) or "unknown error"
            raise ArxivApiError(f"arXiv API error for {location}: {message}", url=location)
        page.items.append(parse_atom_entry(entry, location=f"{location} entry {number}"))
    return page


def parse_atom_entry(entry: etree._Element, *, location: str) -> PaperRecord | RecordProblem:
    """One `<entry>` as a PaperRecord, or a RecordProblem saying what is missing or wrong."""
    raw_id = (entry.findtext("atom:id", namespaces=_NS) or "").strip()
    try:
        arxiv_id, version = arxiv_id_from_url(raw_id)
    except InvalidArxivId as exc:
        return RecordProblem(location, None, f"entry <id> is not an arXiv abs URL: {exc}")
    title = optional_text(entry.findtext("atom:title", namespaces=_NS))
    abstract = optional_text(entry.findtext("atom:summary", namespaces=_NS))
    if title is None:
        return RecordProblem(location, arxiv_id, "entry has no title")
    if abstract is None:
        return RecordProblem(location, arxiv_id, "entry has no abstract (<summary>)")
    try:
        published = _optional_datetime(entry.findtext("atom:published", namespaces=_NS))
        updated = _optional_datetime(entry.findtext("atom:updated", namespaces=_NS))
    except ValueError as exc:
        return RecordProblem(location, arxiv_id, f"unreadable date: {exc}")

    categories: list[str] = []
    primary = entry.find("arxiv:primary_category", namespaces=_NS)
    if primary is not None and primary.get("term"):
        categories.append(str(primary.get("term")))
    for category in entry.iterfind("atom:category", namespaces=_NS):
        term = category.get("term")
        if term and term not in categories:
            categories.append(term)

    authors = [
        name
        for author in entry.iterfind("atom:author", namespaces=_NS)
        if (name := optional_text(author.findtext("atom:name", namespaces=_NS)))
    ]
    # The API gives the first version's date as <published> and the latest one's as <updated>.
    versions: list[PaperVersion] = []
    if version is not None:
        versions.append(PaperVersion(1, published))
        if version > 1:
            versions.append(PaperVersion(version, updated))
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=abstract,
        authors=authors,
        categories=categories,
        published_at=published,
        updated_at=updated,
        version=version,
        versions=versions,
        comment=optional_text(entry.findtext("arxiv:comment", namespaces=_NS)),
        journal_ref=optional_text(entry.findtext("arxiv:journal_ref", namespaces=_NS)),
        doi=optional_text(entry.findtext("arxiv:doi", namespaces=_NS)),
        source=SOURCE_NAME,
    )


def _checked_id(raw: str) -> str:
    """The id as the API wants it (version kept if given); raises InvalidArxivId."""
    arxiv_id, version = split_arxiv_id(raw)
    return f"{arxiv_id}v{version}" if version is not None else arxiv_id


def _api_timestamp(moment: date | datetime, *, end_of_day: bool) -> str:
    if isinstance(moment, datetime):
        value = moment if moment.tzinfo is None else moment.astimezone(UTC)
    else:
        value = datetime.combine(moment, time(23, 59) if end_of_day else time(0, 0))
    return value.strftime("%Y%m%d%H%M")


def _optional_datetime(value: str | None) -> datetime | None:
    return parse_iso_datetime(value) if value and value.strip() else None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
