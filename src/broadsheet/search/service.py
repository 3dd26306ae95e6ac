"""Search over the whole catalogue: keeps the hybrid searcher in step with the database and answers queries."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from filelock import FileLock, Timeout
from sqlalchemy import Row, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import unit_of_work
from broadsheet.errors import BroadsheetError, InvalidInput
from broadsheet.models import Paper, PaperEmbedding
from broadsheet.search.embedder import Embedder
from broadsheet.search.engine import HybridSearcher, Mode, StageProgress
from broadsheet.search.engine import Paper as SearchDoc
from broadsheet.search.index_store import IndexStore
from broadsheet.search.process import every_cpu, freeze_long_lived_objects, return_freed_memory
from broadsheet.search.query import ParsedQuery, category_key, parse_query
from broadsheet.search.text import embedding_text, text_hash
from broadsheet.search.tokenizer import fold
from broadsheet.search.vectors_import import verify_vectors
from broadsheet.settings import Settings
from broadsheet.sources.records import listing_keys

log = logging.getLogger(__name__)
EMBED_CHUNK = 256
MAX_RESULTS = 1000
# "Newest first" orders this many of the best matches by date: deeper, relevance fades into noise.
NEWEST_POOL = 100
# A worker saves the index again once the changes it indexed that the saved copy misses (at start,
# the catching up) pass this share of it, so a restart, even after months of new papers, has little
# to catch up.
RESAVE_SHARE = 0.01
READ_STAGE = "papers and vectors"


SearchSort = Literal["relevance", "newest"]


class SearchNotReady(BroadsheetError):
    status = 503


@dataclass(frozen=True)
class SearchHit:
    """One paper found: its id, fused score, and the query terms (stems) it contains."""

    arxiv_id: str
    score: float
    matched_terms: tuple[str, ...] = ()


@dataclass
class SearchFilters:
    categories: list[str] = field(default_factory=list)
    published_from: date | None = None
    published_until: date | None = None
    has_code: bool | None = None

    def is_empty(self) -> bool:
        return not self.categories and not self.published_from and not self.published_until and self.has_code is None


@dataclass(frozen=True)
class _DocFacts:
    """What filters need to know of a paper, kept beside the index."""

    categories: tuple[str, ...]
    published: int  # date ordinal, 0 when unknown
    has_code: bool
    text_lower: str
    authors_lower: str


class _Concatenated:
    """Many texts in one string, so finding which contain a phrase is one C-level scan, not a Python loop."""

    def __init__(self, texts: list[str]) -> None:
        self.count = len(texts)
        self.blob = "\x00".join(texts)
        lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=len(texts))
        self.starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if texts else np.zeros(0, np.int64)
        self.ends = self.starts + lengths - 1

    def containing(self, pattern: re.Pattern[str], among: np.ndarray | None = None) -> np.ndarray:
        """Which texts `pattern` matches in: all of them scanned, or only the slots `among` when given.

        Reading only the candidates was faster than one scan even when a third of the texts were
        candidates ("large language models", 75k papers: 59 ms against 131 ms).
        """
        found = np.zeros(self.count, dtype=bool)
        if among is None:
            offsets = [m.start() for m in pattern.finditer(self.blob)]
            if offsets:
                found[np.searchsorted(self.starts, np.asarray(offsets), side="right") - 1] = True
            return found
        among = among[among < self.count]
        search, blob = pattern.search, self.blob
        spans = zip(among.tolist(), self.starts[among].tolist(), self.ends[among].tolist(), strict=True)
        found[[slot for slot, start, end in spans if search(blob, start, end)]] = True
        return found


def phrase_pattern(phrase: str) -> re.Pattern[str] | None:
    """The words of a lowercased, accent-free phrase, in order, whole words, any whitespace between them."""
    words = fold(phrase.lower()).split()
    if not words:
        return None
    first = re.escape(words[0])
    # The boundary test comes after the first word, so the pattern starts with a literal: a fast scan.
    head = first + (rf"(?<!\w{first})" if re.match(r"\w", words[0]) else "")
    tail = r"(?!\w)" if re.search(r"\w$", words[-1]) else ""
    return re.compile(r"\s+".join([head, *map(re.escape, words[1:])]) + tail)


@dataclass
class _FilterArrays:
    """Per-slot facts as arrays, rebuilt when the index grows."""

    published: np.ndarray
    has_code: np.ndarray
    categories: list[tuple[str, ...]]
    texts: _Concatenated
    authors: _Concatenated
    by_category: dict[str, np.ndarray] = field(default_factory=dict)

    listed: frozenset[str] = frozenset()  # every key some paper matches
    # Each distinct category list, as the lowercased categories and archives it matches (cs.CL -> cs.cl, cs):
    # `records.listing_keys` worked out once per list, so a mask is one set lookup per paper.
    _keys_of: dict[tuple[str, ...], frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for names in set(self.categories):
            self._keys_of[names] = frozenset(listing_keys(names))
        self.listed = frozenset().union(*self._keys_of.values())

    def in_category(self, key: str) -> np.ndarray:
        """Slots of papers listed under `key` (a lowercased `category_key`): that category in any case,
        or every category of an archive (`cs`: cs.CL, cs.LG, ...). Worked out once per key and index
        size; only keys some paper matches are kept, so odd requests cannot fill memory."""
        if key not in self.listed:
            return np.zeros(len(self.categories), dtype=bool)
        found = self.by_category.get(key)
        if found is None:
            keys_of = self._keys_of
            found = np.fromiter((key in keys_of[c] for c in self.categories), dtype=bool, count=len(self.categories))
            self.by_category[key] = found
        return found


@dataclass
class SyncReport:
    indexed: int = 0
    embedded: int = 0
    reused_vectors: int = 0
    changed: int = 0  # papers added, replaced or removed in the index (unchanged ones are skipped)


# What indexing reads of a paper: plain rows, not ORM objects (75k papers: 2.5 s less at start-up).
_INDEXED = (
    Paper.arxiv_id,
    Paper.title,
    Paper.abstract,
    Paper.authors,
    Paper.categories,
    Paper.published_at,
    Paper.github_repo,
    Paper.modified_at,
)
_IndexedRow = Row[str, str, str, list[str], list[str], datetime | None, str | None, datetime]


def _facts(row: _IndexedRow) -> _DocFacts:
    return _DocFacts(
        categories=tuple(row.categories or ()),
        published=row.published_at.date().toordinal() if row.published_at else 0,
        has_code=bool(row.github_repo),
        text_lower=fold(f"{row.title} {row.abstract}".lower()),
        authors_lower=fold("; ".join(row.authors or ()).lower()),
    )


def vector_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


class SearchService:
    """The catalogue's search index: built from the database, synced as papers arrive, queried by pages."""

    def __init__(self, settings: Settings, factory: sessionmaker[Session], embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.factory = factory
        if embedder is None and settings.embeddings_enabled:
            backend = settings.paper_embedding_backend
            embedder = Embedder(query_precision=settings.query_precision, paper_backend=backend)
        self.embedder = embedder
        self.searcher = HybridSearcher(embedder)
        self.index_store = IndexStore(settings.index_dir / "search")
        self._snapshot: str | None = None  # the saved index this one started from (or found unusable)
        self.facts: dict[str, _DocFacts] = {}
        self._lock = threading.RLock()  # searches read under it; a sync changes the index under it
        # One writer at a time, syncing or saving. A save only reads the index, so it holds this and
        # not `_lock`: searches go on while a snapshot is written.
        self._writer = threading.RLock()
        self._synced_until: datetime | None = None
        # When each change this process indexed was made in the store (a removal: when it was seen),
        # until a saved copy holds it: what decides when to save again.
        self._unsaved: list[datetime] = []
        self._arrays_for = -1
        self._arrays: _FilterArrays | None = None
        self.ready = threading.Event()
        self.progress: tuple[str, int, int] = (READ_STAGE, 0, 0)  # the index build: stage, done, total
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def mode(self) -> Mode:
        return "hybrid" if self.embedder is not None else "bm25"

    # ------------------------------------------------------------------ keeping in step
    def sync(self, on_progress: StageProgress | None = None) -> SyncReport:
        """Index every paper changed since the last sync, embedding only texts with no stored vector.

        `on_progress(stage, done, total)` follows reading the papers and their vectors (embedding
        the missing ones), then building the vector graph and the keyword index.
        """
        with self._writer:
            return self._sync(on_progress)

    def _sync(self, on_progress: StageProgress | None) -> SyncReport:
        report = SyncReport()
        started = datetime.now(UTC)
        with unit_of_work(self.factory) as session:
            # In one order in every worker (ties too), so their vector graphs are built alike.
            query = select(*_INDEXED).order_by(Paper.modified_at, Paper.arxiv_id)
            if self._synced_until is not None:
                query = query.where(Paper.modified_at >= self._synced_until)
            papers = list(session.execute(query))
        total = len(papers)

        def report_progress(stage: str, done: int, total: int) -> None:
            self.progress = (stage, done, total)
            if on_progress:
                on_progress(stage, done, total)

        report_progress(READ_STAGE, 0, total)
        docs: list[SearchDoc] = []
        vectors: dict[str, np.ndarray] = {}
        for offset in range(0, total, EMBED_CHUNK * 8):
            chunk = papers[offset : offset + EMBED_CHUNK * 8]
            docs.extend(self._changed_docs(chunk, vectors, report))
            report_progress(READ_STAGE, offset + len(chunk), total)
            if self._stop.is_set():
                return report
        # One add for the whole batch: the lexical index merges its postings once, not once per chunk.
        with self._lock:
            added = self.searcher.add(docs, vectors=vectors, on_progress=report_progress)
            report.changed += added.added + added.replaced
            if self._synced_until is None:  # every paper was read: drop what the store no longer has
                gone = set(self.searcher.slot_of).difference(paper.arxiv_id for paper in papers)
                self.searcher.remove(gone)
                report.changed += len(gone)
                self._unsaved += [started] * len(gone)
        if docs:
            changed = {doc.doc_id for doc in docs}
            self._unsaved += [paper.modified_at for paper in papers if paper.arxiv_id in changed]
            for paper in papers:
                self.facts[paper.arxiv_id] = _facts(paper)
        report.indexed += len(papers)
        self._synced_until = started
        with self._lock:
            self._filter_arrays()  # built here, in the background, rather than by the first filtered query
        if report.embedded and self.embedder is not None:
            self.embedder.release_paper_encoders()  # new papers come in bursts; keep the memory in between
        return report

    def _stored_vectors(self, ids: list[str]) -> dict[str, tuple[str, np.ndarray]]:
        if self.embedder is None or not ids:
            return {}
        with unit_of_work(self.factory) as session:
            rows = session.execute(
                select(PaperEmbedding.arxiv_id, PaperEmbedding.text_hash, PaperEmbedding.vector).where(
                    PaperEmbedding.model_id == self.embedder.model_id, PaperEmbedding.arxiv_id.in_(ids)
                )
            )
            return {arxiv_id: (digest, np.frombuffer(blob, dtype="<f4")) for arxiv_id, digest, blob in rows}

    def _changed_docs(
        self, papers: list[_IndexedRow], vectors: dict[str, np.ndarray], report: SyncReport
    ) -> list[SearchDoc]:
        """The papers the index does not hold as they are (new or edited: after a restore, few), as
        search documents; their vectors go into `vectors`, from the store or embedded (and stored)."""
        docs = [SearchDoc(p.arxiv_id, p.title, p.abstract, tuple(p.authors or ())) for p in papers]
        texts = [embedding_text(doc.title, doc.abstract) for doc in docs]
        entries = [(doc, text, text_hash(text)) for doc, text in zip(docs, texts, strict=True)]
        entries = [entry for entry in entries if not self.searcher.holds(entry[0], entry[2])]
        if self.embedder is None:
            return [doc for doc, _, _ in entries]
        missing = self._still_missing(entries, vectors, report)
        for start in range(0, len(missing), EMBED_CHUNK):
            with self._embedding_lock():
                # Every worker of `serve` syncs its own index: one that waited here finds the vectors
                # another has just stored and embeds only what is still missing, so no text is
                # embedded twice.
                part = self._still_missing(missing[start : start + EMBED_CHUNK], vectors, report)
                if not part:
                    continue
                fresh = self.embedder.encode([text for _, text, _ in part])
                rows = [(doc.doc_id, digest, vec) for (doc, _, digest), vec in zip(part, fresh, strict=True)]
                self._store_vectors(rows)
            for (doc, _, _), vec in zip(part, fresh, strict=True):
                vectors[doc.doc_id] = vec
            report.embedded += len(part)
        return [doc for doc, _, _ in entries]

    def _embedding_lock(self) -> FileLock:
        """Held while embedding and storing, by every process that shares this data directory."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(self.settings.data_dir / "embedding.lock")

    def _still_missing(
        self, part: list[tuple[SearchDoc, str, str]], vectors: dict[str, np.ndarray], report: SyncReport
    ) -> list[tuple[SearchDoc, str, str]]:
        """The (doc, text, hash) entries with no stored vector for that text; the others' go into `vectors`."""
        stored = self._stored_vectors([doc.doc_id for doc, _, _ in part])
        left = []
        for doc, text, digest in part:
            known = stored.get(doc.doc_id)
            if known is not None and known[0] == digest:
                vectors[doc.doc_id] = known[1]
                report.reused_vectors += 1
            else:
                left.append((doc, text, digest))
        return left

    def _store_vectors(self, rows: list[tuple[str, str, np.ndarray]]) -> None:
        assert self.embedder is not None
        model_id = self.embedder.model_id
        with unit_of_work(self.factory) as session:
            ids = [arxiv_id for arxiv_id, _, _ in rows]
            session.query(PaperEmbedding).filter(
                PaperEmbedding.model_id == model_id, PaperEmbedding.arxiv_id.in_(ids)
            ).delete(synchronize_session=False)
            session.add_all(
                PaperEmbedding(arxiv_id=a, model_id=model_id, text_hash=h, dim=len(v), vector=vector_bytes(v))
                for a, h, v in rows
            )

    def import_vectors(self, path: Path, sample_size: int = 32) -> int:
        """Store precomputed vectors after re-embedding a random sample to prove they match (cosine ≥ 0.99)."""
        if self.embedder is None:
            raise InvalidInput("embeddings are turned off (BROADSHEET_EMBEDDINGS_ENABLED=false)")
        with unit_of_work(self.factory) as session:
            texts = {a: (t, ab) for a, t, ab in session.execute(select(Paper.arxiv_id, Paper.title, Paper.abstract))}
        verified = verify_vectors(path, texts, self.embedder, sample_size=sample_size)
        rows = [
            (arxiv_id, text_hash(embedding_text(*texts[arxiv_id])), verified.vectors[i])
            for i, arxiv_id in enumerate(verified.ids)
            if arxiv_id in texts
        ]
        for start in range(0, len(rows), 5000):
            self._store_vectors(rows[start : start + 5000])
        return len(rows)

    # ------------------------------------------------------------------ the saved index
    def restore(self) -> bool:
        """Start from the saved index, when there is a usable one: the first `sync` then only catches
        up with what changed since it was saved. An unusable one is logged and left for a rebuild."""
        with self.index_store.lock():
            try:
                loaded = self.index_store.load(self.embedder)
            except Exception as error:  # a damaged or foreign index must not keep search down
                log.warning("the saved search index is not usable, building it from the database: %s", error)
                self._snapshot = self.index_store.current()  # so that `save_index` replaces it
                return False
        if loaded is None:
            return False
        with self._writer, self._lock:
            self.searcher, self._snapshot = loaded
        return True

    def restore_or_build(self) -> bool:
        """Start from the saved index; with none usable, build one from the store and save it.
        Returns whether a saved index was loaded.

        One process builds at a time. The workers of `serve` start together on a fresh store: one
        builds, and the others wait and then load the copy it saved instead of each building its own
        (75k papers: ~55 s until both answer, against ~75 s for two builds side by side).
        """
        # Loads are serialised by the store's lock anyway, so waiting here first costs a start from a
        # saved index nothing, and a damaged copy is loaded (and refused) once, not twice.
        with self._build_lock():
            if self.restore():  # saved before, or built by another process while this one waited
                return True
            # The others only wait for this build, so it may use their CPUs: a worker of `serve` is
            # pinned to one, and the vector graph and the embedding of papers can use them all.
            vectors = self.searcher.vectors
            threads = 1 if vectors is None else vectors.threads
            with every_cpu() as cpus:
                if vectors is not None:
                    vectors.threads = len(cpus)
                try:
                    self.sync()
                finally:
                    if vectors is not None:
                        vectors.threads = threads
            if not self._stop.is_set():
                self._save_quietly(self.save_index)
        return False

    @contextmanager
    def _build_lock(self) -> Iterator[None]:
        """The store's build lock. While another process holds it (building), this one loads its
        query model first: that is CPU the build leaves idle in its one-thread stages, and seconds
        less between the build's end and this process's first search."""
        lock = self.index_store.build_lock()
        try:
            lock.acquire(blocking=False)
        except Timeout:
            self._load_query_model()
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def _load_query_model(self) -> None:
        """Load (on a fresh machine: export and quantise) the query model now, not in the first search."""
        if self.embedder is not None:
            self.embedder.encode_query("warm up")

    def save_index(self, replace_newer: bool = False) -> str | None:
        """Save the index as the current snapshot; returns its name.

        Unless `replace_newer`, nothing is written when another process saved one since this index
        was loaded or built (the workers of `serve` build alike, so one copy is enough). Searches go on
        while it writes; syncs wait.
        """
        with self.index_store.lock(), self._writer:
            if not replace_newer and self.index_store.current() != self._snapshot:
                return None
            return self._save()

    def save_if_behind(self) -> str | None:
        """Save the index once the saved copy misses more than `RESAVE_SHARE` of it; returns the new
        snapshot's name, or None when it was not behind.

        Whoever saved that copy (this process, another worker of `serve`, or `index rebuild`), it
        holds every change made before its `synced_until`; the changes this process indexed since
        then are what it misses. So of workers that index the same changes, the first to save makes
        the others' changes saved too, and one copy is written.
        """
        if not self._behind_saved_copy():  # most calls: nothing to lock
            return None
        with self.index_store.lock(), self._writer:
            if not self._behind_saved_copy():  # another process saved it meanwhile
                return None
            return self._save()

    def _behind_saved_copy(self) -> bool:
        saved_until = self.index_store.synced_until()
        if saved_until is not None:
            self._unsaved = [changed for changed in self._unsaved if changed >= saved_until]
        return len(self._unsaved) > RESAVE_SHARE * max(len(self.searcher), 1)

    def _save(self) -> str:
        """Write the index as the current snapshot. Call with the store's lock and `_writer` held."""
        synced_until = self._synced_until
        self._snapshot = self.index_store.save(self.searcher, synced_until)
        self._unsaved = [changed for changed in self._unsaved if synced_until is None or changed >= synced_until]
        return self._snapshot

    # ------------------------------------------------------------------ background upkeep
    def start(self, interval_s: float = 10.0) -> None:
        """Build the index in a background thread (from the saved one when there is one), then pick up
        new and changed papers every `interval_s`."""

        def run() -> None:
            try:
                self.restore_or_build()
                self.sync()
                if self._stop.is_set():
                    return
                self._save_quietly(self.save_if_behind)
                if not self._stop.is_set():
                    self._load_query_model()  # already loaded if this process waited for another's build
                freeze_long_lived_objects()
                return_freed_memory()
                self.ready.set()
                while not self._stop.wait(interval_s):
                    self.sync()
                    self._save_quietly(self.save_if_behind)
            except Exception:  # the site keeps serving; search reports itself unavailable
                log.exception("search index upkeep failed")

        self._thread = threading.Thread(target=run, name="search-index", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _save_quietly(self, save: Callable[[], str | None]) -> None:
        try:
            save()
        except Exception:  # e.g. a full disk: the next start catches up or builds again; search stays up
            log.exception("could not save the search index")

    # ------------------------------------------------------------------ queries
    def _filter_arrays(self) -> _FilterArrays:
        ids = self.searcher.ids
        if self._arrays is None or self._arrays_for != len(ids):
            empty = _DocFacts((), 0, False, "", "")
            facts = [self.facts.get(doc_id, empty) for doc_id in ids]
            self._arrays = _FilterArrays(
                published=np.fromiter((f.published for f in facts), dtype=np.int64, count=len(facts)),
                has_code=np.fromiter((f.has_code for f in facts), dtype=bool, count=len(facts)),
                categories=[f.categories for f in facts],
                texts=_Concatenated([f.text_lower for f in facts]),
                authors=_Concatenated([f.authors_lower for f in facts]),
            )
            self._arrays_for = len(ids)
        return self._arrays

    def _allowed(self, filters: SearchFilters, parsed: ParsedQuery) -> np.ndarray | None:
        if filters.is_empty() and not parsed.phrases and not parsed.authors:
            return None
        arrays = self._filter_arrays()
        mask = np.ones(len(self.searcher.ids), dtype=bool)
        if filters.published_from:
            mask &= arrays.published >= filters.published_from.toordinal()
        if filters.published_until:
            mask &= (arrays.published <= filters.published_until.toordinal()) & (arrays.published > 0)
        if filters.has_code is not None:
            mask &= arrays.has_code == filters.has_code
        if filters.categories:  # keys, as `run` passes them
            mask &= np.logical_or.reduce([arrays.in_category(key) for key in filters.categories])
        for phrase in parsed.phrases:
            mask &= self._with_phrase(arrays.texts, phrase)
        for author in parsed.authors:  # part of a name is enough, with or without accents: author:erdos
            mask &= arrays.authors.containing(re.compile(re.escape(fold(author.lower()))))
        return mask

    def _with_phrase(self, texts: _Concatenated, phrase: str) -> np.ndarray:
        """Papers whose title or abstract has the phrase; only those with all its words are read."""
        pattern = phrase_pattern(phrase)
        if pattern is None:
            return np.zeros(texts.count, dtype=bool)
        terms = self.searcher.tokenizer.query_terms(phrase)
        among = self.searcher.lexical.slots_with_every(terms) if terms else None  # None: only stop words
        return texts.containing(pattern, among)

    def unlisted_categories(self, categories: Iterable[str]) -> list[str]:
        """The requested categories (or archives) that no paper here is listed under, for a page to say so."""
        with self._lock:
            listed = self._filter_arrays().listed
        return [category for category in categories if category_key(category) not in listed]

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        offset: int = 0,
        published_from: date | None = None,
        published_until: date | None = None,
        categories: list[str] | None = None,
        has_code: bool | None = None,
        mode: Mode | None = None,
    ) -> list[SearchHit]:
        """Best papers for a query, restricted by the filters; raises SearchNotReady while the index builds."""
        filters = SearchFilters(list(categories or []), published_from, published_until, has_code)
        return self.run(parse_query(query), filters, limit=limit, offset=offset, mode=mode)

    def run(
        self,
        parsed: ParsedQuery,
        filters: SearchFilters,
        *,
        limit: int,
        offset: int = 0,
        mode: Mode | None = None,
        sort: SearchSort = "relevance",
    ) -> list[SearchHit]:
        """A page of hits, best first, or with `sort="newest"` the `NEWEST_POOL` best ones newest first."""
        if not self.ready.is_set():
            stage, done, total = self.progress
            where = f" ({stage}: {done:,} of {total:,} papers)" if total else ""
            raise SearchNotReady(f"the search index is being built{where}; try again shortly")
        filters = _keyed(filters, parsed.categories)
        chosen = mode or self.mode
        if chosen != "bm25" and self.embedder is None:
            raise InvalidInput("mode: semantic search is turned off on this site; use mode=bm25")
        wanted = NEWEST_POOL if sort == "newest" else min(offset + limit, MAX_RESULTS)
        text = parsed.text or " ".join(parsed.authors)
        # Embedded before taking the lock, so one request's model run never holds up another's lookup.
        vector = self.embedder.encode_query(text) if chosen != "bm25" and self.embedder is not None else None
        with self._lock:
            allowed = self._allowed(filters, parsed)
            if allowed is not None and not allowed.any():
                return []
            hits = self.searcher.search(text, k=wanted, mode=chosen, allowed=allowed, query_vector=vector)
            if sort == "newest":  # a stable sort: papers of one day keep their relevance order
                facts = self.facts
                hits.sort(key=lambda h: facts[h.doc_id].published if h.doc_id in facts else 0, reverse=True)
        return [SearchHit(h.doc_id, h.score, h.matched_terms) for h in hits[offset : offset + limit]]

    def like(self, arxiv_id: str, filters: SearchFilters, *, limit: int, offset: int = 0) -> list[SearchHit]:
        """A page of the papers closest in meaning to one paper, itself left out, within the filters
        ("more like this"); empty when the paper has no vector yet."""
        if not self.ready.is_set():
            raise SearchNotReady("the search index is being built; try again shortly")
        if self.searcher.vectors is None:
            raise InvalidInput("like: papers like another are found by meaning, which is turned off on this site")
        filters = _keyed(filters)
        wanted = min(offset + limit, MAX_RESULTS)
        with self._lock:
            allowed = self._allowed(filters, ParsedQuery())
            if allowed is not None and not allowed.any():
                return []
            return self._closest(arxiv_id, wanted, allowed)[offset:]

    def similar(self, arxiv_id: str, k: int = 5) -> list[SearchHit]:
        """The papers closest in meaning to one paper (empty while the index builds or without vectors)."""
        if not self.ready.is_set() or self.searcher.vectors is None:
            return []
        with self._lock:
            return self._closest(arxiv_id, k, None)

    def _closest(self, arxiv_id: str, k: int, allowed: np.ndarray | None) -> list[SearchHit]:
        """The `k` papers closest to `arxiv_id`'s vector among `allowed`, itself left out. Call under `_lock`."""
        assert self.searcher.vectors is not None
        vector = self.searcher.vectors.vector_of(arxiv_id)
        if vector is None:
            return []
        rows, scores = self.searcher.vectors.search(np.asarray(vector, dtype=np.float32), k + 1, allowed)
        ids = self.searcher.vectors.ids
        hits = [SearchHit(ids[r], float(s)) for r, s in zip(rows.tolist(), scores.tolist(), strict=True)]
        return [hit for hit in hits if hit.arxiv_id != arxiv_id][:k]

    def highlight_spans(self, texts: Sequence[str], terms: Iterable[str]) -> list[list[tuple[int, int]]]:
        """For each text, the spans of its words whose stem is one of `terms` (to mark on a page)."""
        return self.searcher.tokenizer.spans_of_each(texts, terms)


def _keyed(filters: SearchFilters, more: Sequence[str] = ()) -> SearchFilters:
    """`filters` with their categories, and `more` (a query's `cat:` terms), as matching keys, any of them;
    a malformed one is refused here."""
    keys = [category_key(category) for category in [*filters.categories, *more]]
    return replace(filters, categories=list(dict.fromkeys(keys)))
