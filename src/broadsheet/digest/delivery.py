"""Sending one period's digests exactly once: claim in a transaction, send after commit, record each send."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import unit_of_work
from broadsheet.digest import repository
from broadsheet.digest.errors import PermanentSendError, RunInProgress, TemporarySendError
from broadsheet.digest.render import DigestMail, Recipient
from broadsheet.digest.selection import DigestPeriod, PaperPicker, PaperSearch, SearchUnavailable
from broadsheet.digest.sender import EmailSender, send_with_retries
from broadsheet.models import DigestDelivery, DigestRun, DigestSubscription
from broadsheet.models.base import utcnow
from broadsheet.papers.schemas import daily_item_json

log = logging.getLogger(__name__)
BATCH = 200
# A run whose owner has not written a heartbeat for this long is taken to be dead.
STALE_AFTER = timedelta(minutes=5)
Progress = Callable[[int, int], None]


@dataclass
class RunReport:
    """What one run did; `deferred` digests stay claimed and go out on the next run."""

    period: str
    due: int = 0
    sent: int = 0
    resent_after_crash: int = 0
    empty: int = 0
    failed: int = 0
    paused: int = 0
    already_done: int = 0
    deferred: int = 0
    dry_run: bool = False
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Job:
    """One digest to send, fixed in the claim transaction so a re-send has the same papers."""

    delivery_id: int
    recipient: Recipient
    paper_ids: list[str]
    items: list[dict[str, Any]]
    message_id: str
    resumed: bool


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _is_alive(run: DigestRun, now: datetime) -> bool:
    if run.finished_at is not None or now - run.heartbeat_at > STALE_AFTER:
        return False
    host, pid, _ = (run.owner.split(":") + ["", "", ""])[:3]
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def acquire_run(factory: sessionmaker[Session], period_key: str, owner: str) -> None:
    """Become the only sender of a period; a dead owner's run is taken over, a live one refuses."""
    now = utcnow()
    try:
        with unit_of_work(factory) as session:
            run = repository.run_of(session, period_key)
            if run is None:
                session.add(DigestRun(period_key=period_key, owner=owner, started_at=now, heartbeat_at=now))
                return
            if _is_alive(run, now):
                raise RunInProgress(f"digests for {period_key} are being sent by {run.owner}")
            if not repository.take_over_run(session, period_key, run.owner, owner, now):
                raise RunInProgress(f"another process took over digests for {period_key}")
    except IntegrityError:
        raise RunInProgress(f"another process started digests for {period_key}") from None


def release_run(factory: sessionmaker[Session], report: RunReport, owner: str, finished: bool) -> None:
    with unit_of_work(factory) as session:
        if finished:
            repository.finish_run(
                session, report.period, owner, utcnow(), sent=report.sent, empty=report.empty, failed=report.failed
            )
        else:  # leave it claimable at once by the next run
            session.execute(
                update(DigestRun)
                .where(DigestRun.period_key == report.period, DigestRun.owner == owner)
                .values(heartbeat_at=utcnow() - STALE_AFTER * 2)
            )


class DigestRunner:
    """Sends the digests of one period; re-running after a crash resumes where it stopped."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        mail: DigestMail,
        sender_factory: Callable[[], EmailSender],
        search: PaperSearch | None,
        *,
        connections: int = 1,
        retry_attempts: int = 4,
        retry_base_s: float = 2.0,
        failure_threshold: int = 3,
    ) -> None:
        self.factory = factory
        self.mail = mail
        self.sender_factory = sender_factory
        self.connections = max(1, connections)
        self.search = search
        self._local = threading.local()
        self._senders: list[EmailSender] = []
        self._senders_lock = threading.Lock()
        self.retry_attempts = retry_attempts
        self.retry_base_s = retry_base_s
        self.failure_threshold = failure_threshold

    def run(self, period: DigestPeriod, *, dry_run: bool = False, progress: Progress | None = None) -> RunReport:
        started = time.perf_counter()
        report = RunReport(period=period.key, dry_run=dry_run)
        owner = _owner()
        if not dry_run:
            acquire_run(self.factory, period.key, owner)
        finished = False
        pool: ThreadPoolExecutor | None = None
        try:
            with unit_of_work(self.factory) as session:
                report.due = repository.count_due(session, period.frequency)
            if progress:
                progress(0, report.due)
            picker = PaperPicker(period, self.search)
            pool = ThreadPoolExecutor(self.connections, thread_name_prefix="digest-smtp")
            cursor, done = 0, 0
            while True:
                with unit_of_work(self.factory) as session:
                    subscriptions = repository.due_subscriptions(session, period.frequency, cursor, BATCH)
                    if not subscriptions:
                        break
                    cursor = subscriptions[-1].id
                    jobs = self._claim(session, period, subscriptions, picker, report, dry_run)
                    if not dry_run:
                        repository.heartbeat(session, period.key, owner, utcnow())
                done += len(subscriptions) - len(jobs)
                done = self._deliver_all(pool, jobs, period, report, dry_run, done, progress)
                if progress:
                    progress(done, report.due)
            finished = True
        except TemporarySendError as error:
            report.errors.append(f"stopped: the mail server keeps failing ({error}); run again to finish")
            log.error("digest run %s stopped: %s", period.key, error)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
            for sender in self._senders:
                sender.close()
            if not dry_run:
                release_run(self.factory, report, owner, finished)
            report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _claim(
        self,
        session: Session,
        period: DigestPeriod,
        subscriptions: Any,
        picker: PaperPicker,
        report: RunReport,
        dry_run: bool,
    ) -> list[Job]:
        """Choose and record each subscriber's papers; commits before anything is sent."""
        ids = [subscription.id for subscription in subscriptions]
        existing = repository.deliveries_for(session, period.key, ids)
        already_sent = repository.sent_papers(session, ids)
        planned: list[tuple[DigestSubscription, DigestDelivery | None, list[str], bool]] = []
        for subscription in subscriptions:
            delivery = existing.get(subscription.id)
            if delivery is not None and delivery.status != "claimed":
                report.already_done += 1
                continue
            if delivery is not None:  # claimed by a run that died: send the same papers again
                planned.append((subscription, delivery, list(delivery.paper_ids), True))
                continue
            try:
                paper_ids = picker.pick(session, subscription, already_sent[subscription.id])
            except SearchUnavailable as error:  # left unclaimed: a run with search sends it
                report.deferred += 1
                if error.message not in report.errors:
                    report.errors.append(error.message)
                continue
            if not paper_ids:
                report.empty += 1
                if not dry_run:
                    session.add(self._delivery(subscription, period, "empty", []))
                continue
            planned.append((subscription, None, paper_ids, False))
        papers = repository.papers_by_id(session, (a for _, _, chosen, _ in planned for a in chosen))
        entries = repository.feed_entries_of(session, list(papers))
        rows: list[DigestDelivery | None] = []
        for subscription, delivery, paper_ids, _ in planned:
            if delivery is None and not dry_run:
                delivery = self._delivery(subscription, period, "claimed", paper_ids)
                session.add(delivery)
            rows.append(delivery)
        session.flush()  # gives the new deliveries their ids; they commit before anything is sent
        jobs: list[Job] = []
        for (subscription, _, paper_ids, resumed), delivery in zip(planned, rows, strict=True):
            recipient = Recipient.of(subscription)
            items = [daily_item_json(entries.get(a), papers[a]) for a in paper_ids if a in papers]
            message_id = self.mail.message_id(recipient, period)
            jobs.append(Job(delivery.id if delivery else 0, recipient, paper_ids, items, message_id, resumed))
        return jobs

    def _delivery(
        self, subscription: DigestSubscription, period: DigestPeriod, status: str, paper_ids: list[str]
    ) -> DigestDelivery:
        recipient = Recipient.of(subscription)
        return DigestDelivery(
            subscription_id=subscription.id,
            period_key=period.key,
            status=status,
            paper_ids=paper_ids,
            message_id=self.mail.message_id(recipient, period),
            attempts=0,
            claimed_at=utcnow(),
        )

    def _sender(self) -> EmailSender:
        """One SMTP connection per sending thread."""
        sender: EmailSender | None = getattr(self._local, "sender", None)
        if sender is None:
            sender = self.sender_factory()
            self._local.sender = sender
            with self._senders_lock:
                self._senders.append(sender)
        return sender

    def _transmit(self, job: Job, period: DigestPeriod, dry_run: bool) -> str:
        """Render, send and record one digest in a sending thread; returns "sent", "failed" or "paused".

        The outcome is committed right after the server answers, before this connection takes the next
        digest, so a killed run can only repeat the digests that were on the wire at that instant (at
        most one per connection), and those carry the same Message-ID for the receiver to drop.
        """
        message = self.mail.digest(job.recipient, period, job.items, job.message_id)
        if dry_run:
            return "sent"
        try:
            send_with_retries(self._sender(), message, self.retry_attempts, self.retry_base_s)
        except PermanentSendError as error:
            return self._record_failure(job, error)
        with unit_of_work(self.factory) as session:
            repository.mark_sent(session, job.delivery_id, job.recipient.id, job.paper_ids, utcnow())
        return "sent"

    def _deliver_all(
        self,
        pool: ThreadPoolExecutor,
        jobs: list[Job],
        period: DigestPeriod,
        report: RunReport,
        dry_run: bool,
        done: int,
        progress: Progress | None,
    ) -> int:
        """Send a batch over the connections, counting outcomes as they come."""
        stop: TemporarySendError | None = None
        if self.connections == 1:  # in this thread: one digest at a time, nothing in flight between them
            outcomes: Iterable[tuple[Job, Callable[[], str]]] = (
                (job, functools.partial(self._transmit, job, period, dry_run)) for job in jobs
            )
        else:
            futures = {pool.submit(self._transmit, job, period, dry_run): job for job in jobs}
            outcomes = ((futures[future], future.result) for future in as_completed(futures))
        for job, outcome in outcomes:
            try:
                result = outcome()
            except TemporarySendError as error:
                stop = stop or error  # the digest stays claimed: the next run sends it
                report.deferred += 1
                if self.connections == 1:
                    break
                continue
            if result == "sent":
                report.sent += 1
                report.resent_after_crash += job.resumed
            else:
                report.failed += 1
                report.paused += result == "paused"
            done += 1
            if progress:
                progress(done, report.due)
        if stop is not None:
            raise stop
        return done

    def _record_failure(self, job: Job, error: PermanentSendError) -> str:
        outcome = "failed"
        with unit_of_work(self.factory) as session:
            session.execute(
                update(DigestDelivery)
                .where(DigestDelivery.id == job.delivery_id)
                .values(status="failed", error=str(error)[:1000], attempts=DigestDelivery.attempts + 1)
            )
            subscription = session.get(DigestSubscription, job.recipient.id)
            if subscription is None:
                return outcome
            subscription.failure_count += 1
            subscription.last_failure = str(error)[:1000]
            if subscription.failure_count >= self.failure_threshold and subscription.status == "active":
                subscription.status = "paused"
                subscription.paused_at = utcnow()
                outcome = "paused"
        log.warning("digest to %s refused for good: %s", job.recipient.email, error)
        return outcome
