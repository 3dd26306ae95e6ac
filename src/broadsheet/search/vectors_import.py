"""Loads a directory of precomputed paper vectors and verifies it by re-embedding a random sample.

The directory holds `vectors.f16.npy` (float16, unit rows, one per id), `ids.txt` (one id a line)
and `manifest.json` (model, dim, count, ...), as in `shared/data/arxiv/embeddings_minilm/`.
Nothing is imported unless the manifest names the embedder's model, the files agree in shape, and
a re-embedded random sample (at least 32 texts) has cosine >= 0.99 with the supplied vectors.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from broadsheet.search.embedder import Embedder
from broadsheet.search.errors import IndexFormatError, ModelMismatchError, VectorVerificationError
from broadsheet.search.text import embedding_text, text_hash

MIN_SAMPLE = 32


@dataclass(frozen=True)
class VectorsDir:
    """The checked content of a vectors directory: ids, float32 unit vectors, manifest."""

    ids: list[str]
    vectors: np.ndarray
    manifest: dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.manifest.get("model", ""))


@dataclass(frozen=True)
class VerifiedVectors:
    """Vectors that passed verification, and what the check found."""

    ids: list[str]
    vectors: np.ndarray
    manifest: dict[str, Any]
    sampled: int
    min_cosine: float
    texts_match: bool | None  # None when the caller did not supply every text


def model_id_of(manifest: Mapping[str, Any]) -> str:
    """The model id a manifest names: `model` up to any " (...)" note, or `model_id`."""
    name = str(manifest.get("model_id") or manifest.get("model") or "")
    return name.split(" (", 1)[0].strip()


def read_vectors_dir(path: str | os.PathLike[str]) -> VectorsDir:
    """Read and shape-check a vectors directory; raises `IndexFormatError` with the reason."""
    path = Path(path)
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"{path}/manifest.json is missing or not JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise IndexFormatError(f"{path}/manifest.json is not a JSON object")
    try:
        vectors = np.load(path / "vectors.f16.npy", allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, EOFError) as exc:
        raise IndexFormatError(f"{path}/vectors.f16.npy is corrupt or unreadable: {exc}") from exc
    try:
        ids = (path / "ids.txt").read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"{path}/ids.txt is missing or unreadable: {exc}") from exc
    dim = int(manifest.get("dim", -1))
    count = int(manifest.get("count", -1))
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise IndexFormatError(f"{path}: vectors have shape {vectors.shape}, manifest says dim {dim}")
    if vectors.shape[0] != len(ids) or len(ids) != count:
        raise IndexFormatError(
            f"{path}: {vectors.shape[0]} vectors, {len(ids)} ids, manifest count {count}; they must agree"
        )
    if len(set(ids)) != len(ids):
        raise IndexFormatError(f"{path}/ids.txt has duplicate ids")
    dense = np.asarray(vectors, dtype=np.float32)
    if not np.isfinite(dense).all():
        raise IndexFormatError(f"{path}/vectors.f16.npy holds NaN or infinite values")
    norms = np.linalg.norm(dense, axis=1)
    if dense.shape[0] and float(np.abs(norms - 1.0).max()) > 0.01:
        raise IndexFormatError(
            f"{path}: vectors are not unit length (norms from {norms.min():.3f} to {norms.max():.3f})"
        )
    return VectorsDir(ids=ids, vectors=dense, manifest=manifest)


def verify_vectors(
    path: str | os.PathLike[str],
    texts: Mapping[str, tuple[str, str]],
    embedder: Embedder,
    sample_size: int = MIN_SAMPLE,
    min_cosine: float = 0.99,
    seed: int | None = None,
) -> VerifiedVectors:
    """Load vectors from `path` and prove they are this model's vectors of these texts.

    `texts` maps id -> (title, abstract) for the papers the caller has. A random sample of at
    least `MIN_SAMPLE` ids that have texts is re-embedded; any cosine below `min_cosine` refuses
    the whole directory (`VectorVerificationError`), as does a manifest naming another model
    (`ModelMismatchError`) or a corrupt file (`IndexFormatError`). When `texts` covers every id,
    the manifest's `texts_sha256` is also compared (`texts_match`); a mismatch is reported, not
    raised, because a few updated abstracts are expected: re-embed those via their text hash.
    """
    found = read_vectors_dir(path)
    model = model_id_of(found.manifest)
    if model != embedder.model_id:
        raise ModelMismatchError(
            f"{path}: vectors were made by model {model!r}, but this index uses {embedder.model_id!r}"
        )
    if found.vectors.shape[1] != embedder.dim:
        raise ModelMismatchError(f"{path}: vectors have dim {found.vectors.shape[1]}, model gives {embedder.dim}")
    covered = [i for i, doc_id in enumerate(found.ids) if doc_id in texts]
    if not covered:
        raise VectorVerificationError(f"{path}: none of its {len(found.ids)} ids has a text to check against")
    rng = random.Random(seed)
    sample = rng.sample(covered, min(max(sample_size, MIN_SAMPLE), len(covered)))
    fresh = embedder.encode([embedding_text(*texts[found.ids[i]]) for i in sample])
    cosines = np.sum(fresh * found.vectors[sample], axis=1)
    worst = int(np.argmin(cosines))
    if cosines[worst] < min_cosine:
        bad = int(np.sum(cosines < min_cosine))
        raise VectorVerificationError(
            f"{path}: {bad} of {len(sample)} re-embedded papers differ from the supplied vectors "
            f"(worst: {found.ids[sample[worst]]} cosine {cosines[worst]:.4f} < {min_cosine}); "
            "the file does not match this model or these texts"
        )
    texts_match = None
    if len(covered) == len(found.ids) and "texts_sha256" in found.manifest:
        joined = "\n".join(embedding_text(*texts[i]) for i in found.ids)
        texts_match = text_hash(joined) == found.manifest["texts_sha256"]
    return VerifiedVectors(
        ids=found.ids,
        vectors=found.vectors,
        manifest=found.manifest,
        sampled=len(sample),
        min_cosine=float(cosines[worst]),
        texts_match=texts_match,
    )


def write_vectors_dir(
    path: str | os.PathLike[str],
    ids: Sequence[str],
    vectors: np.ndarray,
    model_id: str,
    texts: Sequence[str] | None = None,
    **notes: Any,
) -> None:
    """Write vectors in the same layout (float16), e.g. to precompute a benchmark corpus once."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vectors = np.asarray(vectors)
    if vectors.shape[0] != len(ids):
        raise ValueError("one vector per id expected")
    np.save(path / "vectors.f16.npy", vectors.astype(np.float16))
    (path / "ids.txt").write_text("".join(f"{i}\n" for i in ids))
    manifest: dict[str, Any] = {
        "model": model_id,
        "text": "title + ' ' + abstract, whitespace collapsed; model truncation at 256 tokens",
        "normalized": True,
        "dtype": "float16",
        "dim": int(vectors.shape[1]),
        "count": len(ids),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **notes,
    }
    if texts is not None:
        manifest["texts_sha256"] = text_hash("\n".join(texts))
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
