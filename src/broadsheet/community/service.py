"""Community rules: upvotes, submissions to today's feed, curator picks, comments and profiles."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broadsheet.community import repository
from broadsheet.errors import BroadsheetError, Conflict, Forbidden, InvalidInput, NotFound
from broadsheet.models import Comment, DailyEntry, Paper, User
from broadsheet.models.base import utcnow
from broadsheet.papers.ingest import upsert_records
from broadsheet.sources.records import InvalidArxivId, PaperRecord, split_arxiv_id

MAX_COMMENT = 10_000
PROFILE_LIMIT = 50
CURATOR_ACTIONS = {
    "pick": ("picked", True),
    "unpick": ("picked", False),
    "pin": ("pinned", True),
    "unpin": ("pinned", False),
    "remove": ("removed", True),
    "restore": ("removed", False),
}
# arXiv abs/pdf/html URLs and Hugging Face paper URLs: the id is what follows the last known path part.
_ID_IN_URL = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf|html)/|huggingface\.co/papers/|^arxiv:)(?P<id>[A-Za-z.\-]*/?\d{4}\.?\d{3,5}(?:v\d+)?)",
    re.IGNORECASE,
)


class ArxivUnavailable(BroadsheetError):
    status = 502


# Votes -------------------------------------------------------------------------------------------------


@dataclass
class VoteState:
    arxiv_id: str
    upvotes: int
    voted: bool


def upvote(session: Session, user: User, arxiv_id: str) -> VoteState:
    """One vote per user per paper. The vote row is written first (atomic counter in the same transaction)."""
    try:
        repository.add_vote(session, user.id, arxiv_id, utcnow())
    except IntegrityError:  # the foreign key: no such paper
        raise NotFound(f"no paper with arXiv id {arxiv_id} here") from None
    return _vote_state(session, arxiv_id, True)


def remove_upvote(session: Session, user: User, arxiv_id: str) -> VoteState:
    repository.remove_vote(session, user.id, arxiv_id)
    return _vote_state(session, arxiv_id, False)


def vote_state(session: Session, user: User | None, arxiv_id: str) -> VoteState:
    voted = user is not None and repository.has_voted(session, user.id, arxiv_id)
    return _vote_state(session, arxiv_id, voted)


def _vote_state(session: Session, arxiv_id: str, voted: bool) -> VoteState:
    upvotes = repository.upvotes_of(session, arxiv_id)
    if upvotes is None:
        raise NotFound(f"no paper with arXiv id {arxiv_id} here")
    return VoteState(arxiv_id, upvotes, voted)


def voted_ids(session: Session, user: User | None) -> set[str]:
    return repository.voted_ids(session, user.id) if user else set()


# Submissions -------------------------------------------------------------------------------------------


def parse_submission(raw: str) -> str:
    """An arXiv id from an id (`2503.11731`, `arXiv:2503.11731v2`) or an arXiv / Hugging Face URL."""
    text = raw.strip()
    if not text:
        raise InvalidInput("arxiv: give an arXiv id (e.g. 2503.11731) or an arXiv URL")
    match = _ID_IN_URL.search(text)
    candidate = match.group("id") if match else text
    candidate = candidate.removesuffix(".pdf")
    try:
        return split_arxiv_id(candidate)[0]
    except InvalidArxivId:
        shown = text if len(text) <= 80 else text[:80] + "…"
        raise InvalidInput(
            f"arxiv: {shown!r} is not an arXiv id or URL (expected e.g. 2503.11731 or https://arxiv.org/abs/2503.11731)"
        ) from None


Fetcher = Callable[[str], PaperRecord | None]


def today_utc() -> date:
    return datetime.now(UTC).date()


def submit_paper(
    session: Session, user: User, raw: str, *, fetch: Fetcher, max_age_days: int, now: datetime | None = None
) -> tuple[DailyEntry, Paper]:
    """Put a paper in today's (UTC) feed, submitted by `user`; fetched from arXiv when not in the store."""
    arxiv_id = parse_submission(raw)
    now = now or utcnow()
    today = now.astimezone(UTC).date()
    existing = repository.feed_entry(session, today, arxiv_id)
    if existing is not None:
        if existing.removed:
            raise Conflict(f"{arxiv_id} was removed from today's feed by a curator")
        raise Conflict(f"{arxiv_id} is already in today's feed")
    paper = session.get(Paper, arxiv_id)
    if paper is None:
        record = fetch(arxiv_id)
        if record is None:
            raise NotFound(f"arXiv has no paper {arxiv_id}; check the id")
        upsert_records(session, [record])
        paper = session.get(Paper, arxiv_id)
        if paper is None:  # pragma: no cover - upsert just wrote it
            raise NotFound(f"arXiv has no paper {arxiv_id}")
    if paper.published_at is not None and now - paper.published_at > timedelta(days=max_age_days):
        raise InvalidInput(
            f"{arxiv_id} was first published on {paper.published_at:%Y-%m-%d}, more than {max_age_days} days ago; "
            f"only papers from the last {max_age_days} days can be submitted"
        )
    values = {
        "day": today,
        "arxiv_id": arxiv_id,
        "submitted_by": user.name,
        "submitter_id": user.id,
        "submitted_at": now,
        "picked": False,
        "pinned": False,
        "removed": False,
        "created_at": now,
    }
    if not repository.add_feed_entry(session, values):
        raise Conflict(f"{arxiv_id} is already in today's feed")
    entry = repository.feed_entry(session, today, arxiv_id)
    assert entry is not None
    return entry, paper


def curate(session: Session, user: User, day: date, arxiv_id: str, action: str) -> DailyEntry:
    """Curators pick, pin and remove papers of a day's feed (and undo each)."""
    if not user.is_curator:
        raise Forbidden("only curators can pick, pin or remove papers")
    if action not in CURATOR_ACTIONS:
        raise InvalidInput(f"action: one of {', '.join(CURATOR_ACTIONS)}")
    entry = repository.feed_entry(session, day, arxiv_id)
    if entry is None:
        raise NotFound(f"{arxiv_id} is not in the feed of {day.isoformat()}")
    column, value = CURATOR_ACTIONS[action]
    setattr(entry, column, value)
    session.flush()
    return entry


# Comments ----------------------------------------------------------------------------------------------


@dataclass
class Thread:
    """A top-level comment and its replies, as the paper page shows them."""

    comment: Comment
    author: User
    replies: list[tuple[Comment, User]] = field(default_factory=list)


def check_body(body: str) -> str:
    text = body.strip()
    if not text:
        raise InvalidInput("body: write something first")
    if len(text) > MAX_COMMENT:
        raise InvalidInput(f"body: at most {MAX_COMMENT} characters")
    return text


def add_comment(session: Session, user: User, arxiv_id: str, body: str, parent_id: int | None = None) -> Comment:
    """A comment, or a reply; a reply to a reply joins the top-level thread (one level of replies)."""
    text = check_body(body)
    if session.get(Paper, arxiv_id) is None:
        raise NotFound(f"no paper with arXiv id {arxiv_id} here")
    if parent_id is not None:
        parent = session.get(Comment, parent_id)
        if parent is None or parent.arxiv_id != arxiv_id:
            raise InvalidInput(f"parent: no comment {parent_id} on this paper")
        parent_id = parent.parent_id or parent.id
    comment = Comment(arxiv_id=arxiv_id, user_id=user.id, parent_id=parent_id, body=text, created_at=utcnow())
    session.add(comment)
    session.flush()
    repository.change_comment_count(session, arxiv_id, +1)
    return comment


def _own_comment(session: Session, user: User, comment_id: int) -> Comment:
    comment = session.get(Comment, comment_id)
    if comment is None or comment.deleted:
        raise NotFound(f"no comment {comment_id}")
    if comment.user_id != user.id:
        raise Forbidden("you can only change your own comments")
    return comment


def get_comment(session: Session, comment_id: int) -> Comment:
    comment = session.get(Comment, comment_id)
    if comment is None or comment.deleted:
        raise NotFound(f"no comment {comment_id}")
    return comment


def edit_comment(session: Session, user: User, comment_id: int, body: str) -> Comment:
    comment = _own_comment(session, user, comment_id)
    comment.body = check_body(body)
    comment.edited_at = utcnow()
    session.flush()
    return comment


def delete_comment(session: Session, user: User, comment_id: int) -> Comment:
    comment = _own_comment(session, user, comment_id)
    if comment.visible:
        repository.change_comment_count(session, comment.arxiv_id, -1)
    comment.deleted = True
    session.flush()
    return comment


def set_comment_hidden(session: Session, user: User, comment_id: int, hidden: bool) -> Comment:
    if not user.is_admin:
        raise Forbidden("only admins can hide comments")
    comment = get_comment(session, comment_id)
    if comment.hidden != hidden:
        repository.change_comment_count(session, comment.arxiv_id, -1 if hidden else +1)
        comment.hidden = hidden
        session.flush()
    return comment


def comment_threads(session: Session, arxiv_id: str) -> list[Thread]:
    """Threads oldest first; deleted comments stay only as placeholders for their replies."""
    threads: dict[int, Thread] = {}
    replies: list[tuple[Comment, User]] = []
    for comment, author in repository.paper_comments(session, arxiv_id):
        if comment.parent_id is None:
            threads[comment.id] = Thread(comment, author)
        elif not comment.deleted:
            replies.append((comment, author))
    for comment, author in replies:
        if comment.parent_id in threads:
            threads[comment.parent_id].replies.append((comment, author))
    return [t for t in threads.values() if not t.comment.deleted or t.replies]


# Profiles ----------------------------------------------------------------------------------------------


@dataclass
class Profile:
    user: User
    submitted: list[tuple[DailyEntry, Paper]]
    upvoted: list[Paper]
    comments: list[tuple[Comment, Paper]]


def profile(session: Session, user: User) -> Profile:
    return Profile(
        user,
        submitted=repository.submitted_entries(session, user.id, PROFILE_LIMIT),
        upvoted=repository.upvoted_papers(session, user.id, PROFILE_LIMIT),
        comments=repository.user_comments(session, user.id, PROFILE_LIMIT),
    )
