"""Password hashing (argon2id), random tokens, cookies and the CSRF guard on every state-changing request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broadsheet.settings import Settings

SESSION_COOKIE = "bs_session"
ANON_COOKIE = "bs_anon"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

# argon2id with the library's RFC 9106 "low memory" defaults (argon2-cffi's PasswordHasher default type).
_hasher = PasswordHasher()
# Verified against when the account does not exist, so unknown and known accounts take as long.
_DUMMY_HASH = _hasher.hash("not-a-real-password-just-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; runs a full argon2 verification even for a missing account."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Session and API tokens are high-entropy random strings, so a plain SHA-256 is the right store."""
    return hashlib.sha256(token.encode()).hexdigest()


def cookie_options(settings: Settings, max_age: int | None) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "lax",
        "secure": settings.cookie_secure,
        "path": "/",
        "max_age": max_age,
    }


def _cookies(scope: Scope) -> dict[str, str]:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header is treated as no cookies
                return {}
            return {key: morsel.value for key, morsel in jar.items()}
    return {}


def csrf_basis(request: Request) -> str | None:
    """The secret the CSRF token is derived from: the session cookie, else the anonymous cookie."""
    return (
        request.cookies.get(SESSION_COOKIE)
        or request.cookies.get(ANON_COOKIE)
        or getattr(request.state, "anon_id", None)
    )


def csrf_token_for(settings: Settings, basis: str) -> str:
    """HMAC of the HttpOnly cookie value: a page can embed it, another site can neither read nor forge it."""
    return hmac.new(settings.secret_key.encode(), b"csrf|" + basis.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    basis = csrf_basis(request)
    settings: Settings = request.app.state.settings
    return csrf_token_for(settings, basis) if basis else ""


def page_token_of(scope: Scope) -> bytes | None:
    """The CSRF token an anonymous page rendered for this request carries (the page cache swaps it per visitor)."""
    basis = _cookies(scope).get(ANON_COOKIE) or scope.get("state", {}).get("anon_id")
    app = scope.get("app")
    if not basis or app is None:
        return None
    return csrf_token_for(app.state.settings, basis).encode()


class CsrfMiddleware:
    """Gives every visitor an anonymous cookie and refuses POST/PUT/PATCH/DELETE without a valid CSRF token.

    The token comes from the `X-CSRF-Token` header or the `csrf_token` form field. Requests that carry an
    `Authorization` header are authenticated by that header only (cookies are ignored), so they need none;
    nor do paths in `app.state.csrf_exempt_paths`, which must never act on the session cookie.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        new_anon = None
        if ANON_COOKIE not in cookies and SESSION_COOKIE not in cookies:
            new_anon = secrets.token_urlsafe(24)
            scope.setdefault("state", {})["anon_id"] = new_anon
        if scope["method"] not in SAFE_METHODS and not _has_authorization(scope) and not _csrf_exempt(scope):
            basis = cookies.get(SESSION_COOKIE) or cookies.get(ANON_COOKIE)
            body, receive = await _buffer_body(receive)
            presented = await _presented_token(scope, body)
            expected = csrf_token_for(self.settings, basis) if basis else None
            if not expected or not presented or not hmac.compare_digest(expected, presented):
                await self._refuse(scope, receive, send)
                return
        if new_anon is None:
            await self.app(scope, receive, send)
            return
        cookie = _anon_cookie_header(self.settings, new_anon)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"set-cookie", cookie)]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        from broadsheet.web.errors import error_response

        request = Request(scope, receive)
        message = (
            "This form has expired or did not come from this site (CSRF token missing or wrong); "
            "reload the page and try again."
        )
        response = error_response(request, 403, message)
        await response(scope, receive, send)


def _csrf_exempt(scope: Scope) -> bool:
    """Paths listed in `app.state.csrf_exempt_paths` carry their own signed authority instead (the RFC 8058
    one-click unsubscribe, which a mail client POSTs with a token in the URL and no cookie)."""
    state = getattr(scope.get("app"), "state", None)
    return scope.get("path") in getattr(state, "csrf_exempt_paths", ())


def _has_authorization(scope: Scope) -> bool:
    return any(name == b"authorization" for name, _ in scope.get("headers", []))


def _anon_cookie_header(settings: Settings, value: str) -> bytes:
    parts = [f"{ANON_COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax", f"Max-Age={365 * 86400}"]
    if settings.cookie_secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


async def _buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body, and a `receive` that replays it to the application."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _presented_token(scope: Scope, body: bytes) -> str | None:
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
    if headers.get(CSRF_HEADER):
        return headers[CSRF_HEADER]
    content_type = headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD)
        return values[-1] if values else None
    if content_type.startswith("multipart/form-data"):
        sent = False

        async def once() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        form = await Request(scope, once).form()
        value = form.get(CSRF_FIELD)
        await form.close()
        return value if isinstance(value, str) else None
    return None
