"""Errors raised when a paper source (arXiv API, OAI-PMH, files) cannot be read at all."""

from __future__ import annotations

from broadsheet.errors import BroadsheetError


class SourceError(BroadsheetError):
    """A source could not be read; `url` names the request or file that failed, when there is one.

    Part of the project's one exception tree; as an HTTP answer it is a 502 (the upstream failed).
    """

    status = 502

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class SourceUnavailable(SourceError):
    """The server kept failing (connection errors, timeouts, 5xx) until the retries ran out."""


class SourceHttpError(SourceError):
    """The server answered with an HTTP error that retrying will not fix (e.g. 400, 404)."""

    def __init__(self, message: str, *, url: str | None = None, upstream_status: int) -> None:
        super().__init__(message, url=url)
        self.upstream_status = upstream_status


class MalformedResponse(SourceError):
    """A whole response or file could not be parsed (truncated download, broken XML/JSON)."""


class OaiProtocolError(SourceError):
    """An OAI-PMH repository answered with an `<error code=...>` other than `noRecordsMatch`."""

    def __init__(self, message: str, *, url: str | None = None, code: str) -> None:
        super().__init__(message, url=url)
        self.code = code


class ArxivApiError(SourceError):
    """The arXiv search API reported an error entry (e.g. a malformed query or id)."""

    status = 400
