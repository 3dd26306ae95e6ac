"""Top-k selection over a score array, restricted to the documents a caller allows."""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the `k` best `candidates` (row numbers) by `scores`, best first, and their scores.

    Ties break by lower row first, so results are deterministic.
    """
    if k <= 0 or candidates.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    cand_scores = scores[candidates]
    if candidates.size > k:
        part = np.argpartition(-cand_scores, k - 1)[:k]
        candidates, cand_scores = candidates[part], cand_scores[part]
    order = np.lexsort((candidates, -cand_scores))
    return candidates[order].astype(np.int64), cand_scores[order].astype(np.float32)
