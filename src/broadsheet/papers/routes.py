"""Pages and JSON API of the daily feed and the paper page; each page and its JSON twin share a context."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.convertors import Convertor, register_url_convertor

from broadsheet.papers import schemas, service
from broadsheet.papers.service import FeedPage, Period
from broadsheet.web.deps import AppSettings, DbSession, render

router = APIRouter()


class CategoryConvertor(Convertor[str]):
    """An arXiv category such as cs.CL or hep-th: at most one dot, and never ending in a feed format, so
    `/category/cs.CL.rss` and `/category/hep-th.rss` stay feed URLs."""

    regex = r"[A-Za-z][A-Za-z\-]*(?:\.(?!(?:rss|atom|json)$)[A-Za-z][A-Za-z\-]*)?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("arxiv_category", CategoryConvertor())
# Registered before the feed routes, whose `/category/{category}.{fmt}` would otherwise take `/category/cs.CL`.
category_router = APIRouter()


def feed_context(page: FeedPage) -> dict[str, Any]:
    return {
        "feed": page,
        "period": page.period,
        "items": [schemas.daily_item_json(entry, paper) for entry, paper in page.entries],
    }


def _feed_page(request: Request, session: DbSession, period: Period | None, p: int, sort: str, limit: int) -> Response:
    page = service.daily_feed(session, period, sort=sort, page=p, limit=limit)
    return render(request, "feed.html", feed_context(page))


Page = Annotated[int, Query(ge=0, le=10_000, description="Page number, from 0.")]
Sort = Annotated[str, Query(description="`default` (picked, then upvotes), `publishedAt` or `trending`.")]


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def latest_day(
    request: Request, session: DbSession, settings: AppSettings, p: Page = 0, sort: Sort = "default"
) -> Response:
    period = service.resolve_period(session)
    return _feed_page(request, session, period, p, sort, settings.page_size)


@router.get("/date/{day}", response_class=HTMLResponse, include_in_schema=False)
def day_feed(
    request: Request, day: str, session: DbSession, settings: AppSettings, p: Page = 0, sort: Sort = "default"
) -> Response:
    return _feed_page(request, session, service.resolve_period(session, day=day), p, sort, settings.page_size)


@router.get("/week/{week}", response_class=HTMLResponse, include_in_schema=False)
def week_feed(
    request: Request, week: str, session: DbSession, settings: AppSettings, p: Page = 0, sort: Sort = "default"
) -> Response:
    return _feed_page(request, session, service.resolve_period(session, week=week), p, sort, settings.page_size)


@router.get("/month/{month}", response_class=HTMLResponse, include_in_schema=False)
def month_feed(
    request: Request, month: str, session: DbSession, settings: AppSettings, p: Page = 0, sort: Sort = "default"
) -> Response:
    return _feed_page(request, session, service.resolve_period(session, month=month), p, sort, settings.page_size)


@router.get(
    "/api/daily_papers",
    tags=["papers"],
    summary="Papers of the daily feed (Hugging Face API shape)",
    response_model=list[dict[str, Any]],
)
def api_daily_papers(
    session: DbSession,
    date: Annotated[str | None, Query(description="A day, YYYY-MM-DD.")] = None,
    week: Annotated[str | None, Query(description="An ISO week, YYYY-Www.")] = None,
    month: Annotated[str | None, Query(description="A month, YYYY-MM.")] = None,
    submitter: Annotated[str | None, Query(description="Only papers submitted by this name.")] = None,
    p: Page = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page.")] = 50,
    sort: Sort = "default",
) -> Response:
    period = service.resolve_period(session, day=date, week=week, month=month)
    page = service.daily_feed(session, period, sort=sort, page=p, limit=limit, submitter=submitter)
    return JSONResponse(feed_context(page)["items"])  # plain JSON values: no validation pass over them


def paper_context(detail: service.PaperDetail) -> dict[str, Any]:
    paper = detail.paper
    return {
        "paper": paper,
        "detail": detail,
        "links": schemas.arxiv_links(paper.arxiv_id),
        "item": schemas.paper_json(paper),
    }


@router.get("/api/papers/{arxiv_id:path}", tags=["papers"], summary="One paper (Hugging Face API shape)")
def api_paper(arxiv_id: str, session: DbSession) -> dict[str, Any]:
    detail = service.paper_detail(session, arxiv_id)
    item: dict[str, Any] = paper_context(detail)["item"]
    item["dailyDates"] = [day.isoformat() for day in detail.feed_days]
    item["versions"] = [{"version": f"v{v.version}", "created": schemas.iso(v.created)} for v in detail.versions]
    return item


@router.get("/papers/{arxiv_id:path}", response_class=HTMLResponse, include_in_schema=False)
def paper_page(request: Request, arxiv_id: str, session: DbSession) -> Response:
    if arxiv_id.endswith(".md"):
        detail = service.paper_detail(session, arxiv_id[:-3])
        return PlainTextResponse(schemas.paper_markdown(detail.paper), media_type="text/markdown; charset=utf-8")
    detail = service.paper_detail(session, arxiv_id)
    context = paper_context(detail)
    for hook in getattr(request.app.state, "paper_page_hooks", []):
        context.update(hook(request, session, detail.paper))
    return render(request, "paper.html", context)


@category_router.get("/category/{category:arxiv_category}", response_class=HTMLResponse, include_in_schema=False)
def category_page(request: Request, category: str, session: DbSession, settings: AppSettings, p: Page = 0) -> Response:
    papers = service.category_listing(session, category, page=p, limit=settings.page_size)
    items = [schemas.daily_item_json(None, paper) for paper in papers[: settings.page_size]]
    context = {"category": category, "items": items, "page": p, "has_more": len(papers) > settings.page_size}
    return render(request, "category.html", context)
