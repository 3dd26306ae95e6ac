"""Community pages and form posts: accounts, votes, submissions, curation, comments, profiles, trending."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from broadsheet.community import accounts, service
from broadsheet.community.deps import MAX_ROW_ID, OptionalViewer, RowId, SignedIn, Viewer, client_address
from broadsheet.community.fetch import arxiv_fetcher
from broadsheet.community.schemas import profile_json, threads_json, token_json, trending_json, vote_json
from broadsheet.community.security import SESSION_COOKIE, cookie_options
from broadsheet.community.trending import trending
from broadsheet.errors import BroadsheetError, InvalidInput
from broadsheet.models import User
from broadsheet.papers.service import parse_arxiv_id, parse_day
from broadsheet.web.deps import AppSettings, DbSession, render

router = APIRouter(include_in_schema=False)
FormText = Annotated[str, Form()]
Next = Annotated[str, Form()]


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths: `/x` yes, `//evil.example` and `https://…` no."""
    if not target or not target.startswith("/") or target.startswith("//") or target.startswith("/\\"):
        return default
    return target


def see_other(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _to_login(request: Request) -> RedirectResponse:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return see_other(f"/login?next={path}")


# Accounts ----------------------------------------------------------------------------------------------


def _signed_in_response(
    request: Request, session: DbSession, settings: AppSettings, user: User, next_path: str
) -> Response:
    token, _ = accounts.open_session(
        session, settings, user, address=client_address(request), user_agent=request.headers.get("user-agent")
    )
    response = see_other(safe_next(next_path))
    response.set_cookie(SESSION_COOKIE, token, **cookie_options(settings, settings.session_days * 86400))
    return response


@router.get("/signup", response_class=HTMLResponse)
def signup_page(request: Request, next: str = "/") -> Response:
    return render(request, "signup.html", {"next": safe_next(next), "form": {}})


@router.post("/signup")
def signup(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    email: FormText = "",
    name: FormText = "",
    password: FormText = "",
    display_name: FormText = "",
    next: Next = "/",
) -> Response:
    try:
        user = accounts.create_user(session, email=email, name=name, password=password, display_name=display_name)
    except BroadsheetError as error:
        form = {"email": email, "name": name, "display_name": display_name}
        context = {"error": error.message, "form": form, "next": safe_next(next)}
        return render(request, "signup.html", context, status_code=error.status)
    return _signed_in_response(request, session, settings, user, next)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": safe_next(next), "email": ""})


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    email: FormText = "",
    password: FormText = "",
    next: Next = "/",
) -> Response:
    result = accounts.sign_in(session, settings, email=email, password=password, address=client_address(request))
    if result.user is None:
        refusal = result.refusal or InvalidInput(accounts.SIGN_IN_REFUSED)
        # Rendered, not raised: the failed attempt must be committed to count against the limit.
        context = {"error": refusal.message, "email": email, "next": safe_next(next)}
        return render(request, "login.html", context, status_code=refusal.status)
    return _signed_in_response(request, session, settings, result.user, next)


@router.post("/logout")
def logout(request: Request, session: DbSession, settings: AppSettings) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        accounts.close_session(session, cookie)
    response = see_other("/")
    response.delete_cookie(SESSION_COOKIE, path="/", secure=settings.cookie_secure, httponly=True, samesite="lax")
    return response


def _settings_context(session: DbSession, viewer: Viewer, **extra: Any) -> dict[str, Any]:
    tokens = accounts.api_tokens(session, viewer.user)
    return {"tokens": tokens, "tokens_json": [token_json(t) for t in tokens], **extra}


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, session: DbSession, viewer: OptionalViewer) -> Response:
    if viewer is None:
        return _to_login(request)
    return render(request, "account.html", _settings_context(session, viewer))


@router.post("/settings/password")
def change_password(
    request: Request, session: DbSession, viewer: SignedIn, current: FormText = "", new: FormText = ""
) -> Response:
    user = session.get(User, viewer.user.id)
    assert user is not None
    try:
        signed_out = accounts.change_password(
            session, user, current=current, new=new, keep_session_id=viewer.session_id
        )
    except BroadsheetError as error:
        context = _settings_context(session, viewer, error=error.message)
        return render(request, "account.html", context, status_code=error.status)
    notice = f"Password changed; {signed_out} other session{'s' if signed_out != 1 else ''} signed out."
    return render(request, "account.html", _settings_context(session, viewer, notice=notice))


@router.post("/settings/sign-out-everywhere")
def sign_out_everywhere(session: DbSession, viewer: SignedIn) -> Response:
    accounts.sign_out_everywhere(session, viewer.user)
    return see_other("/login")


@router.post("/settings/tokens")
def create_token(request: Request, session: DbSession, viewer: SignedIn, label: FormText = "") -> Response:
    raw, _ = accounts.create_api_token(session, viewer.user, label)
    return render(request, "account.html", _settings_context(session, viewer, new_token=raw))


@router.post("/settings/tokens/{token_id}/revoke")
def revoke_token(token_id: RowId, session: DbSession, viewer: SignedIn) -> Response:
    accounts.revoke_api_token(session, viewer.user, token_id)
    return see_other("/settings")


# Profiles ----------------------------------------------------------------------------------------------


@router.get("/u/{name}", response_class=HTMLResponse)
def profile_page(request: Request, name: str, session: DbSession) -> Response:
    profile = service.profile(session, accounts.find_user(session, name))
    return render(request, "profile.html", {"profile": profile, "data": profile_json(profile)})


@router.post("/u/{name}/role")
def set_role(name: str, session: DbSession, viewer: SignedIn, role: FormText = "") -> Response:
    if not viewer.user.is_admin:
        raise BroadsheetError("only admins can change roles", 403)
    accounts.set_role(session, accounts.find_user(session, name), role)
    return see_other(f"/u/{name}")


# Votes, submissions, curation --------------------------------------------------------------------------


@router.post("/vote/{arxiv_id:path}")
def vote(
    request: Request, arxiv_id: str, session: DbSession, viewer: SignedIn, action: FormText = "up", next: Next = ""
) -> Response:
    paper_id = parse_arxiv_id(arxiv_id)
    if action not in ("up", "remove"):
        raise InvalidInput("action: up or remove")
    if action == "up":
        state = service.upvote(session, viewer.user, paper_id)
    else:
        state = service.remove_upvote(session, viewer.user, paper_id)
    if wants_json(request):
        return JSONResponse(vote_json(state))
    return see_other(safe_next(next, f"/papers/{paper_id}"))


@router.get("/submit", response_class=HTMLResponse)
def submit_page(request: Request, viewer: OptionalViewer, settings: AppSettings, arxiv: str = "") -> Response:
    if viewer is None:
        return _to_login(request)
    return render(request, "submit.html", {"arxiv": arxiv, "max_age_days": settings.submission_max_age_days})


@router.post("/submit")
def submit(
    request: Request, session: DbSession, settings: AppSettings, viewer: SignedIn, arxiv: FormText = ""
) -> Response:
    try:
        entry, paper = service.submit_paper(
            session, viewer.user, arxiv, fetch=arxiv_fetcher(settings), max_age_days=settings.submission_max_age_days
        )
    except BroadsheetError as error:
        context = {"arxiv": arxiv, "error": error.message, "max_age_days": settings.submission_max_age_days}
        return render(request, "submit.html", context, status_code=error.status)
    return see_other(f"/date/{entry.day.isoformat()}#paper-{paper.arxiv_id}")


@router.post("/curate")
def curate(
    session: DbSession,
    viewer: SignedIn,
    day: FormText = "",
    arxiv_id: FormText = "",
    action: FormText = "",
    next: Next = "",
) -> Response:
    feed_day: date = parse_day(day)
    service.curate(session, viewer.user, feed_day, parse_arxiv_id(arxiv_id), action)
    return see_other(safe_next(next, f"/date/{feed_day.isoformat()}"))


# Comments ----------------------------------------------------------------------------------------------


def _optional_int(raw: str, field: str) -> int | None:
    if not raw.strip():
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{field}: expected a number") from None
    if not 1 <= value <= MAX_ROW_ID:
        raise InvalidInput(f"{field}: expected an id from 1 to {MAX_ROW_ID}, got {raw[:20]}")
    return value


@router.post("/papers/{arxiv_id:path}/comments")
def add_comment(
    arxiv_id: str, session: DbSession, viewer: SignedIn, body: FormText = "", parent_id: FormText = ""
) -> Response:
    paper_id = parse_arxiv_id(arxiv_id)
    comment = service.add_comment(session, viewer.user, paper_id, body, _optional_int(parent_id, "parent_id"))
    return see_other(f"/papers/{paper_id}#comment-{comment.id}")


@router.get("/comments/{comment_id}/edit", response_class=HTMLResponse)
def edit_comment_page(request: Request, comment_id: RowId, session: DbSession, viewer: SignedIn) -> Response:
    comment = service.get_comment(session, comment_id)
    if comment.user_id != viewer.user.id:
        raise BroadsheetError("you can only change your own comments", 403)
    return render(request, "comment_edit.html", {"comment": comment})


@router.post("/comments/{comment_id}/edit")
def edit_comment(comment_id: RowId, session: DbSession, viewer: SignedIn, body: FormText = "") -> Response:
    comment = service.edit_comment(session, viewer.user, comment_id, body)
    return see_other(f"/papers/{comment.arxiv_id}#comment-{comment.id}")


@router.post("/comments/{comment_id}/delete")
def delete_comment(comment_id: RowId, session: DbSession, viewer: SignedIn) -> Response:
    comment = service.delete_comment(session, viewer.user, comment_id)
    return see_other(f"/papers/{comment.arxiv_id}#comments")


@router.post("/comments/{comment_id}/hide")
def hide_comment(comment_id: RowId, session: DbSession, viewer: SignedIn, hidden: FormText = "1") -> Response:
    comment = service.set_comment_hidden(session, viewer.user, comment_id, hidden not in ("0", "false", ""))
    return see_other(f"/papers/{comment.arxiv_id}#comment-{comment.id}")


# Trending ----------------------------------------------------------------------------------------------


@router.get("/trending", response_class=HTMLResponse)
def trending_page(
    request: Request, session: DbSession, settings: AppSettings, p: Annotated[int, Query(ge=0)] = 0
) -> Response:
    page = trending(session, window_days=settings.trending_window_days, page=p, limit=settings.page_size)
    data = trending_json(page)
    return render(request, "trending.html", {"trending": page, "items": data["items"], "data": data})


def paper_page_context(request: Request, session: DbSession, paper: Any) -> dict[str, Any]:
    """Added to every paper page (a `paper_page_hooks` entry): its comment threads."""
    from broadsheet.community.deps import resolve_viewer

    viewer = resolve_viewer(request)
    threads = service.comment_threads(session, paper.arxiv_id)
    return {"threads": threads, "comments_json": threads_json(threads, viewer.user if viewer else None)}
