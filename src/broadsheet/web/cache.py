"""A short-lived cache of anonymous GET responses, so popular pages cost one lookup under load.

Only requests without cookies or credentials are served from it, and only 200 responses that set no
cookie and are not marked private are stored: a signed-in reader always gets a fresh page. Entries
live for `ttl_s` seconds (a few), which bounds how stale an anonymous reader's view can be. Each worker
keeps its own cache; nothing in it is state that another worker needs.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNCACHEABLE_PREFIXES = ("/static/", "/login", "/logout", "/signup", "/submit", "/settings", "/subscribe", "/u/")


class AnonymousPageCache:
    """ASGI middleware: micro-caching of anonymous GETs keyed by path and query string."""

    def __init__(self, app: ASGIApp, ttl_s: float = 3.0, max_entries: int = 2048) -> None:
        self.app = app
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.entries: OrderedDict[bytes, tuple[float, list[Message]]] = OrderedDict()
        self.refreshing: set[bytes] = set()
        self.hits = 0
        self.misses = 0

    def _cacheable_request(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or self.ttl_s <= 0:
            return False
        path: str = scope["path"]
        if path.startswith(UNCACHEABLE_PREFIXES):
            return False
        return not any(name in (b"cookie", b"authorization") for name, _ in scope["headers"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._cacheable_request(scope):
            await self.app(scope, receive, send)
            return
        accept = next((value for name, value in scope["headers"] if name == b"accept"), b"")
        key = b"%s %s?%s|%s" % (scope["method"].encode(), scope["path"].encode(), scope["query_string"], accept)
        now = time.monotonic()
        cached = self.entries.get(key)
        # While one request renders an expired page again, the others get the previous copy, so an
        # expiry under load costs one render instead of one per waiting client.
        if cached is not None and (cached[0] > now or key in self.refreshing):
            self.hits += 1
            for message in cached[1]:
                await send(message)
            return
        self.misses += 1
        self.refreshing.add(key)
        try:
            await self._render(scope, receive, send, key, now)
        finally:
            self.refreshing.discard(key)

    async def _render(self, scope: Scope, receive: Receive, send: Send, key: bytes, now: float) -> None:
        messages: list[Message] = []
        storable = True

        async def recording_send(message: Message) -> None:
            nonlocal storable
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = message.get("headers", [])
                if message["status"] != 200 or any(_private(name, value) for name, value in headers):
                    storable = False
            if storable:
                messages.append(message)
            await send(message)

        await self.app(scope, receive, recording_send)
        if storable and messages:
            self.entries[key] = (now + self.ttl_s, messages)
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)


def _private(name: bytes, value: bytes) -> bool:
    if name == b"set-cookie":
        return True
    return name == b"cache-control" and any(word in value for word in (b"private", b"no-store"))
