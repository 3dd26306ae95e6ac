"""Site-wide files every crawler and browser asks for: /robots.txt and /favicon.ico."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, RedirectResponse

router = APIRouter(include_in_schema=False)

# Pages are for everyone; search, the JSON API and account pages cost a search or a session each and
# are no use in an index, so well-behaved crawlers are kept to the feed, paper and category pages.
ROBOTS_TXT = """\
User-agent: *
Disallow: /search
Disallow: /api/
Disallow: /login
Disallow: /signup
Disallow: /settings
Disallow: /submit
Disallow: /digest/
"""


@router.get("/robots.txt")
def robots_txt() -> PlainTextResponse:
    return PlainTextResponse(ROBOTS_TXT)


@router.get("/favicon.ico")
def favicon() -> RedirectResponse:
    """Browsers ask for /favicon.ico before reading the page's icon link: point them at that icon."""
    return RedirectResponse("/static/favicon.svg", status_code=301)
