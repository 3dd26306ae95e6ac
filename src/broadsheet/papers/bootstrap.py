"""First-run loading of real papers: the bundled shared data when present, otherwise live from arXiv."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import unit_of_work
from broadsheet.papers import repository
from broadsheet.papers.ingest import ImportReport, import_items
from broadsheet.settings import Settings
from broadsheet.sources.arxiv_api import search_arxiv
from broadsheet.sources.daily_jsonl import read_daily_jsonl
from broadsheet.sources.hf_daily import read_hf_daily
from broadsheet.sources.http import HttpSettings, PoliteClient
from broadsheet.sources.records import DailyAppearance, PaperRecord

ARXIV_CORPUS = Path("arxiv/daily_arxiv_cs/arxiv_cs_CV_CL_AI_2025-03_to_2026-07.dedup.jsonl.gz")
HF_DAILY = Path("hf_daily/senmo996_daily")
ARXIV_VECTORS = Path("arxiv/embeddings_minilm")
LIVE_CATEGORIES = ("cs.CL", "cs.CV", "cs.LG", "cs.AI")


def shared_sources(settings: Settings) -> tuple[Path, Path] | None:
    root = settings.shared_data_dir
    corpus, daily = root / ARXIV_CORPUS, root / HF_DAILY
    return (corpus, daily) if corpus.exists() and daily.exists() else None


def load_real_papers(settings: Settings, factory: sessionmaker[Session], console: Console) -> ImportReport | None:
    """Fill an empty store; a store that already has papers is left as it is."""
    with unit_of_work(factory) as session:
        known = repository.count_papers(session)
    if known:
        console.print(f"The store already has {known} papers; nothing to load.")
        return None
    sources = shared_sources(settings)
    if sources is not None:
        corpus, daily = sources
        console.print(f"Loading the arXiv catalogue from {corpus} …")
        report = import_items(factory, read_daily_jsonl(corpus), batch_size=settings.import_batch_size)
        console.print(f"Loading the Hugging Face daily feed from {daily} …")
        report.merge(import_items(factory, read_hf_daily(daily), batch_size=settings.import_batch_size))
        console.print(f"Loaded {report.inserted} papers and {report.daily_added} daily entries.")
        vectors = settings.vectors_dir or settings.shared_data_dir / ARXIV_VECTORS
        if settings.search_enabled and settings.embeddings_enabled and vectors.exists():
            from broadsheet.search.service import SearchService

            console.print(f"Importing precomputed vectors from {vectors} (verifying a sample first) …")
            stored = SearchService(settings, factory).import_vectors(vectors)
            console.print(f"Stored {stored} vectors; the rest are embedded in the background by `serve`.")
        return report
    console.print(
        f"[yellow]No shared data at {settings.shared_data_dir}: harvesting recent papers live from arXiv "
        f"({', '.join(LIVE_CATEGORIES)}, last 7 days).[/yellow]"
    )
    return harvest_recent(settings, factory)


def harvest_recent(settings: Settings, factory: sessionmaker[Session], per_category: int = 200) -> ImportReport:
    """Recent papers from the arXiv API; each one also enters the feed of its first-version day."""

    since = datetime.now(UTC) - timedelta(days=7)
    report = ImportReport()
    http = HttpSettings(timeout_s=settings.http_timeout_s, politeness_delay_s=settings.arxiv_delay_s)
    with PoliteClient(http) as client:
        for category in LIVE_CATEGORIES:
            items = []
            for item in search_arxiv(
                client,
                category=category,
                submitted_from=since,
                max_results=per_category,
                base_url=settings.arxiv_api_url,
            ):
                if isinstance(item, PaperRecord) and item.published_at:
                    item.daily = DailyAppearance(day=item.published_at.date(), submitted_by="arXiv")
                items.append(item)
            report.merge(import_items(factory, items, batch_size=settings.import_batch_size))
    return report
