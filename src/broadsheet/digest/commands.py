"""`broadsheet digest …`: send a period's digests by hand (with a progress bar) and flush the outbox."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer

from broadsheet.digest.errors import RunInProgress
from broadsheet.digest.selection import PaperSearch, parse_frequency
from broadsheet.errors import BroadsheetError

digest_app = typer.Typer(help="Email digests: send a period by hand, flush queued emails.", no_args_is_help=True)
log = logging.getLogger(__name__)


def load_search(settings: Any, factory: Any) -> PaperSearch:
    """The search service for personal digests, its index loaded or built on first use (the CLI has no background
    build)."""
    from broadsheet.search.service import SearchService

    return _IndexedOnFirstUse(SearchService(settings, factory))


class _IndexedOnFirstUse:
    """Builds the search index only if a personal digest asks for it."""

    def __init__(self, service: Any) -> None:
        self._service = service

    def search(self, query: str, **filters: Any) -> Any:
        if not self._service.ready.is_set():
            # The index `serve` saved, caught up below; with none saved, it is built (and saved for `serve`).
            restored = self._service.restore_or_build()
            log.info("%s the search index for personal digests", "updated" if restored else "built")
            self._service.sync()
            self._service.ready.set()
        return self._service.search(query, **filters)


@digest_app.command("send")
def send(
    period: Annotated[str, typer.Option(help="daily (weekdays) or weekly.")] = "daily",
    on: Annotated[
        str | None, typer.Option("--date", help="Last day of the period, YYYY-MM-DD (default: today, UTC).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Choose papers and render, send nothing.")] = False,
) -> None:
    """Send the digests of one period; run it again after a crash and it finishes, sending nothing twice."""
    from broadsheet.cli import console, load_settings, progress_bar, session_factory
    from broadsheet.digest.tasks import send_digests

    settings = load_settings()
    try:
        frequency = parse_frequency(period)
        end = date.fromisoformat(on) if on else datetime.now(UTC).date()
    except (BroadsheetError, ValueError) as error:
        console.print(f"[red]{getattr(error, 'message', error)}[/red]")
        raise typer.Exit(2) from None
    factory = session_factory(settings)
    search = load_search(settings, factory)
    with progress_bar(f"{frequency} digests ending {end}", None) as progress:
        task = progress.tasks[0].id

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            report = send_digests(settings, factory, frequency, end, search=search, dry_run=dry_run, progress=advance)
        except RunInProgress as busy:
            console.print(f"[yellow]{busy.message}[/yellow]")
            raise typer.Exit(1) from None
        except BroadsheetError as error:
            console.print(f"[red]{error.message}[/red]")
            raise typer.Exit(1) from None
    for line in report.errors:
        console.print(f"[red]{line}[/red]")
    typer.echo(json.dumps(report.as_json()))
    if report.errors:
        raise typer.Exit(1)


@digest_app.command("outbox")
def outbox() -> None:
    """Send confirmation emails still waiting in the outbox (the scheduler does this every minute)."""
    from broadsheet.cli import console, load_settings, session_factory
    from broadsheet.digest.outbox import flush_outbox
    from broadsheet.digest.sender import make_sender

    settings = load_settings()
    sent = flush_outbox(session_factory(settings), lambda: make_sender(settings))
    console.print(f"sent {sent} queued email(s)")
