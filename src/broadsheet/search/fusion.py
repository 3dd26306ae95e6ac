"""Combines a keyword ranking and a semantic ranking into one: normalised score blending or RRF."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

FusionMethod = Literal["zscore", "minmax", "bounded", "bounded_raw", "rrf"]


@dataclass(frozen=True)
class FusionParams:
    """How to fuse: `method`, weight of the semantic side in [0, 1], and candidates taken per side."""

    method: FusionMethod = "zscore"
    dense_weight: float = 0.5
    depth: int = 100
    rrf_k: int = 60


def normalise(values: np.ndarray, reference: np.ndarray, method: FusionMethod) -> np.ndarray:
    """Scale `values` by the statistics of `reference` (one side's top-`depth` scores).

    Statistics over the top of each list, not over the whole collection, so the result is the same
    whether the semantic side was searched exactly or through HNSW.
    """
    values = values.astype(np.float64)
    if method == "bounded_raw":
        return values
    if reference.size == 0:
        return np.zeros_like(values)
    if method in ("minmax", "bounded"):
        lo, hi = float(reference.min()), float(reference.max())
        return (values - lo) / (hi - lo) if hi > lo else values - lo
    mean, std = float(reference.mean()), float(reference.std())
    return (values - mean) / std if std > 0 else values - mean


def blend(
    lexical: np.ndarray,
    dense: np.ndarray,
    lexical_top: np.ndarray,
    dense_top: np.ndarray,
    params: FusionParams,
    lexical_bound: float = 0.0,
) -> np.ndarray:
    """Fused score of each candidate from its raw `lexical` and `dense` scores.

    `lexical_top`/`dense_top` are the scores of each side's own top-`depth` list (for normalising).
    The "bounded" methods divide BM25 by `lexical_bound`, the best score any document could get for
    the query (sum of its terms' idf), so matching only minor words of a query stays a small score;
    "bounded" min-max scales the semantic side, "bounded_raw" keeps raw cosines.
    A side with no results (a query of stop words only) contributes nothing.
    """
    w = params.dense_weight
    if params.method in ("bounded", "bounded_raw"):
        lex = lexical.astype(np.float64) / lexical_bound if lexical_bound > 0 else np.zeros(lexical.size)
        return (1.0 - w) * lex + w * normalise(dense, dense_top, params.method)
    if lexical_top.size == 0:
        return normalise(dense, dense_top, params.method)
    if dense_top.size == 0:
        return normalise(lexical, lexical_top, params.method)
    return (1.0 - w) * normalise(lexical, lexical_top, params.method) + w * normalise(dense, dense_top, params.method)


def reciprocal_rank(
    candidates: np.ndarray, lexical_rows: np.ndarray, dense_rows: np.ndarray, params: FusionParams
) -> np.ndarray:
    """Weighted reciprocal rank fusion: sum over sides of weight / (rrf_k + rank), rank from 1."""
    w = params.dense_weight
    out = np.zeros(candidates.size, dtype=np.float64)
    for rows, weight in ((lexical_rows, 1.0 - w), (dense_rows, w)):
        rank = {int(r): i + 1 for i, r in enumerate(rows)}
        out += np.array([weight / (params.rrf_k + rank[int(c)]) if int(c) in rank else 0.0 for c in candidates])
    return out
