"""The community: accounts, upvotes, submissions, curator picks, comments and trending."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI


def routers() -> list[APIRouter]:
    """The community's routers; they go before the papers router, whose `/papers/{id:path}` matches widely."""
    from broadsheet.community.api import router as api_router
    from broadsheet.community.routes import router as pages_router

    return [api_router, pages_router]


def install(app: FastAPI) -> None:
    """Adds the CSRF guard and the page hooks that give every page the signed-in user."""
    from broadsheet.community.deps import page_context
    from broadsheet.community.markdown import render_markdown
    from broadsheet.community.routes import paper_page_context
    from broadsheet.community.security import CsrfMiddleware, page_token_of

    app.add_middleware(CsrfMiddleware, settings=app.state.settings)
    app.state.page_token_of = page_token_of
    app.state.context_hooks.append(page_context)
    app.state.paper_page_hooks.append(paper_page_context)
    app.state.templates.env.globals["render_markdown"] = render_markdown
