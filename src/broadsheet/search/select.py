"""Top-k selection over a score array, restricted to the documents a caller allows."""

from __future__ import annotations

import numpy as np

# Past this many candidates per wanted result, a sample first sets a floor that most candidates miss.
_SAMPLED_FROM = 32
_SAMPLE_PER_RESULT = 16


def top_k(scores: np.ndarray, k: int, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the `k` best `candidates` (row numbers) by `scores`, best first, and their scores.

    Ties break by lower row first, so results are deterministic.
    """
    if k <= 0 or candidates.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    cand_scores = scores[candidates]
    if candidates.size > _SAMPLED_FROM * k:
        candidates, cand_scores = _above_sampled_floor(candidates, cand_scores, k)
    if candidates.size > k:
        candidates, cand_scores = _best_k(candidates, cand_scores, k)
    order = np.lexsort((candidates, -cand_scores))
    return candidates[order].astype(np.int64), cand_scores[order].astype(np.float32)


def _best_k(candidates: np.ndarray, cand_scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best, unordered; of those tied with the k-th score, the lowest rows."""
    kth = cand_scores[np.argpartition(-cand_scores, k - 1)[k - 1]]
    above = np.flatnonzero(cand_scores > kth)
    tied = np.flatnonzero(cand_scores == kth)
    tied = tied[np.argsort(candidates[tied], kind="stable")[: k - above.size]]
    keep = np.concatenate((above, tied))
    return candidates[keep], cand_scores[keep]


def _above_sampled_floor(candidates: np.ndarray, cand_scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The candidates scoring at least a floor taken from an evenly spaced sample of them.

    The floor is the sample's score expected to rank about 2k overall, so some hundreds of
    candidates pass, not tens of thousands, and the exact selection runs on those (a 23k-candidate
    BM25 query: 0.05 ms instead of 0.22). Exact whenever at least k pass: every one of the k best
    then scores at least the floor, ties at the k-th score included. Otherwise all are kept.
    """
    step = max(1, candidates.size // (_SAMPLE_PER_RESULT * k))
    sample = cand_scores[::step]
    rank = min(sample.size, max(1, (2 * k) // step))  # 1 = the sample's best
    floor = np.partition(sample, sample.size - rank)[sample.size - rank]
    keep = np.flatnonzero(cand_scores >= floor)
    if keep.size < k:
        return candidates, cand_scores
    return candidates[keep], cand_scores[keep]
