"""The one exception tree: every error a user can cause, with the HTTP status it maps to."""

from __future__ import annotations


class BroadsheetError(Exception):
    """Base of every error Broadsheet reports to a user."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NotFound(BroadsheetError):
    status = 404


class InvalidInput(BroadsheetError):
    status = 400


class Forbidden(BroadsheetError):
    status = 403


class Unauthorized(BroadsheetError):
    status = 401


class Conflict(BroadsheetError):
    status = 409


class TooManyRequests(BroadsheetError):
    status = 429
