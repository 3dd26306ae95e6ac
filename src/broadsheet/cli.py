"""The `broadsheet` command: set up, import, harvest, index, benchmark and serve."""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import make_engine, make_session_factory, migrate
from broadsheet.papers.ingest import ImportReport, import_items
from broadsheet.search.service import SearchService
from broadsheet.settings import Settings
from broadsheet.sources.http import HttpSettings, PoliteClient
from broadsheet.sources.records import SourceItem

app = typer.Typer(help="Broadsheet: a self-hosted daily papers site.", no_args_is_help=True)
import_app = typer.Typer(help="Import papers from files.", no_args_is_help=True)
harvest_app = typer.Typer(help="Harvest papers from arXiv over the network.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(harvest_app, name="harvest")
console = Console(stderr=True)
T = TypeVar("T")


def load_settings() -> Settings:
    try:
        return Settings()
    except ValueError as error:
        console.print(f"[red]Settings refused:[/red] {error}")
        raise typer.Exit(2) from None


def session_factory(settings: Settings) -> sessionmaker[Session]:
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    return make_session_factory(engine)


def progress_bar(description: str, total: int | None = None) -> Progress:
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    progress = Progress(*columns, console=console, transient=False)
    progress.add_task(description, total=total)
    return progress


def counted(items: Iterable[T], progress: Progress) -> Iterator[T]:
    task = progress.tasks[0].id
    for item in items:
        progress.advance(task)
        yield item


def print_report(report: ImportReport, label: str) -> None:
    console.print(
        f"{label}: read {report.read}, new {report.inserted}, updated {report.updated}, "
        f"unchanged {report.unchanged}, daily entries added {report.daily_added}, "
        f"deleted records seen {report.deleted_seen}, problems {report.problem_count}"
    )
    for problem in report.problems[:20]:
        console.print(f"  [yellow]skipped[/yellow] {problem.location} {problem.arxiv_id or ''}: {problem.reason}")
    if report.problem_count > 20:
        console.print(f"  … and {report.problem_count - 20} more problems")


def run_import(settings: Settings, items: Iterable[SourceItem], label: str, total: int | None = None) -> ImportReport:
    factory = session_factory(settings)
    with progress_bar(label, total) as progress:
        report = import_items(factory, counted(items, progress), batch_size=settings.import_batch_size)
    print_report(report, label)
    return report


def _existing(paths: list[Path]) -> list[Path]:
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        console.print(f"[red]No such file or directory:[/red] {', '.join(missing)}")
        raise typer.Exit(2)
    return paths


def _chain(paths: list[Path], reader: Callable[[Path], Iterable[SourceItem]]) -> Iterator[SourceItem]:
    for path in paths:
        yield from reader(path)


@app.command()
def init() -> None:
    """Create the data directory and bring the database schema up to date."""
    settings = load_settings()
    migrate(make_engine(settings.resolved_database_url))
    console.print(f"Database ready at {settings.resolved_database_url}")


Paths = Annotated[list[Path], typer.Argument(help="Files or directories to import.")]


@import_app.command("hf-daily")
def import_hf_daily(paths: Paths) -> None:
    """Hugging Face daily papers: the API's JSON list, or the archive's per-day files (file or directory)."""
    from broadsheet.sources.hf_daily import read_hf_daily

    run_import(load_settings(), _chain(_existing(paths), read_hf_daily), "hf-daily")


@import_app.command("arxiv-jsonl")
def import_arxiv_jsonl(paths: Paths) -> None:
    """Daily arXiv JSON lines (`id, title, summary, authors, categories, ...`), gzip or plain."""
    from broadsheet.sources.daily_jsonl import read_daily_jsonl

    run_import(load_settings(), _chain(_existing(paths), read_daily_jsonl), "arxiv-jsonl")


@import_app.command("arxiv-snapshot")
def import_arxiv_snapshot(
    paths: Paths, limit: Annotated[int | None, typer.Option(help="Stop after this many records a file.")] = None
) -> None:
    """The arXiv metadata snapshot (one JSON object a line), gzip or plain, streamed."""
    from broadsheet.sources.snapshot import read_snapshot

    run_import(load_settings(), _chain(_existing(paths), lambda p: read_snapshot(p, limit=limit)), "arxiv-snapshot")


def _client(settings: Settings, delay: float | None) -> PoliteClient:

    return PoliteClient(
        HttpSettings(
            timeout_s=settings.http_timeout_s,
            politeness_delay_s=settings.arxiv_delay_s if delay is None else delay,
            max_attempts=settings.http_retries + 1,
        )
    )


def _source_failure(error: Exception) -> None:
    console.print(f"[red]Harvest failed:[/red] {error}")
    raise typer.Exit(1)


def _day(value: str | None) -> str | None:
    """A --from/--until option: checked as a YYYY-MM-DD day here, not by the server after retries."""
    if value is not None:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise typer.BadParameter(f"expected a day as YYYY-MM-DD, got {value!r}") from None
    return value


@harvest_app.command("arxiv-api")
def harvest_arxiv_api(
    category: Annotated[str | None, typer.Option(help="arXiv category, e.g. cs.CL.")] = None,
    from_date: Annotated[
        str | None, typer.Option("--from", help="Submitted on or after, YYYY-MM-DD.", callback=_day)
    ] = None,
    until_date: Annotated[
        str | None, typer.Option("--until", help="Submitted on or before, YYYY-MM-DD.", callback=_day)
    ] = None,
    query: Annotated[str | None, typer.Option(help="A raw arXiv search_query.")] = None,
    ids: Annotated[str | None, typer.Option(help="Comma-separated arXiv ids.")] = None,
    max_results: Annotated[int, typer.Option("--max", help="Stop after this many papers.")] = 500,
    base_url: Annotated[str | None, typer.Option(help="API endpoint (default: the setting).")] = None,
    delay: Annotated[float | None, typer.Option(help="Seconds between requests.")] = None,
) -> None:
    """Papers from the arXiv search API (Atom), by category, date range, query or ids."""
    from broadsheet.sources.arxiv_api import search_arxiv
    from broadsheet.sources.errors import SourceError

    settings = load_settings()
    if not (category or query or ids):
        console.print("[red]Give --category, --query or --ids.[/red]")
        raise typer.Exit(2)
    try:
        with _client(settings, delay) as client:
            items = search_arxiv(
                client,
                category=category,
                submitted_from=date.fromisoformat(from_date) if from_date else None,
                submitted_until=date.fromisoformat(until_date) if until_date else None,
                search_query=query,
                id_list=[part.strip() for part in ids.split(",") if part.strip()] if ids else None,
                max_results=max_results,
                base_url=base_url or settings.arxiv_api_url,
            )
            run_import(settings, items, "arxiv-api")
    except (SourceError, ValueError) as error:
        _source_failure(error)


@harvest_app.command("oai")
def harvest_oai_command(
    metadata_prefix: Annotated[str, typer.Option("--prefix", help="arXiv, arXivRaw or oai_dc.")] = "arXiv",
    set_spec: Annotated[str | None, typer.Option("--set", help="OAI set, e.g. cs.")] = None,
    from_date: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD.", callback=_day)] = None,
    until_date: Annotated[str | None, typer.Option("--until", help="YYYY-MM-DD.", callback=_day)] = None,
    token: Annotated[str | None, typer.Option(help="Resume from this resumption token.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OAI-PMH endpoint (default: the setting).")] = None,
    delay: Annotated[float | None, typer.Option(help="Seconds between requests.")] = None,
) -> None:
    """Bulk harvest over OAI-PMH ListRecords, following resumption tokens."""
    from broadsheet.sources.errors import SourceError
    from broadsheet.sources.oai_pmh import harvest_oai

    settings = load_settings()
    if metadata_prefix not in ("arXiv", "arXivRaw", "oai_dc"):
        console.print("[red]--prefix must be arXiv, arXivRaw or oai_dc[/red]")
        raise typer.Exit(2)
    try:
        with _client(settings, delay) as client:
            items = harvest_oai(
                client,
                metadata_prefix=metadata_prefix,
                set_spec=set_spec,
                from_date=from_date,
                until_date=until_date,
                resumption_token=token,
                base_url=base_url or settings.arxiv_oai_url,
            )
            run_import(settings, items, "oai")
    except SourceError as error:
        _source_failure(error)


@app.command()
def bootstrap() -> None:
    """Load real papers into an empty database: the shared data when present, else a live arXiv harvest."""
    from broadsheet.papers.bootstrap import load_real_papers

    settings = load_settings()
    load_real_papers(settings, session_factory(settings), console)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes (default: one per CPU, at most 4 and one per 3 GiB of memory; each "
            "holds its own search index, ~1.8 GB with 75k papers); above 1, each new connection goes to "
            "the least loaded.",
            min=1,
            show_default=False,
        ),
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    pin_workers: Annotated[
        bool, typer.Option(help="With no more workers than CPUs, keep each worker on a CPU of its own.")
    ] = True,
) -> None:
    """Serve the site and its API."""
    import uvicorn

    from broadsheet.web.workers import default_workers

    settings = load_settings()
    workers = workers or default_workers()
    console.print(
        f"Serving {settings.site_name} on http://{host}:{port} with {workers} worker{'s' if workers > 1 else ''} "
        f"(database {settings.resolved_database_url})"
    )
    if workers > 1:
        from broadsheet.web.workers import ConnectionDealer, WorkerFailure

        logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
        try:
            ConnectionDealer(host, port, workers, access_log, pin_workers).run()
        except WorkerFailure as error:
            console.print(f"[red]Stopped: {error}[/red]")
            raise typer.Exit(1) from None
        return
    from broadsheet.web.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, access_log=access_log)


def _search_service(settings: Settings) -> SearchService:
    return SearchService(settings, session_factory(settings))


def index_rebuild() -> None:
    """Rebuild the search index from the database, embedding papers with no stored vector, and save it for `serve`."""
    settings = load_settings()
    service = _search_service(settings)
    with progress_bar("papers and vectors") as progress:
        tasks = {"papers and vectors": progress.tasks[0].id}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:  # one bar per stage, each left complete on screen
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        report = service.sync(on_progress=advance)
    snapshot = service.save_index(replace_newer=True)
    # Before snapshots, a rebuild wrote only the vectors, here, and nothing read them back.
    shutil.rmtree(settings.index_dir / "vectors", ignore_errors=True)
    console.print(
        f"Indexed {report.indexed} papers: {report.reused_vectors} stored vectors reused, {report.embedded} embedded. "
        f"Saved as {service.index_store.root / str(snapshot)}; `serve` starts from it."
    )


def index_import_vectors(
    directory: Annotated[Path, typer.Argument(help="A directory with vectors.f16.npy, ids.txt, manifest.json.")],
    sample: Annotated[int, typer.Option(help="Texts re-embedded to verify the vectors (at least 32).")] = 32,
) -> None:
    """Store precomputed vectors, refusing them unless a re-embedded random sample matches (cosine ≥ 0.99)."""
    from broadsheet.errors import BroadsheetError

    settings = load_settings()
    _existing([directory])
    try:
        stored = _search_service(settings).import_vectors(directory, sample_size=max(sample, 32))
    except BroadsheetError as error:
        console.print(f"[red]Vectors refused:[/red] {error.message}")
        raise typer.Exit(1) from None
    console.print(f"Stored {stored} vectors from {directory}.")


def _mount_concept_commands() -> None:
    """Command groups that live with their concepts: benchmarks, the search index, users, digests."""
    from broadsheet.bench import bench_app
    from broadsheet.community.cli import user_app
    from broadsheet.digest.bench import bench_digest
    from broadsheet.digest.commands import digest_app
    from broadsheet.search.commands import bench_app as search_bench_app
    from broadsheet.search.commands import index_app

    bench_app.registered_commands.extend(search_bench_app.registered_commands)
    bench_app.command("digest")(bench_digest)
    index_app.command("rebuild")(index_rebuild)
    index_app.command("import-vectors")(index_import_vectors)
    app.add_typer(bench_app, name="bench")
    app.add_typer(index_app, name="index")
    app.add_typer(user_app, name="user")
    app.add_typer(digest_app, name="digest")


_mount_concept_commands()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console.print("Interrupted; whole batches already imported are kept, run again to finish.")
        sys.exit(130)
