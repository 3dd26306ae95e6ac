"""SQL for the community: users, sessions, tokens, sign-in attempts, votes, comments and submissions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import CursorResult, Insert, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from broadsheet.models import ApiToken, Comment, DailyEntry, LoginAttempt, Paper, User, UserSession, Vote


def _insert_ignoring_conflicts(session: Session, table: Any, values: dict[str, Any]) -> int:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id on SQLite and PostgreSQL; rows inserted (0 or 1).

    RETURNING, not rowcount: psycopg reports -1 for an ORM-enabled insert that skipped its row.
    """
    dialect = session.get_bind().dialect.name
    statement: Insert
    if dialect == "postgresql":
        statement = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    inserted = session.execute(statement.returning(table.id)).first()
    return 0 if inserted is None else 1


def _rowcount(result: Any) -> int:
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


# Users -------------------------------------------------------------------------------------------------


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email))


def user_by_name(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.name) == name.lower()))


def name_or_email_taken(session: Session, name: str, email: str) -> tuple[bool, bool]:
    name_taken = session.scalar(select(func.count()).where(func.lower(User.name) == name.lower())) or 0
    email_taken = session.scalar(select(func.count()).where(User.email == email)) or 0
    return bool(name_taken), bool(email_taken)


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


# Sessions and tokens -----------------------------------------------------------------------------------


def active_session(session: Session, hashed: str, now: datetime) -> tuple[UserSession, User] | None:
    query = (
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == hashed, UserSession.revoked_at.is_(None), UserSession.expires_at > now)
    )
    row = session.execute(query).first()
    return (row[0], row[1]) if row else None


def revoke_session(session: Session, hashed: str, now: datetime) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.token_hash == hashed, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_user_sessions(session: Session, user_id: int, now: datetime, *, except_id: int | None = None) -> int:
    query = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if except_id is not None:
        query = query.where(UserSession.id != except_id)
    return _rowcount(session.execute(query.values(revoked_at=now)))


def active_token(session: Session, hashed: str) -> tuple[ApiToken, User] | None:
    query = (
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hashed, ApiToken.revoked_at.is_(None))
    )
    row = session.execute(query).first()
    return (row[0], row[1]) if row else None


def user_tokens(session: Session, user_id: int) -> list[ApiToken]:
    query = (
        select(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at.desc())
    )
    return list(session.scalars(query))


def revoke_token(session: Session, user_id: int, token_id: int, now: datetime) -> int:
    query = update(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    return _rowcount(session.execute(query.values(revoked_at=now)))


# Sign-in attempts --------------------------------------------------------------------------------------


def failed_attempts(session: Session, *, account: str, address: str, since: datetime) -> tuple[int, int]:
    by_account = select(func.count()).where(LoginAttempt.account == account, LoginAttempt.created_at > since)
    by_address = select(func.count()).where(LoginAttempt.address == address, LoginAttempt.created_at > since)
    return session.scalar(by_account) or 0, session.scalar(by_address) or 0


def record_failed_attempt(session: Session, *, account: str, address: str, now: datetime) -> None:
    session.add(LoginAttempt(account=account, address=address, created_at=now))
    session.flush()


def clear_attempts(session: Session, *, account: str, before: datetime) -> None:
    """Forget an account's failures after a successful sign-in, and everyone's expired ones."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.account == account))
    session.execute(delete(LoginAttempt).where(LoginAttempt.created_at < before))


# Votes -------------------------------------------------------------------------------------------------


def add_vote(session: Session, user_id: int, arxiv_id: str, now: datetime) -> bool:
    """Insert the vote row and bump the paper's count in this transaction; False when it already existed."""
    inserted = _insert_ignoring_conflicts(session, Vote, {"user_id": user_id, "arxiv_id": arxiv_id, "created_at": now})
    if inserted:
        session.execute(update(Paper).where(Paper.arxiv_id == arxiv_id).values(vote_count=Paper.vote_count + 1))
    return bool(inserted)


def remove_vote(session: Session, user_id: int, arxiv_id: str) -> bool:
    deleted = _rowcount(session.execute(delete(Vote).where(Vote.user_id == user_id, Vote.arxiv_id == arxiv_id)))
    if deleted:
        session.execute(update(Paper).where(Paper.arxiv_id == arxiv_id).values(vote_count=Paper.vote_count - deleted))
    return bool(deleted)


def has_voted(session: Session, user_id: int, arxiv_id: str) -> bool:
    return session.scalar(select(Vote.id).where(Vote.user_id == user_id, Vote.arxiv_id == arxiv_id)) is not None


def voted_ids(session: Session, user_id: int) -> set[str]:
    return set(session.scalars(select(Vote.arxiv_id).where(Vote.user_id == user_id)))


def upvotes_of(session: Session, arxiv_id: str) -> int | None:
    return session.scalar(select(Paper.imported_upvotes + Paper.vote_count).where(Paper.arxiv_id == arxiv_id))


def upvoted_papers(session: Session, user_id: int, limit: int) -> list[Paper]:
    query = (
        select(Paper)
        .join(Vote, Vote.arxiv_id == Paper.arxiv_id)
        .where(Vote.user_id == user_id)
        .order_by(Vote.created_at.desc(), Vote.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


# Submissions and curation ------------------------------------------------------------------------------


def feed_entry(session: Session, day: date, arxiv_id: str) -> DailyEntry | None:
    return session.scalar(select(DailyEntry).where(DailyEntry.day == day, DailyEntry.arxiv_id == arxiv_id))


def add_feed_entry(session: Session, values: dict[str, Any]) -> bool:
    return bool(_insert_ignoring_conflicts(session, DailyEntry, values))


def submitted_entries(session: Session, user_id: int, limit: int) -> list[tuple[DailyEntry, Paper]]:
    query = (
        select(DailyEntry, Paper)
        .join(Paper, Paper.arxiv_id == DailyEntry.arxiv_id)
        .where(DailyEntry.submitter_id == user_id)
        .order_by(DailyEntry.day.desc(), DailyEntry.id.desc())
        .limit(limit)
    )
    return [(entry, paper) for entry, paper in session.execute(query)]


# Comments ----------------------------------------------------------------------------------------------


def paper_comments(session: Session, arxiv_id: str) -> list[tuple[Comment, User]]:
    query = (
        select(Comment, User)
        .join(User, User.id == Comment.user_id)
        .where(Comment.arxiv_id == arxiv_id)
        .order_by(Comment.created_at, Comment.id)
    )
    return [(comment, user) for comment, user in session.execute(query)]


def user_comments(session: Session, user_id: int, limit: int) -> list[tuple[Comment, Paper]]:
    query = (
        select(Comment, Paper)
        .join(Paper, Paper.arxiv_id == Comment.arxiv_id)
        .where(Comment.user_id == user_id, Comment.deleted.is_(False), Comment.hidden.is_(False))
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(limit)
    )
    return [(comment, paper) for comment, paper in session.execute(query)]


def change_comment_count(session: Session, arxiv_id: str, delta: int) -> None:
    session.execute(update(Paper).where(Paper.arxiv_id == arxiv_id).values(comment_count=Paper.comment_count + delta))


def users_by_id(session: Session, ids: Sequence[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {user.id: user for user in session.scalars(select(User).where(User.id.in_(list(ids))))}
