"""Who is asking: the signed-in user from the session cookie or a Bearer API token, as FastAPI dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from broadsheet.community import accounts
from broadsheet.community.security import SESSION_COOKIE, csrf_token
from broadsheet.db import unit_of_work
from broadsheet.errors import Unauthorized
from broadsheet.models import User

# The largest id a row of ours can have on both stores (PostgreSQL's INTEGER); past it, the database
# refuses the number itself rather than finding no row.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A row id (comment, API token).")]


@dataclass(frozen=True)
class Viewer:
    """The signed-in user (a detached row), and how they signed in."""

    user: User
    via: Literal["session", "token"]
    session_id: int | None = None


_UNRESOLVED = object()


def resolve_viewer(request: Request) -> Viewer | None:
    """Resolved once per request in its own short transaction, so a write request's unit of work starts
    with its write (SQLite then takes the write lock at once instead of upgrading a read snapshot)."""
    cached = getattr(request.state, "viewer", _UNRESOLVED)
    if cached is not _UNRESOLVED:
        return cached  # type: ignore[return-value]
    viewer: Viewer | None = None
    authorization = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE) if authorization is None else None
    if authorization is not None or cookie:  # an anonymous request has nothing to look up
        with unit_of_work(request.app.state.session_factory) as session:
            if authorization is not None:
                # A request with an Authorization header is judged by it alone; its cookies are ignored.
                scheme, _, credentials = authorization.partition(" ")
                if scheme.lower() == "bearer" and credentials.strip():
                    found = accounts.token_user(session, credentials.strip())
                    if found is not None:
                        viewer = Viewer(found[1], "token")
            elif cookie:
                active = accounts.session_user(session, cookie)
                if active is not None:
                    viewer = Viewer(active[1], "session", active[0].id)
    request.state.viewer = viewer
    return viewer


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def optional_viewer(request: Request) -> Viewer | None:
    return resolve_viewer(request)


def require_viewer(request: Request) -> Viewer:
    viewer = resolve_viewer(request)
    if viewer is None:
        raise Unauthorized("Sign in first: this needs an account.")
    return viewer


_bearer = HTTPBearer(auto_error=False, description="A personal API token: `Authorization: Bearer bs_…`.")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="The sign-in session cookie; calls that change state also need an `X-CSRF-Token` header.",
)


def api_viewer(
    request: Request,
    _bearer_credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _session_cookie: Annotated[str | None, Depends(_cookie)],
) -> Viewer:
    """For the JSON API: a session cookie or a Bearer token (declared so OpenAPI documents both)."""
    return require_viewer(request)


OptionalViewer = Annotated[Viewer | None, Depends(optional_viewer)]
SignedIn = Annotated[Viewer, Depends(require_viewer)]
ApiViewer = Annotated[Viewer, Depends(api_viewer)]


class LazyVotes:
    """The viewer's voted paper ids, loaded on first use so pages without vote buttons pay nothing."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self._ids: set[str] | None = None

    def __contains__(self, arxiv_id: object) -> bool:
        if self._ids is None:
            from broadsheet.community import repository

            viewer = resolve_viewer(self._request)
            if viewer is None:
                self._ids = set()
            else:
                with unit_of_work(self._request.app.state.session_factory) as session:
                    self._ids = repository.voted_ids(session, viewer.user.id)
        return arxiv_id in self._ids


def page_context(request: Request) -> dict[str, Any]:
    """Every page gets the signed-in user, the CSRF token for its forms, and which papers they upvoted."""
    viewer = resolve_viewer(request)
    return {
        "current_user": viewer.user if viewer else None,
        "csrf_token": csrf_token(request),
        "voted_ids": LazyVotes(request),
        "vote_widget_rendered": True,
    }
