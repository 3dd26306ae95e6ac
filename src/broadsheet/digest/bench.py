"""`broadsheet bench digest`: digests for many subscribers to a local SMTP server, in emails per second."""

from __future__ import annotations

import json
import multiprocessing
import random
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

TOPICS = [
    "diffusion models",
    "large language models reasoning",
    "vision language model",
    "reinforcement learning",
    "video generation",
    "speculative decoding",
    "retrieval augmented generation",
    "mixture of experts",
    "3D reconstruction gaussian splatting",
    "robot manipulation",
    "multimodal benchmark",
    "agents tool use",
    "code generation",
    "image editing",
    "speech recognition",
    "quantization",
    "long context",
    "alignment",
]


def _smtp_server(port: int, received: Any, ready: Any) -> None:
    """A loopback aiosmtpd server in its own process (so it does not share the sender's GIL)."""
    from aiosmtpd.controller import Controller

    class Counter:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with received.get_lock():
                received.value += 1
            return "250 OK"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def _subscribers(count: int, personal_share: float) -> list[dict[str, Any]]:
    rng = random.Random(7)
    rows: list[dict[str, Any]] = []
    for index in range(count):
        personal = index < int(count * personal_share)
        rows.append(
            {
                "email": f"reader{index:06d}@bench.example",
                "status": "active",
                "frequency": "weekly",
                "kind": "personal" if personal else "trending",
                "keywords": rng.choice(TOPICS) if personal else "",
                # Keywords only: the bundled HF daily papers carry no arXiv categories to filter on.
                "categories": [],
                "saved_search": "",
                "max_papers": 10,
                "token_nonce": f"{rng.getrandbits(64):016x}",
                "failure_count": 0,
            }
        )
    return rows


def bench_digest(
    subscribers: Annotated[int, typer.Option(help="Confirmed subscribers to create.")] = 10_000,
    personal: Annotated[float, typer.Option(help="Share of personal digests.")] = 0.5,
    end: Annotated[str, typer.Option("--date", help="Last day of the (weekly) period.")] = "2026-05-28",
    hf_daily: Annotated[Path | None, typer.Option(help="HF daily papers to load (default: shared data).")] = None,
) -> None:
    """Weekly digests for N subscribers (half personal) over real papers to aiosmtpd on loopback."""
    from sqlalchemy import insert

    from broadsheet.db import make_engine, make_session_factory, migrate, unit_of_work
    from broadsheet.digest.commands import load_search
    from broadsheet.digest.tasks import send_digests
    from broadsheet.models import DigestSubscription
    from broadsheet.papers.ingest import import_items
    from broadsheet.settings import Settings
    from broadsheet.sources.hf_daily import read_hf_daily

    settings_base = Settings()
    source = hf_daily or settings_base.shared_data_dir / "hf_daily" / "senmo996_daily"
    port = _free_port()
    received = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=_smtp_server, args=(port, received, ready), daemon=True)
    server.start()
    ready.wait(30)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = settings_base.model_copy(
                update={
                    "data_dir": Path(tmp),
                    "database_url": f"sqlite:///{tmp}/bench.sqlite3",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": port,
                    "smtp_security": "none",
                    "smtp_user": "",
                    "base_url": "https://broadsheet.example",
                    "digest_retry_base_s": 0.1,
                }
            )
            engine = make_engine(settings.resolved_database_url)
            migrate(engine)
            factory = make_session_factory(engine)
            import_items(factory, read_hf_daily(source))
            with unit_of_work(factory) as session:
                session.execute(insert(DigestSubscription), _subscribers(subscribers, personal))
            search = load_search(settings, factory)
            search_kind = f"broadsheet.search.service ({'hybrid' if settings.embeddings_enabled else 'bm25'})"
            indexing = time.perf_counter()
            search.search("warm up", limit=1)  # the index is built before the clock starts
            index_seconds = time.perf_counter() - indexing
            started = time.perf_counter()
            report = send_digests(settings, factory, "weekly", date.fromisoformat(end), search=search)
            seconds = time.perf_counter() - started
            deadline = time.monotonic() + 10
            while received.value < report.sent and time.monotonic() < deadline:
                time.sleep(0.05)
            engine.dispose()
    finally:
        server.terminate()
        server.join(5)
    result = {
        "subscribers": subscribers,
        "personal": int(subscribers * personal),
        "search": search_kind,
        "period": report.period,
        "sent": report.sent,
        "empty": report.empty,
        "failed": report.failed,
        "received_by_smtp_server": received.value,
        "index_build_seconds": round(index_seconds, 2),
        "seconds": round(seconds, 2),
        "emails_per_s": round(report.sent / seconds, 1) if seconds else None,
        "errors": report.errors,
    }
    typer.echo(json.dumps(result))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
