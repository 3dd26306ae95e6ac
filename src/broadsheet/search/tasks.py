"""Wires search into the app: the index is built in the background at start-up and kept in step."""

from __future__ import annotations

import anyio
from fastapi import FastAPI

from broadsheet.search.routes import similar_papers_hook
from broadsheet.search.service import SearchService


def install(app: FastAPI) -> None:
    settings = app.state.settings
    app.state.paper_page_hooks.append(similar_papers_hook)
    app.state.search_lane = anyio.CapacityLimiter(settings.search_lanes)
    if not settings.search_enabled:
        app.state.search = None
        return
    service = SearchService(settings, app.state.session_factory)
    app.state.search = service
    app.state.startup_jobs.append(lambda _app: service.start(settings.search_sync_interval_s))
    app.state.shutdown_jobs.append(lambda _app: service.stop())
