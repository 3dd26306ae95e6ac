"""JSON shapes of papers and feed entries, compatible with the Hugging Face papers API."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any, Protocol

from broadsheet.models import DailyEntry, Paper


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def arxiv_links(arxiv_id: str) -> dict[str, str]:
    return {"arxiv": f"https://arxiv.org/abs/{arxiv_id}", "pdf": f"https://arxiv.org/pdf/{arxiv_id}"}


class CardFields(Protocol):
    """What a paper card shows: a `Paper`, or a row of these columns (see `CARD_FIELDS`)."""

    arxiv_id: str
    title: str
    abstract: str
    authors: list[str]
    published_at: datetime | None
    github_repo: str | None
    project_page: str | None

    @property
    def upvotes(self) -> int: ...

    @property
    def num_comments(self) -> int: ...


class PaperFields(CardFields, Protocol):
    """What the JSON shapes read of a paper: a `Paper`, or a row of these columns (see `PAPER_FIELDS`)."""

    updated_at: datetime | None
    keywords: list[str]
    categories: list[str]
    version: int | None
    comment: str | None
    journal_ref: str | None
    doi: str | None
    thumbnail: str | None


# The stored columns among them (`upvotes` and `num_comments` each add up two counts).
CARD_FIELDS = tuple(CardFields.__annotations__)
PAPER_FIELDS = CARD_FIELDS + tuple(PaperFields.__annotations__)


def paper_card_json(paper: CardFields) -> dict[str, Any]:
    """The part of a paper object (`paper_json`) that a card shows: the same names and values."""
    return {
        "id": paper.arxiv_id,
        "title": paper.title,
        "summary": paper.abstract,
        "authors": [{"name": name} for name in paper.authors],
        "publishedAt": iso(paper.published_at),
        "upvotes": paper.upvotes,
        "numComments": paper.num_comments,
        "githubRepo": paper.github_repo,
        "projectPage": paper.project_page,
        "links": arxiv_links(paper.arxiv_id),
    }


def paper_json(paper: PaperFields) -> dict[str, Any]:
    """A paper object as `/api/papers/{id}` returns it (HF field names, plus Broadsheet extras)."""
    return {
        **paper_card_json(paper),
        "updatedAt": iso(paper.updated_at),
        "ai_keywords": paper.keywords,
        "categories": paper.categories,
        "version": paper.version,
        "comment": paper.comment,
        "journalRef": paper.journal_ref,
        "doi": paper.doi,
        "thumbnail": paper.thumbnail,
    }


def card_item_json(paper: CardFields) -> dict[str, Any]:
    """A paper's card outside the feed (a search hit, a similar paper): the part of
    `daily_item_json(None, paper)` that `_cards.html` reads, without the columns only the API shows."""
    return {
        "paper": paper_card_json(paper),
        "numComments": paper.num_comments,
        "submittedBy": None,
        "dailyDate": None,
        "picked": False,
        "pinned": False,
    }


def daily_item_json(entry: DailyEntry | None, paper: PaperFields) -> dict[str, Any]:
    """One item of `/api/daily_papers`: the paper plus when and by whom it entered the feed."""
    appeared = None
    if entry is not None:
        appeared = entry.submitted_at or datetime.combine(entry.day, time(0), tzinfo=UTC)
    paper_obj = paper_json(paper)
    return {
        "paper": paper_obj,
        "publishedAt": iso(appeared) or paper_obj["publishedAt"],
        "title": paper.title,
        "summary": paper.abstract,
        "thumbnail": paper.thumbnail,
        "numComments": paper.num_comments,
        "submittedBy": {"name": entry.submitted_by, "fullname": entry.submitted_by}
        if entry is not None and entry.submitted_by
        else None,
        "isAuthorParticipating": False,
        "dailyDate": entry.day.isoformat() if entry is not None else None,
        "picked": bool(entry.picked) if entry is not None else False,
        "pinned": bool(entry.pinned) if entry is not None else False,
    }


def paper_markdown(paper: Paper) -> str:
    links = arxiv_links(paper.arxiv_id)
    lines = [f"# {paper.title}", "", f"**Authors:** {', '.join(paper.authors)}", ""]
    if paper.published_at:
        lines += [f"**Published:** {paper.published_at:%Y-%m-%d}", ""]
    if paper.categories:
        lines += [f"**Categories:** {', '.join(paper.categories)}", ""]
    lines += [
        "## Abstract",
        "",
        paper.abstract,
        "",
        "## Links",
        "",
        f"- arXiv: {links['arxiv']}",
        f"- PDF: {links['pdf']}",
    ]
    if paper.github_repo:
        lines.append(f"- Code: {paper.github_repo}")
    if paper.project_page:
        lines.append(f"- Project page: {paper.project_page}")
    return "\n".join(lines) + "\n"
