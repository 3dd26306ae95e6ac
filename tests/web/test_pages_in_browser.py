"""The feed and paper pages, clicked through in Debian's chromium."""

from __future__ import annotations

from typing import Any

from tests.fixtures.browser import LiveServer, screenshot


def test_reader_browses_the_feed_and_opens_a_paper(live_server: LiveServer, page: Any) -> None:
    page.goto(live_server.url + "/")
    assert page.locator("h2.period-label").inner_text() == "Thursday, May 28, 2026"
    assert page.locator("article.card").count() == 29
    screenshot(page, "feed")

    page.click("a[rel=prev] >> nth=0")
    page.wait_for_url("**/date/2026-05-27")
    assert page.locator("article.card").count() == 40

    page.click("nav.views >> text=Week")
    page.wait_for_url("**/week/2026-W22")
    assert "Week 22 of 2026" in page.locator("h2.period-label").inner_text()

    first_title = page.locator("article.card h3 a").first
    title = first_title.inner_text()
    first_title.click()
    page.wait_for_url("**/papers/**")
    assert page.locator("h1.paper-title").inner_text() == title
    assert page.locator("a", has_text="PDF").first.get_attribute("href").startswith("https://arxiv.org/pdf/")
    screenshot(page, "paper")


def test_feed_reads_on_a_phone(live_server: LiveServer, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    phone.goto(live_server.url + "/date/2026-01-05")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "no sideways scrolling on a phone"
    screenshot(phone, "feed-phone")
    context.close()


def test_unknown_paper_shows_a_real_404_page(live_server: LiveServer, page: Any) -> None:
    response = page.goto(live_server.url + "/papers/2601.99999")
    assert response.status == 404
    assert "Not found" in page.locator("h1").inner_text()
