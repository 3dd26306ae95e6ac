"""End to end in chromium: sign up, submit, upvote from another account, comment, trending, profiles."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import expect

from tests.community.conftest import PASSWORD
from tests.fixtures.browser import LiveServer, screenshot

pytestmark = pytest.mark.browser


def sign_up_in_browser(tab: Any, url: str, name: str, display_name: str) -> None:
    tab.goto(f"{url}/signup")
    tab.fill("#email", f"{name}@example.org")
    tab.fill("#name", name)
    tab.fill("#display_name", display_name)
    tab.fill("#password", PASSWORD)
    tab.click("button[type=submit]:has-text('Create account')")
    tab.wait_for_url(f"{url}/")
    assert tab.locator(f".account-nav a[href='/u/{name}']").is_visible()


def test_community_end_to_end(app: FastAPI, live_server: LiveServer, page: Any, browser: Any) -> None:
    app.state.settings.submission_max_age_days = 100_000  # the bundled papers are older than 14 days
    url = live_server.url
    sign_up_in_browser(page, url, "alice", "Alice <b>Researcher</b>")

    # Submit a paper from an earlier feed day; it lands in today's feed, submitted by alice.
    page.click("nav.main-nav a[href='/submit']")
    page.fill("#arxiv", "not-an-id")
    page.click("button:has-text('Submit')")
    assert "is not an arXiv id or URL" in page.locator(".notice.error").inner_text()
    page.fill("#arxiv", "https://arxiv.org/abs/2605.11609")
    page.click("button:has-text('Submit')")
    page.wait_for_url("**/date/**")
    card = page.locator("#paper-2605\\.11609")
    assert "submitted by alice" in card.inner_text()
    screenshot(page, "community-feed")

    # Bob upvotes it from the paper page without a reload, then comments.
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    bob = context.new_page()
    sign_up_in_browser(bob, url, "bob", "Bob")
    bob.goto(f"{url}/papers/2605.11609")
    bob.evaluate("window.__same_page = true")
    button = bob.locator("form.vote-form button").first
    before = int(button.locator(".count").inner_text())
    button.click()
    # A locator assertion, not wait_for_function: polling a string predicate is an eval, which the pages' CSP refuses.
    expect(button).to_have_attribute("aria-pressed", "true")
    assert int(button.locator(".count").inner_text()) == before + 1
    assert bob.evaluate("window.__same_page === true")  # no page load happened
    bob.fill("#comment-body", "Great **paper**! <script>window.__pwned = 1</script>")
    bob.click("button:has-text('Comment')")
    bob.wait_for_selector(".comment-body strong")
    assert bob.locator(".comment-body strong").inner_text() == "paper"
    assert bob.evaluate("window.__pwned === undefined")
    bob.reload()
    assert bob.locator("form.vote-form button").first.get_attribute("aria-pressed") == "true"
    screenshot(bob, "community-paper")

    # It trends, and both profiles show what happened.
    bob.goto(f"{url}/trending")
    assert "ranks the week ending" not in bob.content()
    assert bob.locator("#paper-2605\\.11609").is_visible()
    screenshot(bob, "community-trending")
    bob.goto(f"{url}/u/bob")
    assert "Great paper" in bob.locator("#comments").inner_text()
    assert bob.locator("#upvoted a[href='/papers/2605.11609']").is_visible()
    page.goto(f"{url}/u/alice")
    assert page.locator("#submitted #paper-2605\\.11609").is_visible()
    assert "Alice <b>Researcher</b>" in page.locator("h1").inner_text()  # shown as text, not markup

    # Sign out is a POST from the header button.
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{url}/")
    assert page.locator(".account-nav a[href='/login']").is_visible()
    context.close()
