"""Account rules: sign-up, sign-in with rate limits, server-side sessions, password change, API tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from broadsheet.community import repository
from broadsheet.community.security import hash_password, needs_rehash, new_token, token_hash, verify_password
from broadsheet.errors import BroadsheetError, Conflict, InvalidInput, NotFound, TooManyRequests
from broadsheet.models import ApiToken, User, UserSession
from broadsheet.models.base import utcnow
from broadsheet.models.community import ROLES
from broadsheet.settings import Settings

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,29}$")
EMAIL_PATTERN = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']{1,255}\.[^@\s<>\"']{1,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
RESERVED_NAMES = frozenset({"admin", "api", "login", "logout", "signup", "settings", "submit", "trending", "static"})
SIGN_IN_REFUSED = "Wrong email or password."


class SignInRefused(BroadsheetError):
    """Wrong password or unknown account: the same answer for both."""

    status = 401


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def check_email(raw: str) -> str:
    email = normalize_email(raw)
    if not EMAIL_PATTERN.match(email):
        raise InvalidInput("email: expected an address like name@example.org")
    return email


def check_name(raw: str) -> str:
    name = raw.strip()
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            "name: 2 to 30 letters, digits, '-' or '_', starting with a letter or digit "
            "(it appears in your profile URL)"
        )
    if name.lower() in RESERVED_NAMES:
        raise InvalidInput(f"name: {name!r} is reserved, choose another")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"password: at most {MAX_PASSWORD} characters")
    return password


def check_display_name(raw: str) -> str:
    text = " ".join(raw.split())
    if len(text) > 100:
        raise InvalidInput("display name: at most 100 characters")
    return text


def create_user(
    session: Session, *, email: str, name: str, password: str, display_name: str = "", role: str = "user"
) -> User:
    email, name = check_email(email), check_name(name)
    check_password(password)
    if role not in ROLES:
        raise InvalidInput(f"role: one of {', '.join(ROLES)}")
    name_taken, email_taken = repository.name_or_email_taken(session, name, email)
    if email_taken:
        raise Conflict("email: an account with this address already exists; sign in instead")
    if name_taken:
        raise Conflict(f"name: {name!r} is taken, choose another")
    user = User(
        email=email,
        name=name,
        display_name=check_display_name(display_name) or name,
        password_hash=hash_password(password),
        role=role,
    )
    session.add(user)
    session.flush()
    return user


def set_role(session: Session, user: User, role: str) -> User:
    if role not in ROLES:
        raise InvalidInput(f"role: one of {', '.join(ROLES)}")
    user.role = role
    session.flush()
    return user


def find_user(session: Session, name: str) -> User:
    user = repository.user_by_name(session, name)
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


@dataclass
class SignInResult:
    """A successful sign-in, or the refusal to show (which must be recorded, so it is not raised)."""

    user: User | None
    refusal: BroadsheetError | None = None


def sign_in(session: Session, settings: Settings, *, email: str, password: str, address: str) -> SignInResult:
    """Check the password under per-account and per-address limits; failures are recorded, not raised.

    The caller commits the unit of work either way, so the failure count holds across workers.
    """
    now = utcnow()
    account = normalize_email(email)[:320]
    since = now - timedelta(seconds=settings.login_window_s)
    by_account, by_address = repository.failed_attempts(session, account=account, address=address, since=since)
    if by_account >= settings.login_max_attempts or by_address >= settings.login_max_attempts:
        minutes = max(1, settings.login_window_s // 60)
        return SignInResult(None, TooManyRequests(f"Too many failed sign-ins; try again in {minutes} minutes."))
    user = repository.user_by_email(session, account)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        repository.record_failed_attempt(session, account=account, address=address, now=now)
        return SignInResult(None, SignInRefused(SIGN_IN_REFUSED))
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    repository.clear_attempts(session, account=account, before=since)
    return SignInResult(user)


def open_session(
    session: Session, settings: Settings, user: User, *, address: str | None, user_agent: str | None
) -> tuple[str, UserSession]:
    """A new server-side session; returns the raw token for the cookie (only its hash is stored)."""
    token = new_token()
    now = utcnow()
    row = UserSession(
        user_id=user.id,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + timedelta(days=settings.session_days),
        address=(address or "")[:64] or None,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(row)
    session.flush()
    return token, row


def close_session(session: Session, token: str) -> None:
    repository.revoke_session(session, token_hash(token), utcnow())


def session_user(session: Session, token: str) -> tuple[UserSession, User] | None:
    return repository.active_session(session, token_hash(token), utcnow())


def token_user(session: Session, token: str) -> tuple[ApiToken, User] | None:
    found = repository.active_token(session, token_hash(token))
    if found is not None:
        row, _ = found
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > timedelta(hours=1):
            row.last_used_at = now
    return found


def change_password(session: Session, user: User, *, current: str, new: str, keep_session_id: int | None) -> int:
    """Set a new password and sign out every other session; returns how many were signed out."""
    if not verify_password(user.password_hash, current):
        raise InvalidInput("current password: that is not your current password")
    check_password(new)
    now = utcnow()
    user.password_hash = hash_password(new)
    user.password_changed_at = now
    return repository.revoke_user_sessions(session, user.id, now, except_id=keep_session_id)


def sign_out_everywhere(session: Session, user: User) -> int:
    return repository.revoke_user_sessions(session, user.id, utcnow())


def create_api_token(session: Session, user: User, label: str) -> tuple[str, ApiToken]:
    """A new personal API token; the raw value is shown once and only its hash is kept."""
    label = " ".join(label.split())[:100] or "API token"
    raw = new_token("bs_")
    row = ApiToken(user_id=user.id, token_hash=token_hash(raw), label=label)
    session.add(row)
    session.flush()
    return raw, row


def revoke_api_token(session: Session, user: User, token_id: int) -> None:
    if not repository.revoke_token(session, user.id, token_id, utcnow()):
        raise NotFound(f"no active API token {token_id} of yours")


def api_tokens(session: Session, user: User) -> list[ApiToken]:
    return repository.user_tokens(session, user.id)


def now_utc() -> datetime:
    return utcnow()
