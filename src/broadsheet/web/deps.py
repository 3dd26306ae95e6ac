"""Request-scoped dependencies: the unit of work, settings, and page rendering."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from broadsheet.settings import Settings


def db_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed before the response is sent, rolled back on error."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DbSession = Annotated[Session, Depends(db_session, scope="function")]
AppSettings = Annotated[Settings, Depends(app_settings)]


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    hooks = getattr(request.app.state, "context_hooks", [])
    extra: dict[str, Any] = {}
    for hook in hooks:
        extra.update(hook(request))
    return templates.TemplateResponse(request, template, {**extra, **context}, status_code=status_code)
