"""`broadsheet bench`: measured figures for import speed and web latency (search adds its own)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

bench_app = typer.Typer(help="Benchmarks that print their figures as JSON on the last line.", no_args_is_help=True)


@bench_app.command("import")
def bench_import(
    path: Annotated[Path, typer.Argument(help="A daily arXiv JSONL file (gz or plain).")],
    batch_size: Annotated[int, typer.Option(help="Records a transaction.")] = 2000,
) -> None:
    """Import a daily arXiv JSONL file into a fresh SQLite database and report papers/s."""
    from broadsheet.db import make_engine, make_session_factory, migrate
    from broadsheet.papers.ingest import import_items
    from broadsheet.sources.daily_jsonl import read_daily_jsonl

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.sqlite3")
        migrate(engine)
        factory = make_session_factory(engine)
        started = time.perf_counter()
        report = import_items(factory, read_daily_jsonl(path), batch_size=batch_size)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = import_items(factory, read_daily_jsonl(path), batch_size=batch_size)
        second = time.perf_counter() - started
        engine.dispose()
    result = {
        "papers": report.inserted,
        "seconds": round(first, 2),
        "papers_per_s": round(report.inserted / first, 1),
        "rerun_seconds": round(second, 2),
        "rerun_changed": again.inserted + again.updated,
        "problems": report.problem_count,
    }
    typer.echo(json.dumps(result))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@bench_app.command("web")
def bench_web(
    base_url: Annotated[str, typer.Option(help="A running Broadsheet.")] = "http://127.0.0.1:8000",
    clients: Annotated[int, typer.Option(help="Concurrent clients.")] = 16,
    requests: Annotated[int, typer.Option(help="Requests per path.")] = 2000,
    paths: Annotated[list[str] | None, typer.Option("--path", help="Paths to load (repeatable).")] = None,
) -> None:
    """Load a running server from this (separate) process: requests/s and p50/p95 latency per path."""
    import asyncio

    import httpx

    targets = paths or ["/", "/papers/2601.00393", "/api/daily_papers"]

    async def load(path: str) -> dict[str, float | int | str]:
        latencies: list[float] = []
        errors = 0
        queue = iter(range(requests))
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
            for _ in range(min(50, requests)):
                await client.get(path)

            async def worker() -> None:
                nonlocal errors
                for _ in queue:
                    started = time.perf_counter()
                    response = await client.get(path)
                    latencies.append((time.perf_counter() - started) * 1000)
                    if response.status_code != 200:
                        errors += 1

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(clients)))
            elapsed = time.perf_counter() - started
        return {
            "path": path,
            "requests": len(latencies),
            "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(_percentile(latencies, 95), 2),
            "errors": errors,
        }

    results = [asyncio.run(load(path)) for path in targets]
    for row in results:
        typer.echo(json.dumps(row))
    typer.echo(json.dumps({"clients": clients, "results": results}))


def serve_in_background(database_url: str, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    """Start `broadsheet serve` as a second process on loopback (used by the web benchmark script)."""
    env = {**os.environ, "BROADSHEET_DATABASE_URL": database_url, "BROADSHEET_SCHEDULER_ENABLED": "false"}
    command = [sys.executable, "-m", "broadsheet", "serve", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(command, env=env)
