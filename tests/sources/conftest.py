"""Fixtures for source tests: the shared real data and a local HTTP server replaying recorded responses."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from broadsheet.sources.http import HttpSettings, PoliteClient

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """The shared real data: $BROADSHEET_SHARED_DATA, else the `shared/data` directory beside the repo."""
    configured = os.environ.get("BROADSHEET_SHARED_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path} (set BROADSHEET_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def arxiv_data(shared_data: Path) -> Path:
    return shared_data / "arxiv"


@dataclass
class Reply:
    """One scripted HTTP answer. `declared_length` larger than the body simulates a dropped connection."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/xml; charset=utf-8"
    declared_length: int | None = None


@dataclass
class SeenRequest:
    path: str
    query: dict[str, str]


Responder = Callable[[SeenRequest], Reply]


class ReplayServer:
    """A real HTTP server on 127.0.0.1 answering from a queue of replies or a responder function."""

    def __init__(self) -> None:
        self.requests: list[SeenRequest] = []
        self._queue: list[Reply] = []
        self._responder: Responder | None = None
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
                seen = SeenRequest(parts.path, query)
                reply = server._next_reply(seen)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                length = reply.declared_length if reply.declared_length is not None else len(reply.body)
                self.send_header("Content-Length", str(length))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)
                self.wfile.flush()
                if reply.declared_length is not None:
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        self._queue.extend(replies)

    def respond_with(self, responder: Responder) -> None:
        """Answer every request (once the queue is empty) by calling `responder`."""
        self._responder = responder

    def _next_reply(self, seen: SeenRequest) -> Reply:
        with self._lock:
            self.requests.append(seen)
            if self._queue:
                return self._queue.pop(0)
        if self._responder is not None:
            return self._responder(seen)
        return Reply(b"no reply scripted for this request", status=500, content_type="text/plain")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def replay_server() -> Iterator[ReplayServer]:
    server = ReplayServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class RecordedSleeps:
    """Stands in for time.sleep: remembers each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
def client(sleeps: RecordedSleeps) -> Iterator[PoliteClient]:
    """A client as the tests use it: no politeness delay, 3 attempts, short timeouts, recorded sleeps."""
    settings = HttpSettings(
        timeout_s=5.0,
        politeness_delay_s=0.0,
        max_attempts=3,
        backoff_initial_s=0.5,
        backoff_max_s=4.0,
        retry_after_max_s=30.0,
    )
    with PoliteClient(settings, sleep=sleeps) as polite:
        yield polite
