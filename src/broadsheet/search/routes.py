"""The search page, its JSON twin, and "similar papers" on paper pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from broadsheet.errors import BroadsheetError, InvalidInput
from broadsheet.models import Paper
from broadsheet.papers import repository, schemas
from broadsheet.search.query import paper_id_of, parse_query
from broadsheet.search.service import SearchFilters, SearchHit, SearchNotReady, SearchService, SearchSort
from broadsheet.web.app import shorten
from broadsheet.web.deps import render

router = APIRouter()
T = TypeVar("T")


async def in_search_lane(request: Request, work: Callable[[Session], T]) -> T:
    """Runs `work` with its own read-only database session on a thread, in this process's search lane.

    Searching, loading the cards and rendering them is CPU work under one interpreter lock, so
    requests run together only take turns: with one lane (`BROADSHEET_SEARCH_LANES`) each search
    finishes before the next starts, which keeps the slowest ones close to the typical one under
    load, while the event loop stays free for every other page.
    """

    def run() -> T:
        with request.app.state.session_factory() as session:
            return work(session)

    return await anyio.to_thread.run_sync(run, limiter=request.app.state.search_lane)


def search_service(request: Request) -> SearchService:
    service: SearchService | None = getattr(request.app.state, "search", None)
    if service is None:
        raise SearchNotReady("search is turned off on this site (BROADSHEET_SEARCH_ENABLED=false)")
    return service


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be YYYY-MM-DD, got {value!r}") from None


_NEEDS_ESCAPE = re.compile(r"[&<>\"']")


def marked(text: str, spans: list[tuple[int, int]]) -> Markup:
    """`text` escaped, with the given spans wrapped in <mark>."""
    # Most titles and abstracts have nothing to escape: then the pieces are used as they are, one
    # Markup for the whole, instead of one escape() (and one Markup) per piece.
    piece = str if _NEEDS_ESCAPE.search(text) is None else escape
    out: list[str] = []
    last = 0
    for start, end in spans:
        out += (piece(text[last:start]), "<mark>", piece(text[start:end]), "</mark>")
        last = end
    out.append(piece(text[last:]))
    return Markup("".join(out))  # every piece of `text` went through escape(), or had nothing to escape


def results_context(
    session: Session, service: SearchService, hits: list[SearchHit], highlight: bool = True, full_json: bool = False
) -> dict[str, Any]:
    """The hits' items (cards; with `full_json`, the whole `/api/daily_papers` item) and highlights."""
    ids = [hit.arxiv_id for hit in hits]
    load = repository.paper_fields if full_json else repository.card_fields
    papers: dict[str, Any] = load(session, ids)
    items, marked_texts = [], []
    for hit in hits:
        paper = papers.get(hit.arxiv_id)
        if paper is None:
            continue
        item = schemas.daily_item_json(None, paper) if full_json else schemas.card_item_json(paper)
        item["score"] = round(hit.score, 4)
        items.append(item)
        if highlight and hit.matched_terms:
            marked_texts.append((paper.arxiv_id, paper.title, shorten(paper.abstract, 300)))
    # Every query term found in any hit: a word of a card carrying one of these stems is in that
    # hit's matched terms too, and one term set means one highlighting pattern per page.
    terms = sorted({term for hit in hits for term in hit.matched_terms})
    spans = service.highlight_spans([text for _, title, summary in marked_texts for text in (title, summary)], terms)
    highlights = {
        arxiv_id: {"title": marked(title, spans[2 * i]), "summary": marked(summary, spans[2 * i + 1])}
        for i, (arxiv_id, title, summary) in enumerate(marked_texts)
    }
    return {"items": items, "highlights": highlights}


Q = Annotated[str, Query(description='Words, "a phrase", author:Name, an arXiv id or a paper URL.')]
Category = Annotated[list[str] | None, Query(description="Only papers in this arXiv category (repeatable).")]
DateFrom = Annotated[str | None, Query(alias="from", description="Published on or after, YYYY-MM-DD.")]
DateUntil = Annotated[str | None, Query(alias="until", description="Published on or before, YYYY-MM-DD.")]
HasCode = Annotated[bool | None, Query(description="Only papers with (true) or without (false) a code link.")]
Mode = Annotated[str | None, Query(description="hybrid (default), bm25 or dense.")]
Sort = Annotated[str | None, Query(description="relevance (default), or newest: the 100 best matches, newest first.")]
Like = Annotated[
    str | None, Query(description="An arXiv id instead of q: the papers closest to it in meaning (more like this).")
]


def _like_id(value: str) -> str:
    arxiv_id = paper_id_of(value.strip())
    if arxiv_id is None:
        raise InvalidInput(f"like: expected an arXiv id or paper URL, such as 2503.11731, got {value[:40]!r}")
    return arxiv_id


def _search(
    request: Request,
    session: Session,
    q: str,
    category: list[str] | None,
    date_from: str | None,
    date_until: str | None,
    has_code: bool | None,
    p: int,
    limit: int,
    mode: str | None,
    sort: str | None = None,
    like: str | None = None,
    api: bool = False,
) -> dict[str, Any]:
    """A page of results: cards with highlights for the page, or (`api`) full JSON items without.

    With `like` (an arXiv id, and no `q`), the papers closest in meaning to that one, within the filters.
    """
    service = search_service(request)
    if mode not in (None, "hybrid", "bm25", "dense"):
        raise InvalidInput(f"mode must be hybrid, bm25 or dense, got {mode!r}")
    if sort not in (None, "", "relevance", "newest"):
        raise InvalidInput(f"sort must be relevance or newest, got {sort!r}")
    filters = SearchFilters(
        [c for c in category or [] if c], _date(date_from, "from"), _date(date_until, "until"), has_code
    )
    if filters.published_from and filters.published_until and filters.published_from > filters.published_until:
        raise InvalidInput(f"from: {filters.published_from} is after until ({filters.published_until}); swap them")
    if like:
        if q.strip():
            raise InvalidInput("give q (words to search for) or like (a paper), not both")
        return _like(session, service, _like_id(like), filters, p, limit, api)
    parsed = parse_query(q)
    order: SearchSort = "newest" if sort == "newest" else "relevance"
    context: dict[str, Any] = {
        "query": q,
        "parsed": parsed,
        "filters": filters,
        "page": p,
        "limit": limit,
        "sort": order,
    }
    if parsed.paper_id:
        context["paper_id"] = parsed.paper_id
        return context
    hits = service.run(parsed, filters, limit=limit + 1, offset=p * limit, mode=mode, sort=order)  # type: ignore[arg-type]
    context["has_more"] = len(hits) > limit
    if not hits and (filters.categories or parsed.categories):
        context["unlisted"] = service.unlisted_categories([*filters.categories, *parsed.categories])
    context.update(results_context(session, service, hits[:limit], highlight=not api, full_json=api))
    return context


def _like(
    session: Session, service: SearchService, arxiv_id: str, filters: SearchFilters, p: int, limit: int, api: bool
) -> dict[str, Any]:
    paper = repository.get_paper(session, arxiv_id)
    if paper is None:
        raise BroadsheetError(f"no paper with arXiv id {arxiv_id} here", 404)
    hits = service.like(arxiv_id, filters, limit=limit + 1, offset=p * limit)
    context: dict[str, Any] = {
        "query": "",
        "like": {"id": arxiv_id, "title": paper.title},
        "filters": filters,
        "page": p,
        "limit": limit,
        "sort": "relevance",
        "has_more": len(hits) > limit,
    }
    context.update(results_context(session, service, hits[:limit], highlight=False, full_json=api))
    return context


@router.get("/search", response_class=HTMLResponse, include_in_schema=False)
async def search_page(
    request: Request,
    q: Q = "",
    category: Category = None,
    date_from: DateFrom = None,
    date_until: DateUntil = None,
    has_code: HasCode = None,
    p: Annotated[int, Query(ge=0, le=100)] = 0,
    mode: Mode = None,
    sort: Sort = None,
    like: Like = None,
) -> Response:
    if not q.strip() and not like:
        return render(request, "search.html", {"query": "", "items": [], "empty": True})

    def page(session: Session) -> Response:
        try:
            context = _search(request, session, q, category, date_from, date_until, has_code, p, 20, mode, sort, like)
        except (InvalidInput, SearchNotReady) as error:
            return render(request, "search.html", {"query": q[:500], "items": [], "error": error.message}, error.status)
        if "paper_id" in context:
            if repository.get_paper(session, context["paper_id"]) is not None:
                return RedirectResponse(f"/papers/{context['paper_id']}", status_code=303)
            context["error"] = f"no paper with arXiv id {context['paper_id']} here yet"
            context["items"] = []
            return render(request, "search.html", context, 404)
        return render(request, "search.html", context)

    return await in_search_lane(request, page)


@router.get(
    "/api/papers/search",
    tags=["search"],
    summary="Hybrid search over the catalogue",
    response_model=list[dict[str, Any]],  # documents the shape; the items are returned as built (below)
)
async def api_search(
    request: Request,
    q: Q = "",
    category: Category = None,
    date_from: DateFrom = None,
    date_until: DateUntil = None,
    has_code: HasCode = None,
    p: Annotated[int, Query(ge=0, le=100)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    mode: Mode = None,
    sort: Sort = None,
    like: Like = None,
) -> Response:
    def items(session: Session) -> list[dict[str, Any]]:
        context = _search(
            request, session, q, category, date_from, date_until, has_code, p, limit, mode, sort, like, api=True
        )
        if "paper_id" in context:
            paper = repository.get_paper(session, context["paper_id"])
            if paper is None:
                raise BroadsheetError(f"no paper with arXiv id {context['paper_id']} here", 404)
            return [schemas.daily_item_json(None, paper)]
        found: list[dict[str, Any]] = context["items"][:limit]
        return found

    # The items are plain JSON values already: returning them as a response skips FastAPI's validation
    # of the return value against `response_model`, 0.5 of 0.75 ms to serialise 20 items (same bytes).
    return JSONResponse(await in_search_lane(request, items))


def similar_papers_hook(request: Request, session: Session, paper: Paper) -> dict[str, Any]:
    """Adds "Similar papers" (top 5 by meaning) to the paper page context."""
    service: SearchService | None = getattr(request.app.state, "search", None)
    if service is None:
        return {}
    hits = service.similar(paper.arxiv_id, 5)
    return {
        "similar": results_context(session, service, hits, highlight=False)["items"],
        "search_ready": service.ready.is_set(),
    }
