"""Transactional emails queued in the request's transaction and sent only after it commits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from email import message_from_string, policy
from email.message import EmailMessage

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import unit_of_work
from broadsheet.digest import repository
from broadsheet.digest.errors import PermanentSendError, TemporarySendError
from broadsheet.digest.sender import EmailSender
from broadsheet.models import OutboxEmail
from broadsheet.models.base import utcnow

log = logging.getLogger(__name__)


def queue_email(session: Session, message: EmailMessage) -> OutboxEmail:
    """Store a message in the outbox; it leaves only if this transaction commits."""
    row = OutboxEmail(recipient=str(message["To"]), message=message.as_string(policy=policy.SMTP))
    session.add(row)
    session.flush()
    return row


def flush_outbox(
    factory: sessionmaker[Session],
    make_sender: Callable[[], EmailSender],
    ids: Iterable[int] | None = None,
    *,
    older_than: timedelta | None = None,
) -> int:
    """Send queued emails (these ids, or all older than a delay); returns how many left."""
    with unit_of_work(factory) as session:
        created_before = utcnow() - older_than if older_than is not None else None
        pending = repository.unsent_outbox(session, ids, created_before)
    if not pending:
        return 0
    sender = make_sender()
    sent = 0
    try:
        for outbox_id in pending:
            with unit_of_work(factory) as session:
                row = session.get(OutboxEmail, outbox_id)
                if row is None or row.sent_at is not None:
                    continue
                text = row.message
            message = message_from_string(text, _class=EmailMessage, policy=policy.SMTP)
            error: str | None = None
            try:
                sender.send(message)  # type: ignore[arg-type]
            except (TemporarySendError, PermanentSendError) as failure:
                error = str(failure)
                log.warning("outbox email %s to %s not sent: %s", outbox_id, row.recipient, failure)
            with unit_of_work(factory) as session:
                _record(session, outbox_id, error, utcnow())
            sent += error is None
    finally:
        sender.close()
    return sent


def _record(session: Session, outbox_id: int, error: str | None, now: datetime) -> None:
    values: dict[str, object] = {"attempts": OutboxEmail.attempts + 1, "last_error": error}
    if error is None:
        values["sent_at"] = now
    session.execute(update(OutboxEmail).where(OutboxEmail.id == outbox_id).values(**values))
