"""The one HTTP client the arXiv sources use: timeouts, a politeness delay, bounded retries with backoff."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Self, TypeVar

import httpx
from lxml import etree

from broadsheet.sources.errors import MalformedResponse, SourceHttpError, SourceUnavailable

T = TypeVar("T")
QueryParams = Mapping[str, str | int]

# Status codes worth another try: the server is overloaded or restarting, not refusing the request.
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """How politely and persistently to talk to a remote source."""

    timeout_s: float = 30.0  # connect/read/write/pool timeout of each request
    politeness_delay_s: float = 3.0  # minimum gap between requests; arXiv asks for 3 s
    max_attempts: int = 5  # first try plus retries
    backoff_initial_s: float = 2.0  # wait before the first retry, doubled each time
    backoff_max_s: float = 60.0  # ceiling for one backoff wait
    retry_after_max_s: float = 300.0  # a server's Retry-After is honoured up to this many seconds
    user_agent: str = "Broadsheet/0.1 (daily papers site; https://github.com/broadsheet)"


class PoliteClient:
    """GETs against one slow, rate-limited service (arXiv), retrying what is worth retrying.

    - Waits `politeness_delay_s` between the end of one request and the start of the next.
    - Retries connection errors, timeouts, 429 and 5xx with exponential backoff; a 503/429 with a
      `Retry-After` (seconds or HTTP date) waits that long instead, capped at `retry_after_max_s`.
    - Raises `SourceUnavailable` once `max_attempts` are spent, `SourceHttpError` at once for other
      4xx answers, and `MalformedResponse` when a body never parses (see `get_parsed`).

    `sleep` and `clock` are injectable so tests run without waiting; `transport` lets a caller
    plug in any httpx transport.
    """

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings or HttpSettings()
        self._sleep = sleep
        self._clock = clock
        self._last_request_end: float | None = None
        self._http = httpx.Client(
            timeout=self.settings.timeout_s,
            headers={"User-Agent": self.settings.user_agent},
            follow_redirects=True,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get_bytes(self, url: str, params: QueryParams | None = None) -> bytes:
        """The body of a successful GET, after retries."""
        return self.get_parsed(url, params, parse=lambda body: body)

    def get_xml(self, url: str, params: QueryParams | None = None) -> etree._Element:
        """The parsed XML root of a GET. A body that is not well-formed XML (typically a response
        cut short by an overloaded server) is fetched again like a 5xx, then `MalformedResponse`."""
        return self.get_parsed(url, params, parse=parse_xml)

    def get_parsed(self, url: str, params: QueryParams | None, *, parse: Callable[[bytes], T]) -> T:
        """GET and parse; `parse` raising `ValueError` (lxml's XMLSyntaxError is one) counts as a failed
        attempt, because arXiv's truncated bodies arrive with a 200."""
        settings = self.settings
        full_url = str(httpx.URL(url, params=dict(params) if params else None))
        last_failure = ""
        for attempt in range(1, settings.max_attempts + 1):
            self._wait_politely()
            wait_s: float | None = None
            try:
                response = self._http.get(full_url)
            except httpx.TransportError as exc:
                last_failure = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code in _RETRYABLE_STATUS:
                    last_failure = f"HTTP {response.status_code}"
                    wait_s = self._retry_after(response)
                elif response.is_error:
                    raise SourceHttpError(
                        f"{full_url} answered HTTP {response.status_code}: {response.text[:200]}",
                        url=full_url,
                        upstream_status=response.status_code,
                    )
                else:
                    try:
                        return parse(response.content)
                    except ValueError as exc:
                        last_failure = f"unreadable response ({len(response.content)} bytes): {exc}"
                        if attempt == settings.max_attempts:
                            raise MalformedResponse(
                                f"{full_url} gave an unreadable response after {attempt} attempts: {last_failure}",
                                url=full_url,
                            ) from exc
            finally:
                self._last_request_end = self._clock()
            if attempt < settings.max_attempts:
                self._sleep(wait_s if wait_s is not None else self._backoff(attempt))
        raise SourceUnavailable(
            f"{full_url} still failing after {settings.max_attempts} attempts (last: {last_failure})",
            url=full_url,
        )

    def _wait_politely(self) -> None:
        if self._last_request_end is None or self.settings.politeness_delay_s <= 0:
            return
        remaining = self._last_request_end + self.settings.politeness_delay_s - self._clock()
        if remaining > 0:
            self._sleep(remaining)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.settings.backoff_initial_s * 2 ** (attempt - 1), self.settings.backoff_max_s))

    def _retry_after(self, response: httpx.Response) -> float | None:
        """Seconds the server asked us to wait (RFC 9110: delay-seconds or an HTTP date), capped."""
        header = response.headers.get("Retry-After")
        if header is None:
            return None
        text = header.strip()
        seconds: float
        if text.isdigit():
            seconds = float(text)
        else:
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - datetime.now(UTC)).total_seconds()
        return max(0.0, min(seconds, self.settings.retry_after_max_s))


def parse_xml(body: bytes) -> etree._Element:
    """Parse untrusted XML without fetching anything or expanding entities; raises ValueError if broken."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        return etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc
