"""OAI-PMH harvester for arXiv (ListRecords with resumption tokens) and parsers for its three formats."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

import httpx
from lxml import etree

from broadsheet.sources.categories import category_code
from broadsheet.sources.errors import MalformedResponse, OaiProtocolError, SourceError
from broadsheet.sources.http import PoliteClient, parse_xml
from broadsheet.sources.records import (
    DeletedRecord,
    InvalidArxivId,
    PaperRecord,
    PaperVersion,
    RecordProblem,
    SourceItem,
    split_arxiv_id,
)
from broadsheet.sources.text import (
    arxiv_id_from_url,
    first_doi,
    optional_text,
    parse_iso_datetime,
    parse_rfc2822_datetime,
    split_author_string,
)

# arXiv moved its OAI-PMH service here in 2025; http://export.arxiv.org/oai2 is the older address.
OAI_PMH_URL = "https://oaipmh.arxiv.org/oai"
METADATA_PREFIXES = ("arXiv", "arXivRaw", "oai_dc")
SOURCE_NAME = "oai"
_OAI_ID_PREFIX = "oai:arXiv.org:"


@dataclass(slots=True)
class OaiPage:
    """One OAI-PMH response: its items and where to go next."""

    items: list[SourceItem] = field(default_factory=list)
    resumption_token: str | None = None  # None or "" when the list is complete
    complete_list_size: int | None = None
    cursor: int | None = None


def harvest_oai(
    client: PoliteClient,
    *,
    metadata_prefix: str = "arXiv",
    set_spec: str | None = None,
    from_date: date | str | None = None,
    until_date: date | str | None = None,
    resumption_token: str | None = None,
    base_url: str = OAI_PMH_URL,
    on_page: Callable[[OaiPage], None] | None = None,
) -> Iterator[SourceItem]:
    """Harvest ListRecords page by page, following resumption tokens until the empty final token.

    Yields PaperRecord, DeletedRecord (`<header status="deleted">`) and RecordProblem items.
    `noRecordsMatch` yields nothing. Other OAI errors raise `OaiProtocolError`; pages that cannot be
    fetched or parsed raise `SourceUnavailable`/`MalformedResponse` after the client's retries.
    `resumption_token` resumes an interrupted harvest (the other filters are then ignored, as the
    protocol requires); `on_page` sees each page after its items were yielded, e.g. to save the token.
    """
    if metadata_prefix not in METADATA_PREFIXES:
        raise ValueError(f"metadata_prefix must be one of {', '.join(METADATA_PREFIXES)}, got {metadata_prefix!r}")
    params: dict[str, str | int]
    if resumption_token:
        params = {"verb": "ListRecords", "resumptionToken": resumption_token}
    else:
        params = {"verb": "ListRecords", "metadataPrefix": metadata_prefix}
        if from_date is not None:
            params["from"] = str(from_date)
        if until_date is not None:
            params["until"] = str(until_date)
        if set_spec:
            params["set"] = set_spec
    seen_tokens: set[str] = set()
    while True:
        location = str(httpx.URL(base_url, params=params))
        root = client.get_xml(base_url, params)
        page = parse_oai_root(root, location=location)
        yield from page.items
        if on_page is not None:
            on_page(page)
        token = page.resumption_token
        if not token:
            return
        if token in seen_tokens:
            raise SourceError(f"{location}: the repository repeated resumption token {token!r}", url=location)
        seen_tokens.add(token)
        params = {"verb": "ListRecords", "resumptionToken": token}


def records_from_oai_xml(content: bytes, *, location: str = "<oai response>") -> list[SourceItem]:
    """The items of a saved GetRecord or ListRecords response (any of the three formats).

    Raises `MalformedResponse` when the document is not well-formed, `OaiProtocolError` for an OAI
    error other than `noRecordsMatch`.
    """
    try:
        root = parse_xml(content)
    except ValueError as exc:
        raise MalformedResponse(f"{location}: {exc}", url=location) from exc
    return parse_oai_root(root, location=location).items


def parse_oai_root(root: etree._Element, *, location: str) -> OaiPage:
    """Read a parsed `<OAI-PMH>` document: OAI errors, records, and the resumption token."""
    if _local(root) != "OAI-PMH":
        raise MalformedResponse(f"{location}: expected an <OAI-PMH> document, got <{_local(root)}>", url=location)
    errors = _children(root, "error")
    if errors:
        codes = [error.get("code", "") for error in errors]
        if codes == ["noRecordsMatch"]:
            return OaiPage()
        message = "; ".join(f"{error.get('code')}: {_all_text(error)}" for error in errors)
        raise OaiProtocolError(f"{location}: OAI-PMH error {message}", url=location, code=codes[0])
    page = OaiPage()
    body = _child(root, "ListRecords")
    if body is None:
        body = _child(root, "GetRecord")
    if body is None:
        raise MalformedResponse(f"{location}: no <ListRecords> or <GetRecord> in the response", url=location)
    for number, record in enumerate(_children(body, "record"), start=1):
        page.items.append(parse_oai_record(record, location=f"{location} record {number}"))
    token = _child(body, "resumptionToken")
    if token is not None:
        page.resumption_token = (token.text or "").strip() or None
        page.complete_list_size = _int_or_none(token.get("completeListSize"))
        page.cursor = _int_or_none(token.get("cursor"))
    return page


def parse_oai_record(record: etree._Element, *, location: str) -> SourceItem:
    """One `<record>`: a DeletedRecord, a PaperRecord in whichever format it carries, or a RecordProblem."""
    header = _child(record, "header")
    header_id = _header_arxiv_id(header)
    if header is not None and header.get("status") == "deleted":
        if header_id is None:
            return RecordProblem(location, None, "deleted record without a readable arXiv identifier")
        return DeletedRecord(header_id)
    metadata = _child(record, "metadata")
    payload = next(iter(_element_children(metadata)), None) if metadata is not None else None
    if payload is None:
        return RecordProblem(location, header_id, "record has no <metadata>")
    readers: dict[str, Callable[[etree._Element, str | None, str], PaperRecord | RecordProblem]] = {
        "arXiv": _from_arxiv_format,
        "arXivRaw": _from_arxiv_raw,
        "dc": _from_oai_dc,
    }
    reader = readers.get(_local(payload))
    if reader is None:
        return RecordProblem(location, header_id, f"unsupported metadata format <{_local(payload)}>")
    try:
        return reader(payload, header_id, location)
    except (ValueError, TypeError, IndexError) as exc:  # InvalidArxivId and bad dates are ValueErrors
        return RecordProblem(location, header_id, f"unreadable record: {exc}")


def _from_arxiv_format(meta: etree._Element, header_id: str | None, location: str) -> PaperRecord | RecordProblem:
    arxiv_id = _record_id(_text(meta, "id"), header_id)
    problem = _missing_text_problem(meta, arxiv_id, location)
    if problem:
        return problem
    authors_el = _child(meta, "authors")
    authors = []
    for author in _children(authors_el, "author") if authors_el is not None else []:
        parts = [_text(author, "forenames"), _text(author, "keyname"), _text(author, "suffix")]
        name = " ".join(part for part in parts if part)
        # Real records hold stray separators as authors (a keyname of ":"); they are not names.
        if any(char.isalnum() for char in name):
            authors.append(name)
    created = _optional_date(_text(meta, "created"))
    updated = _optional_date(_text(meta, "updated"))
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=_required(meta, "title"),
        abstract=_required(meta, "abstract"),
        authors=authors,
        categories=(_text(meta, "categories") or "").split(),  # arXiv lists the primary first
        published_at=created,
        updated_at=updated or created,
        comment=_text(meta, "comments"),
        journal_ref=_text(meta, "journal-ref"),
        doi=first_doi(_text(meta, "doi")),
        license=_text(meta, "license"),
        source=SOURCE_NAME,
    )


def _from_arxiv_raw(meta: etree._Element, header_id: str | None, location: str) -> PaperRecord | RecordProblem:
    arxiv_id = _record_id(_text(meta, "id"), header_id)
    problem = _missing_text_problem(meta, arxiv_id, location)
    if problem:
        return problem
    versions: list[PaperVersion] = []
    for element in _children(meta, "version"):
        label = (element.get("version") or "").lstrip("v")
        raw_date = _text(element, "date")
        versions.append(PaperVersion(int(label), parse_rfc2822_datetime(raw_date) if raw_date else None))
    versions.sort(key=lambda item: item.version)
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=_required(meta, "title"),
        abstract=_required(meta, "abstract"),
        authors=split_author_string(_text(meta, "authors") or ""),
        categories=(_text(meta, "categories") or "").split(),
        published_at=versions[0].created if versions else None,
        updated_at=versions[-1].created if versions else None,
        version=versions[-1].version if versions else None,
        versions=versions,
        comment=_text(meta, "comments"),
        journal_ref=_text(meta, "journal-ref"),
        doi=first_doi(_text(meta, "doi")),
        license=_text(meta, "license"),
        source=SOURCE_NAME,
    )


def _from_oai_dc(meta: etree._Element, header_id: str | None, location: str) -> PaperRecord | RecordProblem:
    url_id: str | None = None
    doi: str | None = None
    journal_ref: str | None = None
    for identifier in _texts(meta, "identifier"):
        if "arxiv.org/abs/" in identifier:
            url_id = arxiv_id_from_url(identifier)[0]
        elif identifier.lower().startswith("doi:"):
            doi = doi or identifier[4:].strip()
        elif "://" not in identifier:
            journal_ref = journal_ref or identifier
    arxiv_id = url_id or _record_id(None, header_id)
    title = _text(meta, "title")
    comment: str | None = None
    abstract: str | None = None
    for description in _texts(meta, "description"):
        if description.startswith("Comment:"):
            comment = comment or optional_text(description.removeprefix("Comment:"))
        elif abstract is None:
            abstract = description
    if title is None:
        return RecordProblem(location, arxiv_id, "record has no title")
    if abstract is None:
        return RecordProblem(location, arxiv_id, "record has no abstract")
    authors = [_last_first_to_name(creator) for creator in _texts(meta, "creator")]
    dates = sorted(parse_iso_datetime(value) for value in _texts(meta, "date"))
    categories: list[str] = []
    for subject in _texts(meta, "subject"):
        code = category_code(subject)
        if code and code not in categories:
            categories.append(code)
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=abstract,
        authors=authors,
        categories=categories,
        published_at=dates[0] if dates else None,
        updated_at=dates[-1] if dates else None,
        comment=comment,
        journal_ref=journal_ref,
        doi=doi,
        license=_text(meta, "rights"),
        source=SOURCE_NAME,
    )


def _last_first_to_name(creator: str) -> str:
    """'Liepins, Vilnis' → 'Vilnis Liepins'; anything else is kept as written."""
    parts = [part.strip() for part in creator.split(",")]
    if len(parts) == 2 and all(parts):
        return f"{parts[1]} {parts[0]}"
    return creator


def _record_id(raw: str | None, header_id: str | None) -> str:
    if raw:
        return split_arxiv_id(raw)[0]
    if header_id:
        return header_id
    raise InvalidArxivId("record has neither an <id> nor an oai:arXiv.org identifier")


def _header_arxiv_id(header: etree._Element | None) -> str | None:
    if header is None:
        return None
    identifier = _text(header, "identifier") or ""
    try:
        return split_arxiv_id(identifier.removeprefix(_OAI_ID_PREFIX))[0]
    except InvalidArxivId:
        return None


def _missing_text_problem(meta: etree._Element, arxiv_id: str, location: str) -> RecordProblem | None:
    for name in ("title", "abstract"):
        if _text(meta, name) is None:
            return RecordProblem(location, arxiv_id, f"record has no {name}")
    return None


def _required(meta: etree._Element, name: str) -> str:
    value = _text(meta, name)
    if value is None:
        raise ValueError(f"missing <{name}>")
    return value


def _optional_date(value: str | None) -> datetime | None:
    return parse_iso_datetime(value) if value else None


def _local(element: etree._Element) -> str:
    """Tag name without namespace, so `<arXiv>` reads the same with or without its xmlns."""
    return etree.QName(element).localname


def _element_children(element: etree._Element) -> Iterator[etree._Element]:
    return (child for child in element if isinstance(child.tag, str))


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in _element_children(element) if _local(child) == name]


def _child(element: etree._Element, name: str) -> etree._Element | None:
    return next((child for child in _element_children(element) if _local(child) == name), None)


def _all_text(element: etree._Element) -> str:
    return "".join(element.itertext())


def _text(element: etree._Element, name: str) -> str | None:
    child = _child(element, name)
    return optional_text(_all_text(child)) if child is not None else None


def _texts(element: etree._Element, name: str) -> list[str]:
    return [text for child in _children(element, name) if (text := optional_text(_all_text(child)))]


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
