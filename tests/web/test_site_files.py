"""The files every crawler and browser asks a site for."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_robots_txt_keeps_crawlers_off_search_and_the_api(client: TestClient) -> None:
    robots = client.get("/robots.txt")
    assert robots.status_code == 200 and robots.headers["content-type"].startswith("text/plain")
    rules = robots.text.splitlines()
    assert rules[0] == "User-agent: *"
    assert {"Disallow: /search", "Disallow: /api/"} <= set(rules)
    assert not any(rule in ("Disallow: /", "Disallow: /papers/") for rule in rules)  # papers stay indexable


def test_the_favicon_is_linked_and_served(client: TestClient) -> None:
    redirect = client.get("/favicon.ico", follow_redirects=False)
    assert redirect.status_code == 301 and redirect.headers["location"] == "/static/favicon.svg"
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg")
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in client.get("/").text
