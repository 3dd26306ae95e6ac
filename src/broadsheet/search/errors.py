"""Errors raised by the search engine and its index files, under the project's exception tree."""

from __future__ import annotations

from broadsheet.errors import BroadsheetError


class SearchError(BroadsheetError):
    """Base class of search errors."""

    status = 500


class IndexFormatError(SearchError):
    """An index or vectors directory is missing files, corrupt, or of the wrong shape."""


class ModelMismatchError(SearchError):
    """Vectors were made by another embedding model than the one in use."""

    status = 409


class VectorVerificationError(SearchError):
    """Re-embedding a sample of texts does not reproduce the supplied vectors."""

    status = 409
