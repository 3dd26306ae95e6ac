"""JSON shapes of users, votes, comments and trending, and the request bodies of the community API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from broadsheet.community.markdown import render_markdown
from broadsheet.community.service import Profile, Thread, VoteState
from broadsheet.community.trending import TrendingPage
from broadsheet.models import ApiToken, Comment, User
from broadsheet.papers.schemas import daily_item_json, iso, paper_json


class SubmissionIn(BaseModel):
    arxiv: str = Field(description="An arXiv id (2503.11731, arXiv:2503.11731v2) or an arXiv / Hugging Face URL.")


class CommentIn(BaseModel):
    body: str = Field(description="Markdown, up to 10,000 characters.")
    parent_id: int | None = Field(None, description="Reply to this top-level comment.")


class CommentEdit(BaseModel):
    body: str = Field(description="The new Markdown text.")


class HiddenIn(BaseModel):
    hidden: bool = Field(description="True hides the comment from everyone but admins.")


class CurationIn(BaseModel):
    day: str = Field(description="The feed day, YYYY-MM-DD.")
    arxiv_id: str = Field(description="The paper's arXiv id.")
    action: str = Field(description="pick, unpick, pin, unpin, remove or restore.")


class TokenIn(BaseModel):
    label: str = Field("API token", description="A name to recognise the token by.")


def user_json(user: User, *, private: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": user.name,
        "displayName": user.display_name,
        "role": user.role,
        "createdAt": iso(user.created_at),
    }
    if private:
        data["email"] = user.email
    return data


def vote_json(state: VoteState) -> dict[str, Any]:
    return {"id": state.arxiv_id, "upvotes": state.upvotes, "voted": state.voted}


def comment_json(comment: Comment, author: User, *, viewer: User | None = None) -> dict[str, Any]:
    shown = comment.visible or (viewer is not None and viewer.is_admin and not comment.deleted)
    return {
        "id": comment.id,
        "paperId": comment.arxiv_id,
        "parentId": comment.parent_id,
        "author": user_json(author) if not comment.deleted else None,
        "body": comment.body if shown else None,
        "html": str(render_markdown(comment.body)) if shown else None,
        "createdAt": iso(comment.created_at),
        "editedAt": iso(comment.edited_at),
        "deleted": comment.deleted,
        "hidden": comment.hidden,
    }


def threads_json(threads: list[Thread], viewer: User | None) -> list[dict[str, Any]]:
    return [
        {
            **comment_json(thread.comment, thread.author, viewer=viewer),
            "replies": [comment_json(c, a, viewer=viewer) for c, a in thread.replies],
        }
        for thread in threads
    ]


def profile_json(profile: Profile) -> dict[str, Any]:
    return {
        "user": user_json(profile.user),
        "submitted": [daily_item_json(entry, paper) for entry, paper in profile.submitted],
        "upvoted": [paper_json(paper) for paper in profile.upvoted],
        "comments": [
            {"id": c.id, "paperId": p.arxiv_id, "paperTitle": p.title, "body": c.body, "createdAt": iso(c.created_at)}
            for c, p in profile.comments
        ],
    }


def trending_json(page: TrendingPage) -> dict[str, Any]:
    return {
        "window": {"start": page.start.isoformat(), "end": page.end.isoformat(), "fallback": page.fallback},
        "reference": iso(page.reference),
        "total": page.total,
        "page": page.page,
        "items": [{**daily_item_json(entry, paper), "score": round(score, 6)} for entry, paper, score in page.rows],
    }


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "label": token.label,
        "createdAt": iso(token.created_at),
        "lastUsedAt": iso(token.last_used_at),
    }
