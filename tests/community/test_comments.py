"""Comments: safe Markdown, one level of replies, edit and delete your own, admins hide, counts on cards."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from broadsheet.models import User
from tests.community.conftest import new_client, page_csrf, sign_up

DAY = "2026-05-28"


def a_paper(client: TestClient) -> tuple[str, int]:
    item = client.get(f"/api/daily_papers?date={DAY}").json()[0]
    return item["paper"]["id"], item["numComments"]


def comment(client: TestClient, arxiv_id: str, body: str, parent: int | None = None) -> int:
    data = {"csrf_token": page_csrf(client, f"/papers/{arxiv_id}"), "body": body, "parent_id": str(parent or "")}
    response = client.post(f"/papers/{arxiv_id}/comments", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("comment-", 1)[1])


def test_comment_markdown_is_rendered_and_counted(client: TestClient) -> None:
    sign_up(client, "alice")
    arxiv_id, before = a_paper(client)
    comment(client, arxiv_id, "Nice **results**, see [code](https://github.com/x/y).\n\n- one\n- two")
    page = client.get(f"/papers/{arxiv_id}").text
    assert "Nice <strong>results</strong>" in page and "<li>one</li>" in page
    assert 'href="https://github.com/x/y" rel="nofollow noopener noreferrer ugc"' in page
    assert a_paper(client)[1] == before + 1
    assert f"{before + 1} comments" in client.get(f"/date/{DAY}").text


def test_replies_are_one_level_deep(client: TestClient) -> None:
    sign_up(client, "alice")
    arxiv_id, _ = a_paper(client)
    top = comment(client, arxiv_id, "top")
    reply = comment(client, arxiv_id, "reply", parent=top)
    deeper = comment(client, arxiv_id, "reply to reply", parent=reply)
    threads = client.get(f"/api/papers/{arxiv_id}/comments").json()
    assert len(threads) == 1 and [r["id"] for r in threads[0]["replies"]] == [reply, deeper]
    assert all(r["parentId"] == top for r in threads[0]["replies"])


def test_edit_and_delete_only_your_own(client: TestClient, app: FastAPI) -> None:
    sign_up(client, "alice")
    arxiv_id, before = a_paper(client)
    mine = comment(client, arxiv_id, "first draft")
    bob = sign_up(new_client(app), "bob")
    token = page_csrf(bob, "/")
    assert bob.post(f"/comments/{mine}/edit", data={"csrf_token": token, "body": "hacked"}).status_code == 403
    assert bob.post(f"/comments/{mine}/delete", data={"csrf_token": token}).status_code == 403
    assert bob.get(f"/comments/{mine}/edit").status_code == 403
    assert "first draft" in client.get(f"/comments/{mine}/edit").text
    token = page_csrf(client, "/")
    client.post(f"/comments/{mine}/edit", data={"csrf_token": token, "body": "final text"})
    page = client.get(f"/papers/{arxiv_id}").text
    assert "final text" in page and "first draft" not in page and "edited" in page
    client.post(f"/comments/{mine}/delete", data={"csrf_token": token})
    assert "final text" not in client.get(f"/papers/{arxiv_id}").text
    assert a_paper(client)[1] == before


def test_admins_hide_any_comment(client: TestClient, app: FastAPI) -> None:
    sign_up(client, "alice")
    arxiv_id, before = a_paper(client)
    rude = comment(client, arxiv_id, "something rude")
    admin = sign_up(new_client(app), "root")
    token = page_csrf(admin, "/")
    assert admin.post(f"/comments/{rude}/hide", data={"csrf_token": token}).status_code == 403
    with app.state.session_factory() as session:
        session.scalars(select(User).where(User.name == "root")).one().role = "admin"
        session.commit()
    admin.post(f"/comments/{rude}/hide", data={"csrf_token": token, "hidden": "1"})
    assert "something rude" not in client.get(f"/papers/{arxiv_id}").text
    assert "hidden by a moderator" in client.get(f"/papers/{arxiv_id}").text
    assert "something rude" in admin.get(f"/papers/{arxiv_id}").text  # admins still see it, marked hidden
    assert a_paper(client)[1] == before
    hidden = admin.put(f"/api/comments/{rude}/hidden", json={"hidden": False}, headers={"X-CSRF-Token": token})
    assert hidden.status_code == 200 and hidden.json()["hidden"] is False
    assert a_paper(client)[1] == before + 1


def test_comment_api(client: TestClient) -> None:
    sign_up(client, "alice")
    arxiv_id, _ = a_paper(client)
    header = {"X-CSRF-Token": page_csrf(client, "/")}
    created = client.post(f"/api/papers/{arxiv_id}/comments", json={"body": "via *API*"}, headers=header)
    assert created.status_code == 201 and created.json()["html"] == "<p>via <em>API</em></p>\n"
    cid = created.json()["id"]
    assert client.patch(f"/api/comments/{cid}", json={"body": "edited"}, headers=header).json()["body"] == "edited"
    assert client.post(f"/api/papers/{arxiv_id}/comments", json={"body": "   "}, headers=header).status_code == 400
    assert client.delete(f"/api/comments/{cid}", headers=header).status_code == 204
    assert client.get(f"/api/papers/{arxiv_id}/comments").json() == []


def test_an_id_no_row_can_have_is_refused_not_looked_up(client: TestClient) -> None:
    """Past PostgreSQL's INTEGER (and SQLite's 64 bits) the database refuses the number itself: a 400, not a 500."""
    sign_up(client, "alice")
    arxiv_id, _ = a_paper(client)
    token = page_csrf(client, "/")
    huge = "99999999999999999999"
    for path in (f"/comments/{huge}/edit", f"/comments/{huge}/delete", f"/settings/tokens/{huge}/revoke"):
        assert client.post(path, data={"csrf_token": token, "body": "x"}).status_code == 400, path
    assert client.get(f"/comments/{huge}/edit").status_code == 400
    header = {"X-CSRF-Token": token}
    assert client.delete(f"/api/comments/{huge}", headers=header).status_code == 400
    assert client.delete(f"/api/tokens/{2**31}", headers=header).status_code == 400
    assert client.delete("/api/comments/2147483647", headers=header).status_code == 404  # could exist; does not
    reply = {"csrf_token": page_csrf(client, f"/papers/{arxiv_id}"), "body": "hi", "parent_id": huge}
    assert client.post(f"/papers/{arxiv_id}/comments", data=reply).status_code == 400
