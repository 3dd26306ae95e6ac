"""Top-k selection is exact: the k best by score, ties broken by the lower row, whatever the path."""

from __future__ import annotations

import numpy as np
import pytest

from broadsheet.search import select
from broadsheet.search.select import top_k


def _by_sorting(scores: np.ndarray, k: int, candidates: np.ndarray) -> list[int]:
    return sorted(candidates.tolist(), key=lambda row: (-scores[row], row))[:k]


@pytest.mark.parametrize("shape", ["uniform", "few values", "ascending", "descending"])
def test_top_k_matches_a_full_sort(shape: str) -> None:
    rng = np.random.default_rng(len(shape))
    for _ in range(150):
        n, k = int(rng.integers(1, 20_000)), int(rng.integers(1, 120))
        scores = {
            "uniform": rng.random(n),
            "few values": rng.integers(0, 4, n).astype(float),  # ties at the k-th score
            "ascending": np.sort(rng.random(n)),
            "descending": np.sort(rng.random(n))[::-1],
        }[shape].astype(np.float32)
        candidates = np.flatnonzero(rng.random(n) < 0.7)
        rows, got = top_k(scores, k, candidates)
        want = _by_sorting(scores, k, candidates)
        assert rows.tolist() == want
        assert got.tolist() == scores[want].tolist()


def test_the_sampled_floor_and_its_fallback_both_stay_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    floors = {"kept some": 0, "kept all": 0}
    real = select._above_sampled_floor

    def counting(candidates: np.ndarray, cand_scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        out = real(candidates, cand_scores, k)
        floors["kept all" if out[0].size == candidates.size else "kept some"] += 1
        return out

    monkeypatch.setattr(select, "_above_sampled_floor", counting)
    rng = np.random.default_rng(7)
    for k in (1, 2, 3, 10, 100):
        for _ in range(40):
            scores = rng.random(5_000).astype(np.float32)
            scores[:: int(rng.integers(2, 400))] += 1.0  # the sample may see only the best
            candidates = np.arange(scores.size)
            assert top_k(scores, k, candidates)[0].tolist() == _by_sorting(scores, k, candidates)
    assert floors["kept some"] > 0 and floors["kept all"] > 0


def test_nothing_to_choose_from() -> None:
    assert top_k(np.ones(5, np.float32), 0, np.arange(5))[0].size == 0
    assert top_k(np.ones(5, np.float32), 3, np.arange(0))[0].size == 0
