"""Feed URLs: /feed, /trending, /category/{cat} and /search, each as .rss, .atom and .json."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response

from broadsheet.errors import NotFound
from broadsheet.feeds import service
from broadsheet.feeds.render import FORMATS, MEDIA_TYPES, FeedDocument, render_feed
from broadsheet.web.deps import AppSettings, DbSession

router = APIRouter(tags=["feeds"])


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise NotFound(f"feeds come as .rss, .atom or .json, not .{fmt[:20]}")
    return fmt


def _respond(request: Request, doc: FeedDocument, fmt: str) -> Response:
    base = request.app.state.settings.base_url.rstrip("/")
    query = f"?{request.url.query}" if request.url.query else ""
    self_url = f"{base}{request.url.path}{query}"
    return Response(render_feed(doc, fmt, self_url), media_type=MEDIA_TYPES[fmt])


Optional = Annotated[str | None, Query()]


@router.get("/feed.{fmt}", summary="The daily feed (latest day, or ?date=, ?week=, ?month=) as RSS, Atom or JSON Feed")
def daily_feed(
    request: Request,
    fmt: str,
    session: DbSession,
    settings: AppSettings,
    date: Annotated[str | None, Query(description="A day, YYYY-MM-DD.")] = None,
    week: Annotated[str | None, Query(description="An ISO week, YYYY-Www.")] = None,
    month: Annotated[str | None, Query(description="A month, YYYY-MM.")] = None,
) -> Response:
    fmt = _format(fmt)
    doc, _ = service.daily_feed(session, settings, day=date, week=week, month=month)
    return _respond(request, doc, fmt)


@router.get("/trending.{fmt}", summary="Trending papers as RSS, Atom or JSON Feed")
def trending_feed(request: Request, fmt: str, session: DbSession, settings: AppSettings) -> Response:
    fmt = _format(fmt)
    return _respond(request, service.trending_feed(session, settings), fmt)


@router.get("/category/{category}.{fmt}", summary="The newest papers of an arXiv category as a feed")
def category_feed(request: Request, category: str, fmt: str, session: DbSession, settings: AppSettings) -> Response:
    fmt = _format(fmt)
    return _respond(request, service.category_feed(session, settings, category), fmt)


@router.get("/search.{fmt}", summary="A search as a feed (needs the search service)")
def search_feed(
    request: Request,
    fmt: str,
    session: DbSession,
    settings: AppSettings,
    q: Annotated[str, Query(description="The search query.")] = "",
) -> Response:
    fmt = _format(fmt)
    search = getattr(request.app.state, "search", None)
    return _respond(request, service.search_feed(session, settings, search, q), fmt)


def feed_links(request: Request) -> dict[str, Any]:
    """Context hook: every page gets the `<link rel="alternate">` feeds of its view."""
    return {"feed_alternates": service.alternates(request.url.path, dict(request.query_params))}


def install(app: FastAPI) -> None:
    app.state.context_hooks.append(feed_links)
