"""Cosine-similarity vector index: exact scan while small, HNSW beyond a size; persisted as a directory.

Rows are append-only: replacing a document appends a row and marks the old one dead, so row
numbers stay stable (the engine uses them as document slots). Search is exact (one matrix-vector
product) up to `ann_threshold` live vectors (50k: ~6 ms on one busy core; at 80k it already takes
~10 ms of a 30 ms query budget, at 1M ~350 ms); beyond it an hnswlib graph (M=16, ef 128: ~1 ms,
recall@10 0.99 at 1M) answers, and new rows are inserted into it incrementally.

On disk (see `save`/`load`): `manifest.json` (format, model id, dim, count, rows, built-at,
segments, ANN parameters), one `seg-NNNNN.f32.npy` + `seg-NNNNN.ids.txt` pair per save that
added rows (saving appends a segment, it never rewrites old ones), `alive.npy`, and `hnsw.bin`
when the graph exists. Loading checks the model id, so vectors of two models are never mixed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from broadsheet.search.errors import IndexFormatError, ModelMismatchError
from broadsheet.search.select import top_k

FORMAT = "broadsheet-vector-index/1"
# With the graph in use, a filter allowing at most this many rows is answered by an exact scan of
# those rows (~3 ms); a broader one by over-fetching from the graph and dropping disallowed rows.
EXACT_FILTER_LIMIT = 20_000
MANIFEST = "manifest.json"
GRAPH_PART = 4096  # rows inserted into the graph between two progress reports
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class AnnParams:
    """hnswlib parameters; `ef_search` is raised to at least k per query."""

    m: int = 16
    ef_construction: int = 100
    ef_search: int = 128


class VectorIndex:
    """Unit vectors of one model, one row per (doc id, version); dot product = cosine similarity."""

    def __init__(
        self,
        model_id: str,
        dim: int,
        ann_threshold: int = 50_000,
        ann: AnnParams | None = None,
        threads: int = 1,
    ) -> None:
        # One thread inserts the rows in order, so the same rows always make the same graph: the
        # workers of `serve`, each adding new papers to its own copy, keep giving a query the same
        # results. Threads race for neighbours: two 2-thread builds of the 74,728 shared vectors gave
        # 80 of 400 queries a different top 100. Only a build that every worker then loads from its
        # saved copy (the first start of `serve`) sets more threads.
        self.model_id = model_id
        self.dim = dim
        self.ann_threshold = ann_threshold
        self.ann = ann or AnnParams()
        self.threads = threads
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self.alive = np.zeros(0, dtype=bool)
        self._n_alive = 0
        self._hnsw: Any = None
        self._saved_rows = 0
        self._segments: list[str] = []
        self.built_at = datetime.now(UTC).isoformat(timespec="seconds")

    # ----------------------------------------------------------------- content
    def __len__(self) -> int:
        return self._n_alive

    @property
    def n_rows(self) -> int:
        return len(self.ids)

    @property
    def vectors(self) -> np.ndarray:
        """All rows (dead ones included), float32 (n_rows, dim)."""
        return self._vectors[: self.n_rows]

    def vector_of(self, doc_id: str) -> np.ndarray | None:
        row = self.row_of.get(doc_id)
        return None if row is None else self._vectors[row]

    def _grow(self, n: int) -> None:
        if n <= self._vectors.shape[0]:
            return
        cap = max(n, int(self._vectors.shape[0] * 1.5) + 1024)
        vectors = np.zeros((cap, self.dim), dtype=np.float32)
        vectors[: self.n_rows] = self.vectors
        alive = np.zeros(cap, dtype=bool)
        alive[: self.n_rows] = self.alive[: self.n_rows]
        self._vectors, self.alive = vectors, alive

    def add(self, ids: Sequence[str], vectors: np.ndarray, on_progress: Progress | None = None) -> np.ndarray:
        """Append one row per id (replacing any live row of the same id); returns the new row numbers.

        `on_progress(done, total)` follows the rows going into the graph, when there is one.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dim}), got {vectors.shape}")
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate ids in one add")
        self.remove(i for i in ids if i in self.row_of)
        start = self.n_rows
        rows = np.arange(start, start + len(ids), dtype=np.int64)
        self._grow(start + len(ids))
        self._vectors[start : start + len(ids)] = vectors
        self.alive[start : start + len(ids)] = True
        self.ids.extend(ids)
        self.row_of.update(zip(ids, rows.tolist(), strict=True))
        self._n_alive += len(ids)
        if self._hnsw is not None:
            self._hnsw_add(rows, on_progress)
        elif self._n_alive > self.ann_threshold:
            self.build_ann(on_progress)
        return rows

    def remove(self, ids: Iterable[str]) -> None:
        """Mark the rows of `ids` dead (unknown ids are ignored)."""
        for doc_id in ids:
            row = self.row_of.pop(doc_id, None)
            if row is not None and self.alive[row]:
                self.alive[row] = False
                self._n_alive -= 1
                if self._hnsw is not None:
                    self._hnsw.mark_deleted(row)

    # ----------------------------------------------------------------- ANN
    @property
    def uses_ann(self) -> bool:
        return self._hnsw is not None

    def build_ann(self, on_progress: Progress | None = None) -> None:
        """Build the HNSW graph over the live rows (called automatically past `ann_threshold`)."""
        import hnswlib

        index = hnswlib.Index(space="ip", dim=self.dim)
        index.init_index(
            max_elements=max(self.n_rows, 1024),
            ef_construction=self.ann.ef_construction,
            M=self.ann.m,
            allow_replace_deleted=False,
        )
        index.set_num_threads(self.threads)
        self._hnsw = index
        self._hnsw_add(np.flatnonzero(self.alive[: self.n_rows]), on_progress)

    def _hnsw_add(self, rows: np.ndarray, on_progress: Progress | None = None) -> None:
        index = self._hnsw
        need = int(rows.max()) + 1 if rows.size else 0
        if need > index.get_max_elements():
            index.resize_index(max(need, int(index.get_max_elements() * 1.5)))
        # In parts, to report progress: rows still go in one after another, so the graph is the same.
        for start in range(0, rows.size, GRAPH_PART):
            part = rows[start : start + GRAPH_PART]
            index.add_items(self._vectors[part], part, num_threads=self.threads)
            if on_progress:
                on_progress(start + part.size, rows.size)

    # ----------------------------------------------------------------- search
    def scores_for(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine similarity of `query` with the given rows (exact, for fusion)."""
        return self._vectors[rows] @ query.astype(np.float32)

    def score_all(self, query: np.ndarray) -> np.ndarray:
        """Cosine similarity of `query` with every row (dead rows included)."""
        return self.vectors @ query.astype(np.float32)

    def search(
        self, query: np.ndarray, k: int = 10, allowed: np.ndarray | None = None, ef: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the `k` most similar live rows (restricted to the `allowed` row mask) and their scores.

        `ef` is the graph search's breadth (default `ann.ef_search`; never below the rows fetched).

        Filtered searches never come back short: without the graph, or with a small allowed set,
        the allowed rows are scanned exactly; a large allowed set over-fetches from the graph in
        proportion to the share filtered out and widens until `k` allowed rows are found, falling
        back to an exact scan of the allowed rows.
        """
        query = np.asarray(query, dtype=np.float32)
        live = self.alive[: self.n_rows]
        mask = live if allowed is None else live & _fit(allowed, self.n_rows)
        if self._hnsw is None:
            rows = np.flatnonzero(mask)
            if rows.size * 3 > self.n_rows:  # a broad filter: one full scan beats gathering the rows
                return top_k(self.score_all(query), k, rows)
            return top_k_rows(self._vectors, query, rows, k)
        rows_allowed = None if allowed is None else np.flatnonzero(mask)
        if rows_allowed is not None and rows_allowed.size <= EXACT_FILTER_LIMIT:
            return top_k_rows(self._vectors, query, rows_allowed, k)
        n_allowed = self._n_alive if rows_allowed is None else int(rows_allowed.size)
        k_eff = min(k, n_allowed)
        if k_eff == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        # A large allowed set: over-fetch from the unfiltered graph in proportion to the share filtered
        # out, keep the allowed rows, and widen until k are found. (hnswlib's in-graph filter calls back
        # into Python for every visited node: ~1.7 s p95 at 1M vectors with 30% allowed.)
        fetch = k_eff if rows_allowed is None else int(k_eff * self._n_alive / n_allowed * 1.5) + 10
        while True:
            fetch = min(fetch, self._n_alive)
            self._hnsw.set_ef(max(self.ann.ef_search if ef is None else ef, fetch))
            labels, dists = self._hnsw.knn_query(query, k=fetch, num_threads=1)
            rows, scores = labels[0].astype(np.int64), (1.0 - dists[0]).astype(np.float32)
            keep = mask[rows]
            if int(keep.sum()) >= k_eff:
                return rows[keep][:k_eff], scores[keep][:k_eff]
            if fetch >= min(self._n_alive, 20_000):
                return top_k_rows(self._vectors, query, np.flatnonzero(mask), k)
            fetch *= 4

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index directory at `path`, or append the new rows to it when it is the one this
        index was loaded from or last saved to."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        existing = path / MANIFEST
        if existing.exists():
            manifest = json.loads(existing.read_text())
            if manifest.get("model_id") != self.model_id:
                raise ModelMismatchError(
                    f"{path} holds vectors of model {manifest.get('model_id')!r}; "
                    f"refusing to append vectors of {self.model_id!r}"
                )
            if manifest.get("segments") != self._segments:
                raise IndexFormatError(f"{path} was changed by someone else since this index was loaded")
        else:  # a new directory gets every row, whichever directory this index came from
            self._segments, self._saved_rows = [], 0
        if self.n_rows > self._saved_rows:
            name = f"seg-{len(self._segments):05d}"
            new = slice(self._saved_rows, self.n_rows)
            _atomic_save_npy(path / f"{name}.f32.npy", self._vectors[new])
            _atomic_write(path / f"{name}.ids.txt", "".join(f"{i}\n" for i in self.ids[new]))
            self._segments.append(name)
            self._saved_rows = self.n_rows
        _atomic_save_npy(path / "alive.npy", self.alive[: self.n_rows])
        if self._hnsw is not None:
            self._hnsw.save_index(str(path / "hnsw.bin.tmp"))
            os.replace(path / "hnsw.bin.tmp", path / "hnsw.bin")
        elif (path / "hnsw.bin").exists():
            (path / "hnsw.bin").unlink()
        manifest = {
            "format": FORMAT,
            "model_id": self.model_id,
            "dim": self.dim,
            "count": self._n_alive,
            "rows": self.n_rows,
            "built_at": self.built_at,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "segments": self._segments,
            "ann": None
            if self._hnsw is None
            else {
                "m": self.ann.m,
                "ef_construction": self.ann.ef_construction,
                "ef_search": self.ann.ef_search,
            },
            "ann_threshold": self.ann_threshold,
        }
        _atomic_write(path / MANIFEST, json.dumps(manifest, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str], model_id: str, threads: int = 1) -> VectorIndex:
        """Open an index directory, refusing it when it was built with another model than `model_id`."""
        path = Path(path)
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"{path}: cannot read {MANIFEST}: {exc}") from exc
        if manifest.get("format") != FORMAT:
            raise IndexFormatError(f"{path}: not a vector index (format {manifest.get('format')!r})")
        if manifest.get("model_id") != model_id:
            raise ModelMismatchError(
                f"{path} holds vectors of model {manifest.get('model_id')!r}, not {model_id!r}; "
                "rebuild the index for this model"
            )
        ann = manifest.get("ann")
        index = cls(
            model_id,
            int(manifest["dim"]),
            ann_threshold=int(manifest.get("ann_threshold", 50_000)),
            ann=AnnParams(**ann) if ann else None,
            threads=threads,
        )
        parts, ids = [], []
        for name in manifest.get("segments", []):
            try:
                vec = np.load(path / f"{name}.f32.npy", allow_pickle=False)
                seg_ids = (path / f"{name}.ids.txt").read_text().splitlines()
            except (OSError, ValueError) as exc:
                raise IndexFormatError(f"{path}: segment {name} is unreadable: {exc}") from exc
            if vec.ndim != 2 or vec.shape[1] != index.dim or vec.shape[0] != len(seg_ids):
                raise IndexFormatError(
                    f"{path}: segment {name} has shape {vec.shape} for {len(seg_ids)} ids, dim {index.dim}"
                )
            parts.append(vec.astype(np.float32, copy=False))
            ids.extend(seg_ids)
        try:
            alive = np.load(path / "alive.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"{path}: alive.npy is unreadable: {exc}") from exc
        if alive.shape != (len(ids),) or len(ids) != manifest["rows"]:
            raise IndexFormatError(f"{path}: {len(ids)} rows on disk, manifest says {manifest['rows']}")
        index._grow(len(ids))
        if parts:
            index._vectors[: len(ids)] = np.concatenate(parts)
        index.alive[: len(ids)] = alive
        index.ids = ids
        index.row_of = {i: r for r, i in enumerate(ids) if alive[r]}
        index._n_alive = int(alive.sum())
        index._segments = list(manifest.get("segments", []))
        index._saved_rows = len(ids)
        index.built_at = manifest.get("built_at", index.built_at)
        if ann and (path / "hnsw.bin").exists():
            import hnswlib

            graph = hnswlib.Index(space="ip", dim=index.dim)
            try:
                graph.load_index(str(path / "hnsw.bin"), max_elements=max(len(ids), 1024))
            except (RuntimeError, OSError) as exc:
                raise IndexFormatError(f"{path}: hnsw.bin is unreadable: {exc}") from exc
            labels = np.asarray(graph.get_ids_list(), dtype=np.int64)
            outside = labels.size > 0 and int(labels.max()) >= len(ids)
            if outside or not np.isin(np.flatnonzero(alive), labels).all():
                raise IndexFormatError(f"{path}: hnsw.bin does not hold this index's rows")
            graph.set_num_threads(threads)
            index._hnsw = graph
        elif index._n_alive > index.ann_threshold:
            index.build_ann()
        return index


def top_k_rows(vectors: np.ndarray, query: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k among the given rows only (cost proportional to the number of rows)."""
    if rows.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    scores = vectors[rows] @ query
    best, best_scores = top_k(scores, k, np.arange(rows.size))
    return rows[best], best_scores


def _fit(mask: np.ndarray, n: int) -> np.ndarray:
    if mask.dtype != bool:
        raise ValueError("allowed must be a boolean mask over rows")
    if mask.size >= n:
        return mask[:n]
    out = np.zeros(n, dtype=bool)
    out[: mask.size] = mask
    return out


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)
