"""Errors a subscriber or the digest job can run into."""

from __future__ import annotations

from broadsheet.errors import BroadsheetError, InvalidInput


class BadToken(BroadsheetError):
    """A confirmation, unsubscribe or preferences link that is forged, altered, expired or void."""

    status = 400


class InvalidSubscription(InvalidInput):
    """A subscription form with a field out of range."""


class TemporarySendError(Exception):
    """The mail server could not take the message now (4xx, lost connection); worth retrying."""


class PermanentSendError(Exception):
    """The mail server refused the message for good (5xx)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class RunInProgress(BroadsheetError):
    """Another live process is already sending this period."""

    status = 409
