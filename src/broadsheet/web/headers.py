"""Security headers on every response: no framing, no type sniffing, no URL tokens leaked in Referer,
and on HTML pages a Content-Security-Policy that runs only the site's own script."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The pages have no inline script, style or event handler, so nothing but the site's own files runs.
# Images may come from elsewhere (paper thumbnails); forms post only here.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_EVERY_RESPONSE = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Digest links carry their token in the URL: other sites get only this origin as the referrer.
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]
# FastAPI's interactive API docs load their script and styles from a CDN, with an inline script.
_OWN_POLICY = ("/docs", "/redoc")


class SecurityHeaders:
    """ASGI middleware adding the headers above to responses that do not set them already."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = not scope["path"].startswith(_OWN_POLICY)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in _EVERY_RESPONSE if name not in present]
                kind = next((value for name, value in headers if name.lower() == b"content-type"), b"")
                html = kind.startswith(b"text/html")
                if policy and html and b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
