"""The hybrid paper searcher: keeps the BM25F index and the vector index in step and fuses their rankings.

Documents live in *slots* (row numbers shared by both indexes). Adding a document puts it in a new
slot at once, so it is searchable immediately without any rebuild: the BM25F side takes it into
its small delta segment (merged into the main segment later, see `lexical`) and the vector side
appends a row (inserted into the HNSW graph when the index is large). Adding a document again
with a changed title or abstract retires the old slot and re-embeds only that text; an unchanged
text is never embedded twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from broadsheet.search.embedder import Embedder
from broadsheet.search.errors import IndexFormatError, ModelMismatchError
from broadsheet.search.fusion import FusionParams, blend, reciprocal_rank
from broadsheet.search.lexical import BM25Params, LexicalDoc, LexicalIndex
from broadsheet.search.select import top_k
from broadsheet.search.text import embedding_text, text_hash
from broadsheet.search.tokenizer import Tokenizer
from broadsheet.search.vector_index import AnnParams, VectorIndex

Mode = Literal["bm25", "dense", "hybrid"]
Allowed = Collection[str] | np.ndarray | None
FORMAT = "broadsheet-search-index/1"
# Progress of a long job, by stage: (stage, done, total).
StageProgress = Callable[[str, int, int], None]
VECTOR_STAGE = "vector graph"
KEYWORD_STAGE = "keyword index"

# Tuned on SciFact train queries only (`broadsheet bench tune --bm25-sweep`): BM25F k1/b/title weight
# on a 27-point grid is flat (0.704-0.706 nDCG@10); fusion: BM25 / (sum of query idf) + 0.4 x raw
# cosine 0.742 (0.741-0.742 for weights 0.35-0.5), min-max over each side's top 200 0.739, z-score
# 0.737, dense pseudo-relevance feedback and passage max-pooling +0.002 at most (not kept).
DEFAULT_BM25 = BM25Params(k1=1.2, title_weight=2.0, abstract_weight=1.0, authors_weight=1.0)
DEFAULT_FUSION = FusionParams(method="bounded_raw", dense_weight=0.4, depth=100)


@dataclass(frozen=True)
class Paper:
    """What the searcher indexes of a paper."""

    doc_id: str
    title: str
    abstract: str
    authors: Sequence[str] = ()


@dataclass(frozen=True)
class SearchHit:
    """One result: the paper id, its fused score, and the query terms (stems) it contains."""

    doc_id: str
    score: float
    matched_terms: tuple[str, ...] = ()


@dataclass
class AddReport:
    """What an `add` did; `embedded` holds the new vectors by doc id with their text hash, to store."""

    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    embedded: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)


class HybridSearcher:
    """BM25F + MiniLM search over papers, with filters, incremental adds and replacements."""

    def __init__(
        self,
        embedder: Embedder | None,
        bm25: BM25Params = DEFAULT_BM25,
        fusion: FusionParams = DEFAULT_FUSION,
        ann_threshold: int = 50_000,
        ann: AnnParams | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        self.embedder = embedder
        self.tokenizer = tokenizer or Tokenizer()
        self.fusion = fusion
        self.lexical = LexicalIndex(bm25, self.tokenizer)
        self.vectors: VectorIndex | None = None
        if embedder is not None:
            self.vectors = VectorIndex(embedder.model_id, embedder.dim, ann_threshold=ann_threshold, ann=ann)
        self.ids: list[str] = []
        self.slot_of: dict[str, int] = {}
        self._text_hash: list[str] = []
        self._authors_key: list[int] = []

    def __len__(self) -> int:
        return len(self.slot_of)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.slot_of

    # ----------------------------------------------------------------- changes
    def add(
        self,
        papers: Iterable[Paper],
        vectors: Mapping[str, np.ndarray] | None = None,
        on_progress: StageProgress | None = None,
    ) -> AddReport:
        """Add papers, or replace those already present; searchable as soon as this returns.

        `vectors` (doc id -> unit vector of this embedder's model) skips embedding for those
        papers, e.g. vectors stored in the database under the same text hash. Papers whose text
        and authors are unchanged are left alone. `on_progress(stage, done, total)` follows the
        slow parts of a large add: the vector graph, then the keyword index.
        """
        report = AddReport()
        batch: list[tuple[Paper, str, str]] = []
        seen: set[str] = set()
        for paper in papers:
            if paper.doc_id in seen:
                raise ValueError(f"paper {paper.doc_id!r} appears twice in one add")
            seen.add(paper.doc_id)
            text = embedding_text(paper.title, paper.abstract)
            digest = text_hash(text)
            if self.holds(paper, digest):
                report.unchanged += 1
                continue
            if paper.doc_id in self.slot_of:
                report.replaced += 1
            else:
                report.added += 1
            batch.append((paper, text, digest))
        if not batch:
            return report
        new_vectors = None
        if self.vectors is not None:
            new_vectors = self._vectors_for(batch, vectors or {}, report)
        self._retire([p.doc_id for p, _, _ in batch if p.doc_id in self.slot_of])
        first = len(self.ids)
        slots = list(range(first, first + len(batch)))
        for (paper, _, digest), slot in zip(batch, slots, strict=True):
            self.ids.append(paper.doc_id)
            self.slot_of[paper.doc_id] = slot
            self._text_hash.append(digest)
            self._authors_key.append(authors_key(paper.authors))
        if self.vectors is not None and new_vectors is not None:
            graph_progress = partial(on_progress, VECTOR_STAGE) if on_progress else None
            rows = self.vectors.add([p.doc_id for p, _, _ in batch], new_vectors, graph_progress)
            if rows[0] != first:
                raise RuntimeError("vector index rows out of step with searcher slots")
        docs = [LexicalDoc(p.title, p.abstract, "; ".join(p.authors)) for p, _, _ in batch]
        self.lexical.add_many(slots, docs, partial(on_progress, KEYWORD_STAGE) if on_progress else None)
        return report

    def holds(self, paper: Paper, digest: str) -> bool:
        """Whether `paper` is indexed exactly as given (`digest`: the hash of its embedded text)."""
        slot = self.slot_of.get(paper.doc_id)
        if slot is None or self._text_hash[slot] != digest:
            return False
        return self._authors_key[slot] == authors_key(paper.authors)

    def _vectors_for(
        self, batch: list[tuple[Paper, str, str]], supplied: Mapping[str, np.ndarray], report: AddReport
    ) -> np.ndarray:
        assert self.vectors is not None and self.embedder is not None
        out = np.zeros((len(batch), self.vectors.dim), dtype=np.float32)
        todo: list[int] = []
        for i, (paper, _, digest) in enumerate(batch):
            old = self.slot_of.get(paper.doc_id)
            if paper.doc_id in supplied:
                out[i] = supplied[paper.doc_id]
            elif old is not None and self._text_hash[old] == digest:
                out[i] = self.vectors.vectors[old]  # only the authors changed: keep the vector
            else:
                todo.append(i)
        if todo:
            fresh = self.embedder.encode([batch[i][1] for i in todo])
            out[todo] = fresh
            for i, vec in zip(todo, fresh, strict=True):
                report.embedded[batch[i][0].doc_id] = (batch[i][2], vec)
        return out

    def remove(self, doc_ids: Iterable[str]) -> None:
        """Remove papers from search (unknown ids are ignored)."""
        self._retire([d for d in doc_ids if d in self.slot_of])

    def _retire(self, doc_ids: list[str]) -> None:
        for doc_id in doc_ids:
            self.lexical.remove(self.slot_of.pop(doc_id))
        if self.vectors is not None:
            self.vectors.remove(doc_ids)

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the whole index (keyword side, vectors with their graph, slots) to a new directory."""
        path = Path(path)
        path.mkdir(parents=True)
        self.lexical.save(path / "lexical")
        if self.vectors is not None:
            self.vectors.save(path / "vectors")
        slots = {"ids": self.ids, "text_hashes": self._text_hash}
        (path / "slots.json").write_text(json.dumps(slots), encoding="utf-8")
        np.save(path / "authors_keys.npy", np.asarray(self._authors_key, dtype=np.int64), allow_pickle=False)
        manifest = {
            "format": FORMAT,
            "model_id": None if self.embedder is None else self.embedder.model_id,
            "slots": len(self.ids),
            "papers": len(self),
        }
        (path / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        embedder: Embedder | None,
        bm25: BM25Params = DEFAULT_BM25,
        fusion: FusionParams = DEFAULT_FUSION,
    ) -> HybridSearcher:
        """Read an index written by `save`: searchable at once, and it takes adds and replacements as
        one built in this process would. Refused (IndexFormatError, ModelMismatchError) when its
        files are missing, disagree with each other, or hold another model's vectors."""
        path = Path(path)
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"{path}: cannot read manifest.json: {exc}") from exc
        if manifest.get("format") != FORMAT:
            raise IndexFormatError(f"{path}: not a search index (format {manifest.get('format')!r})")
        model_id = None if embedder is None else embedder.model_id
        if manifest.get("model_id") != model_id:
            raise ModelMismatchError(f"{path} was built for model {manifest.get('model_id')!r}, not {model_id!r}")
        searcher = cls(embedder, bm25, fusion)
        searcher.lexical = LexicalIndex.load(path / "lexical", bm25, searcher.tokenizer)
        if embedder is not None:
            searcher.vectors = VectorIndex.load(path / "vectors", embedder.model_id)
        try:
            slots = json.loads((path / "slots.json").read_text(encoding="utf-8"))
            ids, hashes = list(slots["ids"]), list(slots["text_hashes"])
            keys = np.load(path / "authors_keys.npy", allow_pickle=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexFormatError(f"{path}: the slot table is unreadable: {exc}") from exc
        n = len(ids)
        live = searcher.lexical.alive[:n]
        vectors = searcher.vectors
        sizes_agree = n == manifest.get("slots") == len(hashes) == keys.size == searcher.lexical.n_slots
        if not sizes_agree or not (vectors is None or _same_rows_alive(vectors, live)):
            raise IndexFormatError(f"{path}: the keyword index, the vectors and the slot table disagree")
        searcher.ids = ids
        searcher.slot_of = {ids[slot]: slot for slot in np.flatnonzero(live).tolist()}
        searcher._text_hash = hashes
        searcher._authors_key = keys.tolist()
        if len(searcher.slot_of) != int(live.sum()) or len(searcher) != manifest.get("papers"):
            raise IndexFormatError(f"{path}: the slot table lists a paper twice")
        return searcher

    # ----------------------------------------------------------------- search
    def mask_for(self, doc_ids: Iterable[str]) -> np.ndarray:
        """Boolean mask over slots allowing exactly `doc_ids` (cache it for a filter used often)."""
        mask = np.zeros(len(self.ids), dtype=bool)
        slot_of = self.slot_of
        slots = [slot_of[d] for d in doc_ids if d in slot_of]
        mask[slots] = True
        return mask

    def _allowed_mask(self, allowed: Allowed) -> np.ndarray | None:
        if allowed is None:
            return None
        if isinstance(allowed, np.ndarray):
            if allowed.dtype != bool:
                raise ValueError("an allowed mask must be boolean, over slots (see mask_for)")
            return allowed
        return self.mask_for(allowed)

    def search(
        self,
        query: str,
        k: int = 10,
        mode: Mode = "hybrid",
        allowed: Allowed = None,
        query_vector: np.ndarray | None = None,
    ) -> list[SearchHit]:
        """Rank papers for `query`; `allowed` (doc ids or a slot mask) restricts the candidates exactly.

        `query_vector` is the query already embedded by this searcher's embedder (embedded here if None).
        """
        if mode not in ("bm25", "dense", "hybrid"):
            raise ValueError(f"mode must be bm25, dense or hybrid, not {mode!r}")
        if mode != "bm25" and (self.vectors is None or self.embedder is None):
            raise ValueError(f"mode {mode!r} needs an embedder")
        mask = self._allowed_mask(allowed)
        terms = list(self.tokenizer.query_terms(query))
        if mode == "bm25":
            lex = self.lexical.score_all(terms)
            slots, scores = top_k(lex, k, self.lexical.candidates(lex, mask))
        else:
            assert self.vectors is not None and self.embedder is not None
            qvec = self.embedder.encode_query(query) if query_vector is None else query_vector
            if mode == "dense":
                slots, scores = self.vectors.search(qvec, k, mask)
            else:
                slots, scores = self._hybrid(qvec, terms, k, mask)
        matched = self.lexical.matched_terms(terms, slots)
        return [
            SearchHit(self.ids[s], float(sc), m)
            for s, sc, m in zip(slots.tolist(), scores.tolist(), matched, strict=True)
        ]

    def _hybrid(
        self, qvec: np.ndarray, terms: list[str], k: int, mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        assert self.vectors is not None
        depth = max(self.fusion.depth, k)
        lex_all = self.lexical.score_all(terms)
        lex_rows, lex_top = top_k(lex_all, depth, self.lexical.candidates(lex_all, mask))
        # The graph is searched only as wide as the list it returns: fused with the keyword side, the
        # SciFact + 75k-distractor benchmark scores the same (nDCG@10 0.7341) with breadth 100, 128 or
        # an exact scan, so the extra breadth was CPU for nothing.
        dense_rows, dense_top = self.vectors.search(qvec, depth, mask, ef=depth)
        union = np.union1d(lex_rows, dense_rows)
        if union.size == 0:
            return union, np.empty(0, np.float32)
        if self.fusion.method == "rrf":
            fused = reciprocal_rank(union, lex_rows, dense_rows, self.fusion)
        else:
            bound = self.lexical.max_score(terms)
            dense_union = self._dense_scores(qvec, union, dense_rows, dense_top)
            fused = blend(lex_all[union], dense_union, lex_top, dense_top, self.fusion, bound)
        best, best_scores = top_k(fused, k, np.arange(union.size))
        return union[best], best_scores

    def _dense_scores(
        self, qvec: np.ndarray, union: np.ndarray, dense_rows: np.ndarray, dense_top: np.ndarray
    ) -> np.ndarray:
        """Cosine of every row in the sorted `union`: the semantic side's own scores where it found
        the row, computed only for the rows that keyword search alone brought in."""
        assert self.vectors is not None
        scores = np.empty(union.size, dtype=np.float32)
        found = np.zeros(union.size, dtype=bool)
        at = np.searchsorted(union, dense_rows)
        scores[at] = dense_top
        found[at] = True
        missing = np.flatnonzero(~found)
        if missing.size:
            scores[missing] = self.vectors.scores_for(qvec, union[missing])
        return scores


def authors_key(authors: Sequence[str]) -> int:
    """A stable 64-bit key of an author list, to notice a change (Python's `hash` differs per process)."""
    digest = hashlib.blake2b("\x1f".join(authors).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _same_rows_alive(vectors: VectorIndex, live: np.ndarray) -> bool:
    return vectors.n_rows == live.size and bool((vectors.alive[: live.size] == live).all())
