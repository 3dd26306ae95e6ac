"""`broadsheet bench web`'s client against real servers: every answer timed, non-200 answers counted,
one keep-alive connection kept as long as the server keeps it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from broadsheet.bench import _client_process
from tests.fixtures.browser import LiveServer


def test_the_client_times_every_request_and_counts_errors(live_server: LiveServer) -> None:
    latencies, errors, cpu_s, connections = _client_process(
        live_server.url, "/api/daily_papers?limit={q}", 6, time.time(), ["2", "3"]
    )
    assert len(latencies) == 6 and errors == 0 and connections == 1
    assert all(value > 0 for value in latencies) and cpu_s >= 0

    for path, count, failed in [
        ("/papers/2601.00393", 3, 0),  # a whole page, on the same keep-alive connection
        ("/papers/2101.99999", 2, 2),  # not here: 404
        ("/search?q=2601.00393", 2, 2),  # an arXiv id: 303 to the paper
    ]:
        latencies, errors, _, connections = _client_process(live_server.url, path, count, time.time())
        assert (len(latencies), errors, connections) == (count, failed, 1), path


class _OneAnswerPerConnection(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the server closes the connection after every answer

    def do_GET(self) -> None:
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def closing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OneAnswerPerConnection)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_client_reconnects_only_when_the_server_closes(closing_server: str) -> None:
    latencies, errors, _, connections = _client_process(closing_server, "/", 4, time.time())
    assert (len(latencies), errors) == (4, 0)
    assert connections == 4  # a new one for each request after the first


def test_without_keep_alive_every_request_has_a_connection_of_its_own(live_server: LiveServer) -> None:
    latencies, errors, _, connections = _client_process(
        live_server.url, "/api/daily_papers?limit=2", 3, time.time(), keep_alive=False
    )
    assert (len(latencies), errors, connections) == (3, 0, 3)


def test_a_server_that_cannot_be_reached_is_named_not_a_traceback() -> None:
    import socket

    from typer.testing import CliRunner

    from broadsheet.bench import bench_app

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = CliRunner().invoke(bench_app, ["web", "--base-url", url, "--clients", "1", "--requests", "2"])
    assert result.exit_code == 1 and f"Could not load {url}" in result.output
