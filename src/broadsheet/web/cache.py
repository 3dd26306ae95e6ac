"""A short-lived cache of anonymous GET responses, so popular pages cost one lookup under load.

Only anonymous requests are served from it: no Authorization header and no cookie other than the
ones named in `shared_cookies` (the anonymous CSRF cookie). Only 200 responses that set no cookie and
are not marked private are stored. The one per-visitor thing on an anonymous page, its CSRF token, is
swapped for the current visitor's token on the way out (`app.state.page_token_of(scope)`), so every
visitor's forms still carry a token bound to their own cookie. Entries live for `ttl_s` seconds; an
expired entry is refreshed by one request while the others get the previous copy. Each worker keeps its
own cache; nothing in it is state that another worker needs.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNCACHEABLE_PREFIXES = ("/static/", "/login", "/logout", "/signup", "/submit", "/settings", "/digest/", "/u/")
TokenOf = Callable[[Scope], bytes | None]


def now() -> float:
    """The cache's clock (a function of its own so tests can move it without touching `time`)."""
    return time.monotonic()


@dataclass
class _Entry:
    expires: float
    start: Message
    body: bytes
    token: bytes | None


class AnonymousPageCache:
    """ASGI middleware: micro-caching of anonymous GETs keyed by method, path, query and Accept."""

    def __init__(
        self, app: ASGIApp, ttl_s: float = 3.0, max_entries: int = 2048, shared_cookies: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.shared_cookies = shared_cookies
        self.entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self.refreshing: set[bytes] = set()
        self.hits = 0
        self.misses = 0

    def _cacheable_request(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or self.ttl_s <= 0:
            return False
        if scope["path"].startswith(UNCACHEABLE_PREFIXES):
            return False
        for name, value in scope["headers"]:
            if name == b"authorization":
                return False
            if name == b"cookie" and not self._only_shared_cookies(value):
                return False
        return True

    def _only_shared_cookies(self, header: bytes) -> bool:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header.decode("latin-1"))
        except Exception:
            return False
        return set(jar.keys()) <= self.shared_cookies

    @staticmethod
    def _token(scope: Scope) -> bytes | None:
        token_of: TokenOf | None = getattr(getattr(scope.get("app"), "state", None), "page_token_of", None)
        return token_of(scope) if token_of else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._cacheable_request(scope):
            await self.app(scope, receive, send)
            return
        accept = next((value for name, value in scope["headers"] if name == b"accept"), b"")
        key = b"%s %s?%s|%s" % (scope["method"].encode(), scope["path"].encode(), scope["query_string"], accept)
        current = now()
        entry = self.entries.get(key)
        if entry is not None and (entry.expires > current or key in self.refreshing):
            self.hits += 1
            await self._replay(scope, entry, send)
            return
        self.misses += 1
        self.refreshing.add(key)
        try:
            await self._render(scope, receive, send, key, current)
        finally:
            self.refreshing.discard(key)

    async def _replay(self, scope: Scope, entry: _Entry, send: Send) -> None:
        body = entry.body
        token = self._token(scope) if entry.token else None
        if entry.token and token and token != entry.token:
            body = body.replace(entry.token, token)
        headers = [(n, v) for n, v in entry.start.get("headers", []) if n != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": entry.start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})

    async def _render(self, scope: Scope, receive: Receive, send: Send, key: bytes, started: float) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        storable = True

        async def recording_send(message: Message) -> None:
            nonlocal start, storable
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = message.get("headers", [])
                storable = message["status"] == 200 and not any(_private(n, v) for n, v in headers)
                start = {**message, "headers": list(headers)}
            elif message["type"] == "http.response.body" and storable:
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, recording_send)
        if storable and start is not None and scope["method"] == "GET":
            self.entries[key] = _Entry(started + self.ttl_s, start, b"".join(chunks), self._token(scope))
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)


def _private(name: bytes, value: bytes) -> bool:
    if name == b"set-cookie":
        return True
    return name == b"cache-control" and any(word in value for word in (b"private", b"no-store"))
