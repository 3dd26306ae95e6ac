"""Security headers: every response refuses framing and type sniffing; pages run only the site's own script."""

from __future__ import annotations

from fastapi.testclient import TestClient

from broadsheet.web.headers import CONTENT_SECURITY_POLICY


def test_pages_and_apis_carry_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/papers/2601.00393", "/search", "/login", "/api/daily_papers", "/feed.rss", "/static/site.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin", path
        is_page = response.headers["content-type"].startswith("text/html")
        assert (response.headers.get("content-security-policy") == CONTENT_SECURITY_POLICY) == is_page, path
    # A cached page gets them as well, and an error page too.
    assert client.get("/").headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    missing = client.get("/papers/2101.99999")
    assert missing.status_code == 404 and missing.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # The interactive API docs load their own script from a CDN: no policy of ours there.
    docs = client.get("/docs")
    assert docs.status_code == 200 and "content-security-policy" not in docs.headers
    assert docs.headers["x-frame-options"] == "DENY"

