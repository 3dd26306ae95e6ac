"""Background work of digests: the scheduler inside `serve` and the one way a run is assembled."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.digest.delivery import DigestRunner, Progress, RunReport
from broadsheet.digest.errors import RunInProgress
from broadsheet.digest.outbox import flush_outbox
from broadsheet.digest.render import DigestMail
from broadsheet.digest.selection import DigestPeriod, Frequency, PaperSearch
from broadsheet.digest.sender import EmailSender, make_sender
from broadsheet.settings import Settings

log = logging.getLogger(__name__)


def send_digests(
    settings: Settings,
    factory: sessionmaker[Session],
    frequency: Frequency,
    end: date,
    *,
    search: PaperSearch | None = None,
    sender: EmailSender | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> RunReport:
    """Send (or with dry_run, only compose) the digests of the period ending on `end`."""
    runner = DigestRunner(
        factory,
        DigestMail(settings),
        (lambda: sender) if sender is not None else (lambda: make_sender(settings)),
        search,
        connections=1 if sender is not None else settings.digest_smtp_connections,
        retry_attempts=settings.digest_retry_attempts,
        retry_base_s=settings.digest_retry_base_s,
        failure_threshold=settings.digest_failure_threshold,
    )
    return runner.run(DigestPeriod(frequency, end), dry_run=dry_run, progress=progress)


def _scheduled_send(app: FastAPI, frequency: Frequency) -> None:
    settings: Settings = app.state.settings
    today = datetime.now(UTC).date()
    search = getattr(app.state, "search", None)
    ready = getattr(search, "ready", None)
    if ready is not None and not ready.wait(timeout=1800):  # personal digests need the built index
        log.error("digest run %s skipped: the search index is still being built", frequency)
        return
    try:
        report = send_digests(settings, app.state.session_factory, frequency, today, search=search)
        log.info("digest run %s: %s", report.period, report.as_json())
    except RunInProgress as busy:
        log.info("digest run skipped: %s", busy.message)
    except Exception:  # a scheduled job must log, never kill the scheduler
        log.exception("digest run %s failed", frequency)


def _scheduled_outbox(app: FastAPI) -> None:
    try:
        flush_outbox(app.state.session_factory, app.state.digest_sender_factory, older_than=timedelta(minutes=2))
    except Exception:
        log.exception("outbox flush failed")


def start_scheduler(app: FastAPI) -> None:
    """APScheduler 3 in a background thread: daily digests Mon–Fri, weekly on Sunday, outbox every minute."""
    settings: Settings = app.state.settings
    if not settings.scheduler_enabled:
        return
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler = BackgroundScheduler(timezone=UTC)
    options: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 3600}
    hour = settings.digest_send_hour
    scheduler.add_job(
        _scheduled_send,
        CronTrigger(day_of_week="mon-fri", hour=hour, timezone=UTC),
        args=[app, "daily"],
        id="digest-daily",
        **options,
    )
    scheduler.add_job(
        _scheduled_send,
        CronTrigger(day_of_week="sun", hour=hour, timezone=UTC),
        args=[app, "weekly"],
        id="digest-weekly",
        **options,
    )
    scheduler.add_job(_scheduled_outbox, IntervalTrigger(minutes=1), args=[app], id="digest-outbox", **options)
    scheduler.start()
    app.state.digest_scheduler = scheduler


def stop_scheduler(app: FastAPI) -> None:
    scheduler = getattr(app.state, "digest_scheduler", None)
    if scheduler is not None:
        scheduler.shutdown(wait=False)
        app.state.digest_scheduler = None


def install(app: FastAPI) -> None:
    """Wire digests into the app: the mailer, the sender, the CSRF exemption and the scheduler."""
    settings: Settings = app.state.settings
    app.state.digest_mail = DigestMail(settings)
    sender_factory: Callable[[], EmailSender] = lambda: make_sender(settings)  # noqa: E731
    app.state.digest_sender_factory = sender_factory
    exempt = set(getattr(app.state, "csrf_exempt_paths", ()))
    app.state.csrf_exempt_paths = frozenset(exempt | {"/digest/unsubscribe"})
    app.state.startup_jobs.append(start_scheduler)
    app.state.shutdown_jobs.append(stop_scheduler)
