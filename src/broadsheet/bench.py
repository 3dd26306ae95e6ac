"""`broadsheet bench`: measured figures for import speed and web latency (search adds its own)."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

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


class _Response:
    """The httptools parser callbacks this client needs: whether the response is complete, and
    whether the server keeps the connection open after it. That is asked once the headers are in:
    when the message is complete, llhttp has already reset for the next one and always says no."""

    def __init__(self) -> None:
        self.complete = False
        self.keep_alive = False
        self.parser: Any = None

    def on_headers_complete(self) -> None:
        self.keep_alive = bool(self.parser.should_keep_alive())

    def on_message_complete(self) -> None:
        self.complete = True


def _client_process(
    base_url: str,
    path: str,
    count: int,
    start_at: float,
    fillers: list[str] | None = None,
    offset: int = 0,
    keep_alive: bool = True,
) -> tuple[list[float], int, float, int]:
    """One client: a keep-alive connection sending `count` requests back to back (without
    `keep_alive`, each request asks the server to close and goes on a new connection).

    Returns the latencies in ms, the number of answers other than 200, the CPU seconds this
    client spent, and the connections it opened (one, unless the server closed them). A path
    with `{q}` takes the next of `fillers` (URL-quoted) for each request.
    Responses are parsed by httptools (llhttp, in C) straight off the socket: the clients share
    the machine with the server they measure, and http.client's header parsing in Python cost
    0.39-0.45 ms of CPU a search page against 0.23-0.25 here.
    """
    import socket
    from urllib.parse import quote_plus, urlsplit

    import httptools

    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    close = "" if keep_alive else "Connection: close\r\n"
    head = f" HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: broadsheet-bench\r\n{close}\r\n".encode()

    def connect() -> socket.socket:
        connection = socket.create_connection((host, port), timeout=30)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    connection = connect()
    connections = 1
    buffer = bytearray(1 << 16)
    view = memoryview(buffer)
    latencies: list[float] = []
    errors = 0
    while time.time() < start_at:
        time.sleep(0.001)
    cpu_started = time.process_time()
    for number in range(count):
        target = path
        if fillers:
            target = path.replace("{q}", quote_plus(fillers[(offset + number) % len(fillers)]))
        response = _Response()
        parser = response.parser = httptools.HttpResponseParser(response)
        started = time.perf_counter()
        connection.sendall(b"GET " + target.encode() + head)
        while not response.complete:
            received = connection.recv_into(buffer)
            if not received:
                raise ConnectionError(f"{base_url} closed the connection during GET {target}")
            parser.feed_data(view[:received])
        latencies.append((time.perf_counter() - started) * 1000)
        if parser.get_status_code() != 200:
            errors += 1
        if not response.keep_alive and number + 1 < count:
            connection.close()
            connection = connect()
            connections += 1
    cpu_s = time.process_time() - cpu_started
    connection.close()
    return latencies, errors, cpu_s, connections


@bench_app.command("web")
def bench_web(
    base_urls: Annotated[
        list[str] | None,
        typer.Option(
            "--base-url",
            help="A running Broadsheet (default http://127.0.0.1:8000). Repeat it for several servers: "
            "client i talks to the i-th modulo their number, as a round-robin proxy would spread them.",
        ),
    ] = None,
    clients: Annotated[int, typer.Option(help="Concurrent clients, one process each.")] = 16,
    requests: Annotated[int, typer.Option(help="Requests per path, spread over the clients.")] = 4000,
    paths: Annotated[list[str] | None, typer.Option("--path", help="Paths to load (repeatable).")] = None,
    queries: Annotated[
        Path | None,
        typer.Option(help="BEIR queries.jsonl whose texts fill `{q}` in a path, a different one each time."),
    ] = None,
    keep_alive: Annotated[
        bool,
        typer.Option(
            help="Each client keeps one connection open, as browsers do; --no-keep-alive opens a new one "
            "for every request (asking the server to close), as some load tools do."
        ),
    ] = True,
) -> None:
    """Load a running server from other processes: requests/s and p50/p95 latency per path."""
    from concurrent.futures import ProcessPoolExecutor

    targets = paths or ["/", "/papers/2601.00393", "/api/daily_papers"]
    servers = base_urls or ["http://127.0.0.1:8000"]
    per_client = max(1, requests // clients)
    fillers = (
        [json.loads(line)["text"] for line in queries.read_text().splitlines() if line.strip()] if queries else None
    )
    results = []
    with ProcessPoolExecutor(max_workers=clients) as pool:
        for path in targets:
            warm = [
                pool.submit(_client_process, servers[i % len(servers)], path, 5, 0.0, fillers, 10_000 + i, keep_alive)
                for i in range(clients)
            ]
            try:
                [future.result() for future in warm]
            except OSError as error:  # refused, reset, timed out: nothing to measure
                typer.echo(f"Could not load {', '.join(servers)}: {error}", err=True)
                raise typer.Exit(1) from None
            start_at = time.time() + 0.5
            futures = [
                pool.submit(
                    _client_process,
                    servers[i % len(servers)],
                    path,
                    per_client,
                    start_at,
                    fillers,
                    i * per_client,
                    keep_alive,
                )
                for i in range(clients)
            ]
            outcomes = [future.result() for future in futures]
            client_cpu_s = sum(cpu for _, _, cpu, _ in outcomes)
            elapsed = time.time() - start_at
            latencies = [value for values, _, _, _ in outcomes for value in values]
            results.append(
                {
                    "path": path,
                    "requests": len(latencies),
                    "rps": round(len(latencies) / elapsed, 1),
                    "p50_ms": round(statistics.median(latencies), 2),
                    "p95_ms": round(_percentile(latencies, 95), 2),
                    "p99_ms": round(_percentile(latencies, 99), 2),
                    "errors": sum(errors for _, errors, _, _ in outcomes),
                    "client_cpu_ms_per_request": round(client_cpu_s * 1000 / len(latencies), 3),
                    # One per client, unless the server closed them or --no-keep-alive (then one per request).
                    "connections": sum(opened for _, _, _, opened in outcomes),
                }
            )
            typer.echo(json.dumps(results[-1]))
    typer.echo(json.dumps({"clients": clients, "results": results}))
