"""Accounts: sign-up, sign-in, sign-out, sessions, password change, rate limits, cookies and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from broadsheet.models import LoginAttempt, User, UserSession
from broadsheet.settings import Settings
from tests.community.conftest import PASSWORD, new_client, page_csrf, sign_up
from tests.fixtures.app import make_settings


def sign_in(client: TestClient, email: str, password: str) -> tuple[int, str]:
    token = page_csrf(client, "/login")
    data = {"email": email, "password": password, "csrf_token": token, "next": "/"}
    response = client.post("/login", data=data, follow_redirects=False)
    return response.status_code, response.text


def test_sign_up_signs_in_and_stores_an_argon2id_hash(client: TestClient, app: FastAPI) -> None:
    sign_up(client, "alice", display_name="Alice A.")
    me = client.get("/api/me").json()
    assert me["name"] == "alice" and me["email"] == "alice@example.org" and me["role"] == "user"
    assert 'href="/u/alice"' in client.get("/").text
    with app.state.session_factory() as session:
        user = session.scalars(select(User)).one()
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        stored = session.scalars(select(UserSession)).one()
        assert stored.token_hash != client.cookies.get("bs_session")  # only the hash is kept


def test_sign_up_refusals_name_the_field(client: TestClient) -> None:
    sign_up(client, "alice")
    other = new_client(client.app)  # type: ignore[arg-type]
    token = page_csrf(other, "/signup")
    base = {"csrf_token": token, "password": PASSWORD, "next": "/"}
    cases = [
        ({"email": "alice@example.org", "name": "alice2"}, 409, "email"),
        ({"email": "bob@example.org", "name": "ALICE"}, 409, "name"),
        ({"email": "not-an-email", "name": "bob"}, 400, "email"),
        ({"email": "bob@example.org", "name": "<b>bob</b>"}, 400, "name"),
        ({"email": "bob@example.org", "name": "bob", "password": "short"}, 400, "password"),
    ]
    for fields, status, word in cases:
        response = other.post("/signup", data={**base, **fields})
        assert response.status_code == status, fields
        assert f"{word}:" in response.text


def test_sign_out_revokes_the_server_side_session(client: TestClient) -> None:
    sign_up(client, "alice")
    stolen = client.cookies.get("bs_session")
    client.post("/logout", data={"csrf_token": page_csrf(client, "/")}, follow_redirects=False)
    assert client.get("/api/me").status_code == 401
    thief = new_client(client.app)  # type: ignore[arg-type]
    thief.cookies.set("bs_session", stolen or "")
    assert thief.get("/api/me").status_code == 401


def test_sign_in_after_sign_up(client: TestClient) -> None:
    sign_up(client, "alice")
    fresh = new_client(client.app)  # type: ignore[arg-type]
    status, _ = sign_in(fresh, "Alice@Example.org", PASSWORD)
    assert status == 303
    assert fresh.get("/api/me").json()["name"] == "alice"


def test_wrong_password_and_unknown_account_answer_alike(client: TestClient) -> None:
    sign_up(client, "alice")
    fresh = new_client(client.app)  # type: ignore[arg-type]
    status_wrong, body_wrong = sign_in(fresh, "alice@example.org", "wrong password here")
    status_unknown, body_unknown = sign_in(fresh, "nobody@example.org", "wrong password here")
    assert status_wrong == status_unknown == 401
    strip = lambda text: text.replace("alice@example.org", "X").replace("nobody@example.org", "X")  # noqa: E731
    assert strip(body_wrong) == strip(body_unknown)


def test_sign_in_is_rate_limited_per_account(client: TestClient, app: FastAPI) -> None:
    sign_up(client, "alice")
    limit = app.state.settings.login_max_attempts
    for attempt in range(limit):
        # A different address each time: only the per-account limit can stop this.
        attacker = TestClient(app, client=(f"10.0.1.{attempt}", 5000))
        assert sign_in(attacker, "alice@example.org", f"guess {attempt} wrong")[0] == 401
    # Now even the right password is refused for a while, and the answer says why.
    status, body = sign_in(TestClient(app, client=("10.0.2.1", 5000)), "alice@example.org", PASSWORD)
    assert status == 429 and "Too many failed sign-ins" in body
    with app.state.session_factory() as session:  # the state lives in the database, shared by workers
        assert len(session.scalars(select(LoginAttempt)).all()) == limit


def test_sign_in_is_rate_limited_per_address(client: TestClient, app: FastAPI) -> None:
    sign_up(client, "alice")
    attacker = new_client(app)
    for attempt in range(app.state.settings.login_max_attempts):
        assert sign_in(attacker, f"victim{attempt}@example.org", "wrong password")[0] == 401
    # Another account from the same address is refused before its password is checked.
    assert sign_in(attacker, "alice@example.org", PASSWORD)[0] == 429
    # Alice from elsewhere is unaffected.
    with TestClient(app, client=("10.0.0.9", 5000)) as elsewhere:
        assert sign_in(elsewhere, "alice@example.org", PASSWORD)[0] == 303


def test_password_change_signs_out_other_sessions(client: TestClient, app: FastAPI) -> None:
    sign_up(client, "alice")
    laptop = new_client(app)
    assert sign_in(laptop, "alice@example.org", PASSWORD)[0] == 303
    token = page_csrf(client, "/settings")
    bad = client.post("/settings/password", data={"csrf_token": token, "current": "nope", "new": "x" * 12})
    assert bad.status_code == 400 and "current password" in bad.text
    ok = client.post(
        "/settings/password", data={"csrf_token": token, "current": PASSWORD, "new": "a brand new password"}
    )
    assert ok.status_code == 200 and "1 other session signed out" in ok.text
    assert client.get("/api/me").status_code == 200
    assert laptop.get("/api/me").status_code == 401
    assert sign_in(new_client(app), "alice@example.org", "a brand new password")[0] == 303


def test_session_cookie_flags(tmp_path: Path) -> None:
    from broadsheet.web.app import create_app

    for base_url, secure in (("http://127.0.0.1:8000", False), ("https://papers.example.org", True)):
        app = create_app(make_settings(tmp_path / base_url[:5], base_url=base_url))
        with TestClient(app, base_url="https://testserver") as browser:
            sign_up(browser, "alice")
            response = browser.post(
                "/login",
                data={"email": "alice@example.org", "password": PASSWORD, "csrf_token": page_csrf(browser)},
                follow_redirects=False,
            )
            cookie = response.headers["set-cookie"]
            assert cookie.startswith("bs_session=")
            assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
            assert ("Secure" in cookie) is secure
        app.state.engine.dispose()


def test_placeholder_secret_is_refused_in_production(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(environment="production", data_dir=tmp_path)
    assert Settings(environment="development", data_dir=tmp_path).secret_key


def test_cli_creates_the_first_admin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from broadsheet.cli import app as cli
    from broadsheet.db import make_engine, make_session_factory

    monkeypatch.setenv("BROADSHEET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BROADSHEET_ENVIRONMENT", "test")
    runner = CliRunner()
    result = runner.invoke(cli, ["user", "create", "--admin", "Boss@Example.org"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["user", "role", "boss@example.org", "curator"])
    assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{tmp_path / 'broadsheet.sqlite3'}")
    with make_session_factory(engine)() as session:
        boss = session.scalars(select(User)).one()
        assert (boss.email, boss.name, boss.role) == ("boss@example.org", "boss", "curator")
    engine.dispose()
    again = runner.invoke(cli, ["user", "create", "boss@example.org"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert again.exit_code == 1 and "already exists" in again.output
