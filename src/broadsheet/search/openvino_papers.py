"""Embeds paper texts in batches with OpenVINO, from the same checked ONNX export the query path uses.

On the 2 cores this project is measured on (AVX-512 with BF16), OpenVINO's CPU plugin embeds
50-56 papers/s in bf16 against 38-42 for torch's bf16 autocast, with the same agreement to fp32
(cosine 0.99997 at worst on real abstracts): it runs the graph as fused kernels where torch runs
op by op. Batches run on `streams` requests at once, one thread each, so both cores stay busy
through the short batches too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from broadsheet.search.embedder import Precision
from broadsheet.search.onnx_query import min_row_cosine

log = logging.getLogger(__name__)

# bf16 keeps cosine 0.99997 to torch fp32 on real abstracts (and on the parity sentences); a graph
# that misses this bar is broken, not merely rounded.
PAPER_MIN_COSINE = 0.9995


class PaperEncoderError(RuntimeError):
    """OpenVINO cannot embed papers here; the caller falls back to torch."""


class OpenVinoPaperEncoder:
    """Embeds batches of paper texts through one compiled OpenVINO model; safe to call from several threads.

    One infer request per stream, started and awaited from the calling thread. OpenVINO's
    `AsyncInferQueue` was not used: its Python callbacks run on OpenVINO's threads and take the
    interpreter lock there, which deadlocked a process that freed a request while one was still
    finishing (seen once in a few hundred calls here).
    """

    def __init__(self, compiled: Any, tokenizer: Any, pad_id: int, streams: int, precision: Precision) -> None:
        self.compiled = compiled
        self.tokenizer = tokenizer  # a configured `tokenizers.Tokenizer` that truncates and never pads
        self.pad_id = pad_id
        self.streams = streams
        self.precision = precision
        self.dim = int(compiled.output(0).get_partial_shape()[1].get_length())
        self._requests = [compiled.create_infer_request() for _ in range(streams)]
        self._lock = threading.Lock()  # the requests are reused, so one call at a time uses them

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Float32 unit vectors, one row per text, in order; texts of similar length share a batch."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(-lengths, kind="stable")  # longest first, as sentence-transformers batches
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
        with self._lock:
            running: list[np.ndarray | None] = [None] * self.streams
            for n, rows in enumerate(batches):
                slot = n % self.streams
                self._collect(slot, running[slot], out)
                self._requests[slot].start_async(self._feed([encodings[i] for i in rows]))
                running[slot] = rows
            for slot, last in enumerate(running):
                self._collect(slot, last, out)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _collect(self, slot: int, rows: np.ndarray | None, out: np.ndarray) -> None:
        """Wait for the batch running on request `slot` (if any) and copy its vectors into their rows."""
        if rows is None:
            return
        request = self._requests[slot]
        request.wait()
        out[rows] = request.get_output_tensor(0).data  # copies: the request's buffer is reused

    def _feed(self, encodings: list[Any]) -> dict[str, np.ndarray]:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n] = e.ids
            mask[row, :n] = 1
            types[row, :n] = e.type_ids
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def load_paper_encoder(
    path: Path,
    tokenizer: Any,
    pad_id: int,
    reference: Callable[[Sequence[str]], np.ndarray],
    sentences: Sequence[str],
    threads: int,
    precision: Precision,
) -> OpenVinoPaperEncoder:
    """Compile the fp32 ONNX export at `path` for `threads` streams and check it against torch fp32.

    `sentences` are embedded as one padded batch, so truncation and the attention mask are checked
    too. Raises `PaperEncoderError` when OpenVINO is missing, cannot compile the graph, or disagrees.
    """
    try:
        import openvino as ov
    except ImportError as exc:
        raise PaperEncoderError("openvino is not installed") from exc
    streams = max(1, threads)
    config = {
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        "NUM_STREAMS": str(streams),
        "INFERENCE_NUM_THREADS": streams,
        # the threads stay where the process may run: a `serve` worker is pinned to a CPU of its own
        "ENABLE_CPU_PINNING": False,
    }
    try:
        compiled = ov.Core().compile_model(str(path), "CPU", config)
        encoder = OpenVinoPaperEncoder(compiled, tokenizer, pad_id, streams, precision)
        got = encoder.encode(sentences, batch_size=len(sentences))
    except Exception as exc:
        raise PaperEncoderError(f"OpenVINO cannot run {path.name}: {exc}") from exc
    cosine = min_row_cosine(reference(sentences), got)
    if cosine < PAPER_MIN_COSINE:
        raise PaperEncoderError(f"OpenVINO {precision} disagrees with torch (min cosine {cosine:.6f})")
    log.info("papers embed with OpenVINO %s on %d streams (min cosine to torch fp32 %.6f)", precision, streams, cosine)
    return encoder
