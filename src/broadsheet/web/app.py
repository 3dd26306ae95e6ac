"""`create_app(settings)`: the only way the web application is built."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from broadsheet.db import make_engine, make_session_factory, migrate
from broadsheet.settings import Settings
from broadsheet.sources.records import is_arxiv_category
from broadsheet.web.cache import AnonymousPageCache
from broadsheet.web.errors import install_error_handlers
from broadsheet.web.headers import SecurityHeaders

HERE = Path(__file__).parent


def shorten(text: str, limit: int = 300) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:") + "…"


def short_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%b %-d, %Y")


def make_templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.auto_reload = settings.reload_templates
    env.filters["shorten"] = shorten
    env.filters["short_date"] = short_date
    env.globals["site_name"] = settings.site_name
    env.globals["Markup"] = Markup
    env.tests["arxiv_category"] = is_arxiv_category
    return templates


def create_app(settings: Settings) -> FastAPI:
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for start in app.state.startup_jobs:
            start(app)
        yield
        for stop in app.state.shutdown_jobs:
            stop(app)
        engine.dispose()

    app = FastAPI(
        title=settings.site_name,
        description="Daily papers, hybrid search, trending and digests; JSON follows the Hugging Face papers API.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.templates = make_templates(settings)
    app.state.started_at = datetime.now(UTC)
    app.state.context_hooks = []
    app.state.paper_page_hooks = []
    app.state.startup_jobs = []
    app.state.shutdown_jobs = []
    install_error_handlers(app)
    app.add_middleware(AnonymousPageCache, ttl_s=settings.page_cache_ttl_s, shared_cookies=frozenset({"bs_anon"}))
    app.add_middleware(SecurityHeaders)  # outermost: cached pages get the headers too
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    _install_concepts(app)
    return app


def _install_concepts(app: FastAPI) -> None:
    """Every concept's routes, middleware, page hooks and background jobs.

    Imported here rather than at the top because the concepts' routes import this module's helpers.
    The paper routes come last since `/papers/{id:path}` matches widely.
    """
    from broadsheet import community
    from broadsheet.digest import routes as digest_routes
    from broadsheet.digest import tasks as digest_tasks
    from broadsheet.feeds import routes as feeds_routes
    from broadsheet.papers import routes as papers_routes
    from broadsheet.search import routes as search_routes
    from broadsheet.search import tasks as search_tasks
    from broadsheet.web import routes as site_routes

    routers: list[APIRouter] = [
        search_routes.router,  # first: the busiest dynamic pages, matched without trying every other route
        site_routes.router,
        papers_routes.category_router,
        *community.routers(),
        digest_routes.router,
        feeds_routes.router,
        papers_routes.router,
    ]
    for router in routers:
        app.include_router(router)
    for install in (community.install, digest_tasks.install, feeds_routes.install, search_tasks.install):
        install(app)
