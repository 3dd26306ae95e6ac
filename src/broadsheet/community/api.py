"""The community JSON API: votes, submissions, comments, curation, tokens, profiles and trending."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from broadsheet.community import accounts, service
from broadsheet.community.deps import ApiViewer, OptionalViewer, RowId
from broadsheet.community.fetch import arxiv_fetcher
from broadsheet.community.schemas import (
    CommentEdit,
    CommentIn,
    CurationIn,
    HiddenIn,
    SubmissionIn,
    TokenIn,
    comment_json,
    profile_json,
    threads_json,
    token_json,
    trending_json,
    user_json,
    vote_json,
)
from broadsheet.community.trending import trending
from broadsheet.models import User
from broadsheet.papers.schemas import daily_item_json
from broadsheet.papers.service import parse_arxiv_id, parse_day
from broadsheet.web.deps import AppSettings, DbSession

router = APIRouter(prefix="/api", tags=["community"])
AUTH = (
    "Signed-in users only: a personal API token (`Authorization: Bearer …`), or the session cookie "
    "plus an `X-CSRF-Token` header."
)


@router.get("/me", summary="The signed-in user", description=AUTH)
def me(viewer: ApiViewer) -> dict[str, Any]:
    return user_json(viewer.user, private=True)


@router.get("/papers/{arxiv_id:path}/vote", summary="Upvotes of a paper and whether you upvoted it")
def get_vote(arxiv_id: str, session: DbSession, viewer: OptionalViewer) -> dict[str, Any]:
    return vote_json(service.vote_state(session, viewer.user if viewer else None, parse_arxiv_id(arxiv_id)))


@router.put("/papers/{arxiv_id:path}/vote", summary="Upvote a paper (idempotent)", description=AUTH)
def put_vote(arxiv_id: str, session: DbSession, viewer: ApiViewer) -> dict[str, Any]:
    return vote_json(service.upvote(session, viewer.user, parse_arxiv_id(arxiv_id)))


@router.delete("/papers/{arxiv_id:path}/vote", summary="Remove your upvote (idempotent)", description=AUTH)
def delete_vote(arxiv_id: str, session: DbSession, viewer: ApiViewer) -> dict[str, Any]:
    return vote_json(service.remove_upvote(session, viewer.user, parse_arxiv_id(arxiv_id)))


@router.post("/submissions", status_code=201, summary="Submit a paper to today's feed", description=AUTH)
def submit(body: SubmissionIn, session: DbSession, settings: AppSettings, viewer: ApiViewer) -> dict[str, Any]:
    entry, paper = service.submit_paper(
        session, viewer.user, body.arxiv, fetch=arxiv_fetcher(settings), max_age_days=settings.submission_max_age_days
    )
    return daily_item_json(entry, paper)


@router.post("/curation", summary="Pick, pin or remove a paper of a day's feed (curators)", description=AUTH)
def curate(body: CurationIn, session: DbSession, viewer: ApiViewer) -> dict[str, Any]:
    entry = service.curate(session, viewer.user, parse_day(body.day), parse_arxiv_id(body.arxiv_id), body.action)
    return {
        "day": entry.day.isoformat(),
        "id": entry.arxiv_id,
        "picked": entry.picked,
        "pinned": entry.pinned,
        "removed": entry.removed,
    }


@router.get("/papers/{arxiv_id:path}/comments", summary="Comment threads of a paper")
def list_comments(arxiv_id: str, session: DbSession, viewer: OptionalViewer) -> list[dict[str, Any]]:
    threads = service.comment_threads(session, parse_arxiv_id(arxiv_id))
    return threads_json(threads, viewer.user if viewer else None)


@router.post("/papers/{arxiv_id:path}/comments", status_code=201, summary="Comment on a paper", description=AUTH)
def add_comment(arxiv_id: str, body: CommentIn, session: DbSession, viewer: ApiViewer) -> dict[str, Any]:
    comment = service.add_comment(session, viewer.user, parse_arxiv_id(arxiv_id), body.body, body.parent_id)
    return comment_json(comment, viewer.user, viewer=viewer.user)


@router.patch("/comments/{comment_id}", summary="Edit your comment", description=AUTH)
def edit_comment(comment_id: RowId, body: CommentEdit, session: DbSession, viewer: ApiViewer) -> dict[str, Any]:
    comment = service.edit_comment(session, viewer.user, comment_id, body.body)
    return comment_json(comment, viewer.user, viewer=viewer.user)


@router.delete("/comments/{comment_id}", status_code=204, summary="Delete your comment", description=AUTH)
def delete_comment(comment_id: RowId, session: DbSession, viewer: ApiViewer) -> Response:
    service.delete_comment(session, viewer.user, comment_id)
    return Response(status_code=204)


@router.put("/comments/{comment_id}/hidden", summary="Hide or show a comment (admins)", description=AUTH)
def hide_comment(comment_id: RowId, body: HiddenIn, session: DbSession, viewer: ApiViewer) -> dict[str, Any]:
    comment = service.set_comment_hidden(session, viewer.user, comment_id, body.hidden)
    author = session.get(User, comment.user_id)
    assert author is not None
    return comment_json(comment, author, viewer=viewer.user)


@router.get("/tokens", summary="Your active API tokens", description=AUTH)
def list_tokens(session: DbSession, viewer: ApiViewer) -> list[dict[str, Any]]:
    return [token_json(token) for token in accounts.api_tokens(session, viewer.user)]


@router.post("/tokens", status_code=201, summary="Create an API token (shown once)", description=AUTH)
def create_token(body: TokenIn, session: DbSession, viewer: ApiViewer) -> dict[str, Any]:
    raw, row = accounts.create_api_token(session, viewer.user, body.label)
    return {**token_json(row), "token": raw}


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token", description=AUTH)
def revoke_token(token_id: RowId, session: DbSession, viewer: ApiViewer) -> Response:
    accounts.revoke_api_token(session, viewer.user, token_id)
    return Response(status_code=204)


@router.get("/users/{name}", summary="A profile: submitted, upvoted and commented papers")
def user_profile(name: str, session: DbSession) -> dict[str, Any]:
    return profile_json(service.profile(session, accounts.find_user(session, name)))


@router.get(
    "/trending",
    summary="Trending papers: upvotes discounted by age, over the trending window",
    response_model=dict[str, Any],
)
def api_trending(
    session: DbSession,
    settings: AppSettings,
    p: Annotated[int, Query(ge=0, description="Page number, from 0.")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page.")] = 50,
) -> Response:
    page = trending(session, window_days=settings.trending_window_days, page=p, limit=limit)
    return JSONResponse(trending_json(page))  # plain JSON values: no validation pass over them
