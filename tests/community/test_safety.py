"""Safety: CSRF on every state change, GETs change nothing, XSS rendered inert, SQL metacharacters harmless."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import update

from broadsheet.models import Paper
from tests.community.conftest import new_client, page_csrf, sign_up

DAY = "2026-05-28"
XSS = [
    "<script>alert('xss')</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg/onload=alert(1)>",
    "javascript:alert(1)",
    '<a href="javascript:alert(1)">click</a>',
    "'\"><iframe src=javascript:alert(1)>",
]
SQL = ["' OR '1'='1", "1; DROP TABLE users; --", '" OR 1=1 --', "%_\\"]


def _api_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, set[str]]]:
    """Every endpoint with its methods, through FastAPI's included-router wrappers."""
    found: list[tuple[str, set[str]]] = []
    for route in routes:
        if hasattr(route, "original_router"):
            found += _api_routes(route.original_router.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            found.append((prefix + route.path, set(route.methods)))
    return found


def _state_changing_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes = []
    for template, methods in _api_routes(list(app.routes)):
        for method in methods - {"GET", "HEAD", "OPTIONS"}:
            path = template.replace("{arxiv_id:path}", "2605.28820").replace("{name}", "alice")
            path = path.replace("{comment_id}", "1").replace("{token_id}", "1")
            routes.append((method, path))
    return routes


def test_every_state_changing_route_needs_a_csrf_token(client: TestClient, app: FastAPI) -> None:
    sign_up(client, "alice")
    exempt = getattr(app.state, "csrf_exempt_paths", set())
    routes = [(m, p) for m, p in _state_changing_routes(app) if p not in exempt]
    assert len(routes) >= 20
    for method, path in routes:
        response = client.request(method, path, data={"body": "x", "action": "up"})
        assert response.status_code == 403, (method, path)
        assert "CSRF" in response.text
        wrong = client.request(method, path, headers={"X-CSRF-Token": "0" * 64})
        assert wrong.status_code == 403, (method, path)
    # Still signed in, nothing changed.
    assert client.get("/api/me").status_code == 200
    assert client.get("/api/users/alice").json()["upvoted"] == []


def test_a_token_from_another_session_is_refused(client: TestClient, app: FastAPI) -> None:
    sign_up(client, "alice")
    mallory = sign_up(new_client(app), "mallory")
    foreign = page_csrf(mallory, "/")
    response = client.post("/vote/2605.28820", data={"csrf_token": foreign, "action": "up"})
    assert response.status_code == 403


def test_gets_never_change_state(client: TestClient) -> None:
    sign_up(client, "alice")
    before = client.get("/api/papers/2605.28820").json()["upvotes"]
    for path in (
        "/vote/2605.28820?action=up",
        "/logout",
        "/curate?action=remove",
        "/comments/1/delete",
        "/settings/sign-out-everywhere",
    ):
        assert client.get(path).status_code in (404, 405), path
    assert client.get("/api/me").status_code == 200
    assert client.get("/api/papers/2605.28820").json()["upvotes"] == before


def test_bearer_token_calls_need_no_csrf_and_ignore_cookies(client: TestClient, app: FastAPI) -> None:
    sign_up(client, "alice")
    created = client.post("/api/tokens", json={"label": "script"}, headers={"X-CSRF-Token": page_csrf(client)})
    token = created.json()["token"]
    bot = new_client(app)
    bearer = {"Authorization": f"Bearer {token}"}
    assert bot.put("/api/papers/2605.28820/vote", headers=bearer).json()["voted"] is True
    assert bot.get("/api/me", headers=bearer).json()["name"] == "alice"
    # A bad token is refused even alongside a valid session cookie.
    assert client.put("/api/papers/2605.28820/vote", headers={"Authorization": "Bearer nope"}).status_code == 401
    client.delete(f"/api/tokens/{created.json()['id']}", headers={"X-CSRF-Token": page_csrf(client)})
    assert bot.get("/api/me", headers=bearer).status_code == 401


def test_script_in_display_name_title_comment_and_query_is_inert(client: TestClient, app: FastAPI) -> None:
    payload = XSS[0]
    sign_up(client, "alice", display_name=payload)
    with app.state.session_factory() as session:
        session.execute(update(Paper).where(Paper.arxiv_id == "2605.28820").values(title=f"Title {XSS[1]}"))
        session.commit()
    for body in XSS:
        client.post("/papers/2605.28820/comments", data={"csrf_token": page_csrf(client), "body": body})
    client.post("/vote/2605.28820", data={"csrf_token": page_csrf(client), "action": "up"})
    pages = [
        client.get("/papers/2605.28820").text,
        client.get(f"/date/{DAY}").text,
        client.get("/u/alice").text,
        client.get("/trending").text,
        client.get(f"/search?q={XSS[1]}").text,
        client.get(f"/login?next={XSS[1]}").text,
    ]
    for html in pages:
        for raw in (
            "<script>alert",
            "<img src=x",
            "<svg/onload",
            '<a href="javascript:',
            'href="javascript:alert(1)" rel',
            "<iframe",
        ):
            assert raw not in html
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in pages[2]  # shown as text, not run


def test_sql_metacharacters_are_just_text(client: TestClient, app: FastAPI) -> None:
    for index, text in enumerate(SQL):
        browser = new_client(app)
        token = page_csrf(browser, "/signup")
        response = browser.post(
            "/signup",
            data={
                "csrf_token": token,
                "email": f"u{index}@example.org",
                "name": f"u{index}",
                "password": f"{text} long enough",
                "display_name": text,
            },
        )
        assert response.status_code == 200  # followed the redirect home
        login = browser.post("/login", data={"csrf_token": page_csrf(browser), "email": text, "password": text})
        assert login.status_code == 401
        body = browser.post("/papers/2605.28820/comments", data={"csrf_token": page_csrf(browser), "body": text})
        assert body.status_code == 200
        assert browser.post("/submit", data={"csrf_token": page_csrf(browser), "arxiv": text}).status_code == 400
        assert browser.get(f"/u/{text}").status_code == 404
        assert browser.get("/api/me").json()["displayName"] == " ".join(text.split())
    bodies = [c["body"] for c in client.get("/api/papers/2605.28820/comments").json()]
    assert bodies == [t.strip() for t in SQL]
