"""Helpers for community tests: sign up through the real forms, read CSRF tokens off pages."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.community.security import hash_password
from broadsheet.models import User
from tests.fixtures.postgres import postgres_database, postgres_url  # noqa: F401 (fixtures)

CSRF_IN_PAGE = re.compile(r'name="csrf_token" value="([0-9a-f]*)"')
PASSWORD = "correct horse battery"
_HASH: list[str] = []


def page_csrf(client: TestClient, path: str = "/login") -> str:
    """The CSRF token a page embeds in its forms, as a browser would submit it."""
    response = client.get(path)
    match = CSRF_IN_PAGE.search(response.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_up(client: TestClient, name: str, *, display_name: str = "", password: str = PASSWORD) -> TestClient:
    token = page_csrf(client, "/signup")
    form = {
        "email": f"{name}@example.org",
        "name": name,
        "password": password,
        "display_name": display_name,
        "csrf_token": token,
        "next": "/",
    }
    response = client.post("/signup", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def new_client(app: FastAPI) -> TestClient:
    """Another browser: its own cookie jar, same app."""
    return TestClient(app)


def quick_users(factory: sessionmaker[Session], count: int, prefix: str = "user") -> list[int]:
    """Users written straight to the database (one argon2 hash shared), for tests that need many."""
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    with factory() as session:
        users = [
            User(email=f"{prefix}{i}@example.org", name=f"{prefix}{i}", display_name="", password_hash=_HASH[0])
            for i in range(count)
        ]
        session.add_all(users)
        session.commit()
        return [user.id for user in users]


@pytest.fixture
def signed_in(client: TestClient) -> TestClient:
    return sign_up(client, "alice")
