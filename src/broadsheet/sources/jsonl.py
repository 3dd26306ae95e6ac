"""Streaming JSON-lines reading (plain or gzip) with per-line problems instead of a failed import."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from broadsheet.sources.records import InvalidArxivId, RecordProblem, normalize_arxiv_id

_GZIP_MAGIC = b"\x1f\x8b"


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Stream (line number, raw line) from a plain or gzip file; gzip is detected by its magic bytes.

    A gzip stream that ends early raises `EOFError`/`gzip.BadGzipFile` after the lines before the cut.
    """
    with path.open("rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        if magic == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield from enumerate(unzipped, start=1)
        else:
            yield from enumerate(raw, start=1)


def read_json_objects(path: Path) -> Iterator[tuple[str, dict[str, Any] | RecordProblem]]:
    """Yield ("path:line", object) for each JSON-object line; bad lines come back as RecordProblem.

    Blank lines are skipped. A gzip file cut short yields the lines before the cut and then one
    problem saying so, rather than losing everything already read.
    """
    last_line = 0
    try:
        for line_number, raw in read_lines(path):
            last_line = line_number
            location = f"{path}:{line_number}"
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
                yield location, RecordProblem(location, _id_hint(raw), f"not valid JSON: {exc}")
                continue
            if not isinstance(value, dict):
                yield (
                    location,
                    RecordProblem(location, None, f"expected a JSON object, got {type(value).__name__}"),
                )
                continue
            yield location, value
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        location = f"{path}:{last_line + 1}"
        yield location, RecordProblem(location, None, f"compressed file is damaged or cut short: {exc}")


def _id_hint(raw: bytes) -> str | None:
    """The "id" of a broken line when it is still readable, so the problem names the paper."""
    marker = b'"id":'
    start = raw.find(marker)
    if start < 0:
        return None
    rest = raw[start + len(marker) :].lstrip()
    if not rest.startswith(b'"'):
        return None
    end = rest.find(b'"', 1)
    if end <= 0:
        return None
    try:
        return normalize_arxiv_id(rest[1:end].decode("utf-8"))
    except (UnicodeDecodeError, InvalidArxivId):
        return None


def files_in(path: Path, patterns: tuple[str, ...]) -> list[Path]:
    """`path` itself if it is a file, else the files in it matching any pattern, sorted by name."""
    if path.is_dir():
        found = {match for pattern in patterns for match in path.glob(pattern) if match.is_file()}
        return sorted(found)
    return [path]
