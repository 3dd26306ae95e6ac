"""Rules of subscriptions: double opt-in, no duplicates, no leaks, signed links, preferences."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from broadsheet.digest import repository
from broadsheet.digest.errors import BadToken, InvalidSubscription
from broadsheet.digest.outbox import queue_email
from broadsheet.digest.render import DigestMail, Recipient
from broadsheet.digest.tokens import Purpose
from broadsheet.models import DigestSubscription
from broadsheet.models.base import utcnow
from broadsheet.sources.records import is_arxiv_category

EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
KINDS = ("trending", "personal")
FREQUENCIES = ("daily", "weekly")
MAX_PAPERS = 50
# A second confirmation or "already subscribed" email to the same address waits this long.
RESEND_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class Preferences:
    """What a subscriber wants: how often, which kind of digest, the query, and how many papers."""

    frequency: str = "daily"
    kind: str = "trending"
    keywords: str = ""
    categories: list[str] = field(default_factory=list)
    saved_search: str = ""
    max_papers: int = 10

    def as_json(self) -> dict[str, Any]:
        return {
            "frequency": self.frequency,
            "kind": self.kind,
            "keywords": self.keywords,
            "categories": self.categories,
            "saved_search": self.saved_search,
            "max_papers": self.max_papers,
        }


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if len(email) > 320 or not EMAIL.match(email):
        raise InvalidSubscription(f"email: expected an address like name@example.org, got {raw.strip()[:80]!r}")
    return email


def parse_preferences(
    *,
    frequency: str = "daily",
    kind: str = "trending",
    keywords: str = "",
    categories: str | list[str] = "",
    saved_search: str = "",
    max_papers: int | str = 10,
) -> Preferences:
    """Checked preferences, or InvalidSubscription naming the field and what it expects."""
    if frequency not in FREQUENCIES:
        raise InvalidSubscription(f"frequency: expected daily or weekly, got {frequency!r}")
    if kind not in KINDS:
        raise InvalidSubscription(f"kind: expected trending or personal, got {kind!r}")
    try:
        count = int(max_papers)
    except (TypeError, ValueError):
        raise InvalidSubscription(f"max_papers: expected a whole number, got {max_papers!r}") from None
    if not 1 <= count <= MAX_PAPERS:
        raise InvalidSubscription(f"max_papers: expected 1 to {MAX_PAPERS}, got {count}")
    items = categories if isinstance(categories, list) else re.split(r"[\s,]+", categories)
    cats = list(dict.fromkeys(item.strip() for item in items if item.strip()))
    bad = [cat for cat in cats if not is_arxiv_category(cat)]
    if bad or len(cats) > 20:
        raise InvalidSubscription(f"categories: expected arXiv categories like cs.CL, got {', '.join(bad[:3])!r}")
    keywords, saved_search = keywords.strip()[:500], saved_search.strip()[:500]
    if kind == "personal" and not (keywords or saved_search or cats):
        raise InvalidSubscription("keywords: a personal digest needs keywords, categories or a saved search")
    return Preferences(frequency, kind, keywords, cats, saved_search, count)


def _apply(subscription: DigestSubscription, preferences: Preferences, now: datetime) -> None:
    subscription.frequency = preferences.frequency
    subscription.kind = preferences.kind
    subscription.keywords = preferences.keywords
    subscription.categories = list(preferences.categories)
    subscription.saved_search = preferences.saved_search
    subscription.max_papers = preferences.max_papers
    subscription.updated_at = now


def preferences_of(subscription: DigestSubscription) -> Preferences:
    return Preferences(
        subscription.frequency,
        subscription.kind,
        subscription.keywords,
        list(subscription.categories or []),
        subscription.saved_search,
        subscription.max_papers,
    )


def _may_email(subscription: DigestSubscription, now: datetime) -> bool:
    last = subscription.confirm_sent_at
    return last is None or now - last >= RESEND_AFTER


def subscribe(
    session: Session,
    mail: DigestMail,
    raw_email: str,
    preferences: Preferences,
    *,
    user_id: int | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Start (or restart) a double opt-in; the outcome looks the same whether the address was known or not.

    Returns the ids of outbox emails queued in this transaction, to send after commit.
    """
    now = now or utcnow()
    email = normalize_email(raw_email)
    subscription = repository.subscription_by_email(session, email)
    if subscription is None:
        subscription = DigestSubscription(
            email=email,
            status="pending",
            token_nonce=secrets.token_hex(8),
            user_id=user_id,
            failure_count=0,
            created_at=now,
        )
        _apply(subscription, preferences, now)
        session.add(subscription)
        session.flush()
    elif not _may_email(subscription, now):
        return []
    elif subscription.status in ("active", "paused"):
        # Someone else may be typing this address: never change a live subscription from here.
        subscription.confirm_sent_at = now
        return [queue_email(session, mail.already_subscribed(Recipient.of(subscription))).id]
    else:
        subscription.status = "pending"
        subscription.user_id = subscription.user_id or user_id
        _apply(subscription, preferences, now)
    subscription.confirm_sent_at = now
    return [queue_email(session, mail.confirmation(Recipient.of(subscription))).id]


def subscription_for_token(session: Session, mail: DigestMail, purpose: Purpose, token: str) -> DigestSubscription:
    """The subscription a signed link names, checked against its address and nonce."""
    max_age = mail.settings.digest_confirm_hours * 3600 if purpose == "confirm" else None
    claims = mail.tokens.read(purpose, token, max_age_s=max_age)
    subscription = repository.subscription_by_id(session, claims.subscription_id)
    if subscription is None or subscription.email != claims.email or subscription.token_nonce != claims.nonce:
        raise BadToken("This link does not match any subscription.")
    return subscription


def confirm(session: Session, mail: DigestMail, token: str, now: datetime | None = None) -> DigestSubscription:
    subscription = subscription_for_token(session, mail, "confirm", token)
    if subscription.status == "unsubscribed":
        raise BadToken("This subscription was cancelled since the link was sent. Subscribe again to restart it.")
    if subscription.status == "pending":
        subscription.status = "active"
        subscription.confirmed_at = now or utcnow()
        subscription.updated_at = subscription.confirmed_at
    return subscription


def unsubscribe(session: Session, mail: DigestMail, token: str, now: datetime | None = None) -> DigestSubscription:
    return cancel(subscription_for_token(session, mail, "unsubscribe", token), now)


def update_preferences(
    session: Session,
    subscription: DigestSubscription,
    preferences: Preferences,
    *,
    activate: bool,
    now: datetime | None = None,
) -> DigestSubscription:
    """Save preferences; with `activate` (a signed manage link) this also restarts a paused or cancelled one.

    Holding a link mailed to the address proves control of it, so no second confirmation is needed.
    The account page does not activate: an account's address may never have been confirmed.
    """
    now = now or utcnow()
    _apply(subscription, preferences, now)
    if activate and subscription.status != "active":
        subscription.status = "active"
        subscription.confirmed_at = subscription.confirmed_at or now
        subscription.failure_count = 0
        subscription.paused_at = None
    return subscription


def cancel(subscription: DigestSubscription, now: datetime | None = None) -> DigestSubscription:
    if subscription.status != "unsubscribed":
        subscription.status = "unsubscribed"
        subscription.unsubscribed_at = now or utcnow()
        subscription.updated_at = subscription.unsubscribed_at
    return subscription


def choices() -> dict[str, Any]:
    """The options the preference forms offer."""
    return {"frequencies": list(FREQUENCIES), "kinds": list(KINDS), "max_papers": MAX_PAPERS}


def subscription_json(subscription: DigestSubscription) -> dict[str, Any]:
    return {
        "email": subscription.email,
        "status": subscription.status,
        **preferences_of(subscription).as_json(),
    }
