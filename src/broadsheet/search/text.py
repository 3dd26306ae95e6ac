"""The exact text a paper is embedded from, and the hash that keys its stored vector."""

from __future__ import annotations

import hashlib


def embedding_text(title: str, abstract: str) -> str:
    """Return `title + " " + abstract` with every run of whitespace collapsed to one space."""
    return " ".join(f"{title or ''} {abstract or ''}".split())


def text_hash(text: str) -> str:
    """Return the SHA-256 hex digest of `text` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
