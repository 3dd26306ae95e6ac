"""Embeds one search query with ONNX Runtime, from a cached one-time ONNX export of the loaded sentence model."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Bump when the exported graph changes (inputs, outputs, pooling), so old cache files are not picked up.
EXPORT_FORMAT = 2  # 2: attention exported as plain ops (eager), ~8% faster in int8 than the SDPA graph
ONNX_OPSET = 17
MIN_COSINE = 0.9999
# int8 weights (per output channel) move a query vector a little: over the 844 SciFact and CACM queries
# plus one-word probes the cosine to fp32 was 0.987 at worst, 0.994 on average, and nDCG@10 stayed
# within 0.005 (README); a file below this bar is broken, not merely quantised.
INT8_MIN_COSINE = 0.98
# Fixed parity sentences: short, non-ASCII, and one past the 256-token limit so truncation is checked too.
PARITY_SENTENCES = (
    "Aspirin lowers the risk of colorectal cancer.",
    "Naïve T-Zellen in der Milz: 免疫応答 and β-cell function (α < 0.05).",
    " ".join(["Long abstracts are truncated to the model's maximum sequence length."] * 40),
)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_CONFIG_FILES = ("config.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json", "tokenizer.json")


class OnnxQueryError(RuntimeError):
    """The ONNX query path cannot be used; the caller falls back to torch."""


def default_cache_dir() -> Path:
    """Per-user cache directory for exported query models (`$XDG_CACHE_HOME/broadsheet/onnx`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "broadsheet" / "onnx"


def export_path(cache_dir: Path, model_id: str, model_path: str) -> Path:
    """Cache file for one model: `<model-id-slug>-<hash of the weights' identity and configs>.onnx`.

    The weights are identified by their content (sha256 of 90 MB: 0.12 s here, once per process),
    not by where they are installed or when: every install of the same model package (a new
    virtualenv, a fresh clone) shares one export instead of leaving 150 MB behind each. A stale or
    foreign file is still caught by the parity check against torch at load.
    """
    key: dict[str, Any] = {"format": EXPORT_FORMAT, "opset": ONNX_OPSET, "model_id": model_id}
    root = Path(model_path)
    for name in (*_WEIGHT_FILES, *_CONFIG_FILES):
        if (root / name).is_file():
            with (root / name).open("rb") as handle:
                key[name] = hashlib.file_digest(handle, "sha256").hexdigest()
    if not any(name in key for name in _WEIGHT_FILES):  # a hub id or an unusual layout: where it is, then
        key["path"] = str(root.resolve()) if root.is_dir() else model_path
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "--", model_id).strip("-.") or "model"
    return cache_dir / f"{slug}-{digest}.onnx"


class OnnxQueryEncoder:
    """One query at a time through an ONNX Runtime session; `encode` is safe to call from several threads."""

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        path: Path,
        exported: bool,
        export_s: float | None,
        precision: str = "fp32",
    ) -> None:
        self.session = session
        self.tokenizer = tokenizer  # a configured `tokenizers.Tokenizer`: encode() only reads it
        self.path = path
        self.exported = exported
        self.export_s = export_s
        self.precision = precision
        self._input_names = {i.name for i in session.get_inputs()}

    def encode(self, query: str) -> np.ndarray:
        """Float32 unit vector of shape (dim,): mean pooling and L2 normalisation are inside the graph."""
        enc = self.tokenizer.encode(query)
        ids = np.asarray([enc.ids], dtype=np.int64)
        feed = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.asarray([enc.type_ids], dtype=np.int64),
        }
        out = self.session.run(None, {k: v for k, v in feed.items() if k in self._input_names})[0]
        return np.asarray(out[0], dtype=np.float32)


def truncating_tokenizer(model: Any) -> Any:
    """A private copy of the fast tokenizer, truncating like the model and never padding.

    Calling the `transformers` tokenizer with truncation arguments reconfigures the shared Rust
    tokenizer on every call, which fails ("Already borrowed") under concurrent use; this copy is
    configured once and then only read.
    """
    hf_tokenizer = model.tokenizer
    if not getattr(hf_tokenizer, "is_fast", False):
        raise OnnxQueryError("the model has no fast tokenizer")
    tokenizer = copy.deepcopy(hf_tokenizer.backend_tokenizer)
    direction = getattr(hf_tokenizer, "truncation_side", "right")
    tokenizer.enable_truncation(max_length=int(model.max_seq_length), direction=direction)
    tokenizer.no_padding()
    return tokenizer


def _export(model: Any, path: Path) -> float:
    """Export transformer + the model's own pooling/normalize modules to `path` atomically; returns seconds."""
    import torch

    class SentenceGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stages = torch.nn.ModuleList(list(model))

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            transformer: Any = self.stages[0]
            hidden = transformer.auto_model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            features = {"token_embeddings": hidden, "attention_mask": attention_mask}
            for module in self.stages[1:]:
                features = module(features)
            return features["sentence_embedding"]

    # A padded batch of two, so the traced graph always applies the attention mask.
    dummy = model.tokenizer(
        ["an example query", "a second, longer example query for padding"], padding=True, return_tensors="pt"
    )
    args = (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"])
    dynamic = {name: {0: "batch", 1: "sequence"} for name in ("input_ids", "attention_mask", "token_type_ids")}
    dynamic["sentence_embedding"] = {0: "batch"}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
    os.close(fd)
    started = time.perf_counter()
    try:
        with torch.no_grad(), warnings.catch_warnings(), _eager_attention(model[0].auto_model):
            warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python branches
            torch.onnx.export(
                SentenceGraph().eval(),
                args,
                tmp_name,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["sentence_embedding"],
                dynamic_axes=dynamic,
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        # rename is atomic: a second process sees either no file or a complete one
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return time.perf_counter() - started


@contextmanager
def _eager_attention(transformer: Any) -> Iterator[None]:
    """Attention as plain MatMul/Softmax ops while exporting: the scaled-dot-product form traces into
    extra shape and masking nodes that cost ONNX Runtime ~0.2 ms a query (2.5 -> 2.3 ms in int8)."""
    before = getattr(transformer.config, "_attn_implementation", None)
    if before is None or before == "eager" or not hasattr(transformer, "set_attn_implementation"):
        yield
        return
    transformer.set_attn_implementation("eager")
    try:
        yield
    finally:
        transformer.set_attn_implementation(before)


def int8_path(path: Path) -> Path:
    """Where the int8 version of the export at `path` is cached."""
    return path.with_name(path.stem + "-int8.onnx")


def _quantize(source: Path, target: Path) -> float:
    """Write an int8 copy of the fp32 export (MatMul weights per output channel) atomically; returns seconds."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.stem + ".", suffix=".tmp")
    os.close(fd)
    advice = _DropQuantizeAdvice()
    logging.getLogger().addFilter(advice)
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                str(source), tmp_name, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
            )
        os.replace(tmp_name, target)
    finally:
        logging.getLogger().removeFilter(advice)
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return time.perf_counter() - started


class _DropQuantizeAdvice(logging.Filter):
    """onnxruntime logs (on the root logger) a suggestion meant for image models at every quantisation."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def _int8_encoder(
    fp32: OnnxQueryEncoder, reference: Callable[[Sequence[str]], np.ndarray], threads: int
) -> OnnxQueryEncoder:
    """The int8 query model beside the fp32 export, quantising it first when missing, unreadable or off."""
    path = int8_path(fp32.path)
    if path.is_file():
        try:
            encoder = OnnxQueryEncoder(_session(path, threads), fp32.tokenizer, path, False, None, "int8")
            cosine = _min_cosine(encoder, reference)
            if cosine >= INT8_MIN_COSINE:
                return encoder
            log.warning("cached int8 query model %s disagrees with torch (cosine %.6f); re-quantising", path, cosine)
        except Exception as exc:
            log.warning("cached int8 query model %s is unreadable (%s); re-quantising", path, exc)
    seconds = _quantize(fp32.path, path)
    encoder = OnnxQueryEncoder(_session(path, threads), fp32.tokenizer, path, True, seconds, "int8")
    cosine = _min_cosine(encoder, reference)
    if cosine < INT8_MIN_COSINE:
        raise OnnxQueryError(f"int8 query model disagrees with torch (min cosine {cosine:.6f} < {INT8_MIN_COSINE})")
    log.info("quantised the ONNX query model to int8 in %.1f s (min cosine %.6f)", seconds, cosine)
    return encoder


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _min_cosine(encoder: OnnxQueryEncoder, reference: Callable[[Sequence[str]], np.ndarray]) -> float:
    got = np.stack([encoder.encode(s) for s in PARITY_SENTENCES])
    return min_row_cosine(reference(PARITY_SENTENCES), got)


def min_row_cosine(expected: np.ndarray, got: np.ndarray) -> float:
    """The lowest cosine between matching rows of two (n, dim) arrays (how far a fast path strays)."""
    cosine = (expected * got).sum(axis=1) / np.maximum(
        np.linalg.norm(expected, axis=1) * np.linalg.norm(got, axis=1), 1e-12
    )
    return float(cosine.min())


def load_query_encoder(
    model: Any,
    path: Path,
    reference: Callable[[Sequence[str]], np.ndarray],
    threads: int = 1,
    precision: str = "fp32",
) -> OnnxQueryEncoder:
    """Open the cached export at `path` (exporting it first if missing, unreadable or off), checked against torch.

    `reference` embeds sentences with the torch fp32 model. Raises `OnnxQueryError` when ONNX Runtime
    is missing or a fresh export still disagrees with torch. With `precision="int8"` the int8 copy
    is returned instead, or the fp32 export (with a warning) when quantising fails.
    """
    fp32 = _fp32_encoder(model, path, reference, threads)
    if precision != "int8":
        return fp32
    try:
        return _int8_encoder(fp32, reference, threads)
    except Exception as exc:
        log.warning("int8 query model unavailable, using fp32 ONNX: %s", exc)
        return fp32


def checked_export(model: Any, path: Path, reference: Callable[[Sequence[str]], np.ndarray]) -> Path:
    """The fp32 ONNX export at `path`, exported first if missing, unreadable or off, and checked against torch.

    The paper path (`openvino_papers`) compiles this same file, again after each release; a file this
    process has checked (here or for the query path) is not checked again while unchanged. Raises
    `OnnxQueryError` as `load_query_encoder`.
    """
    if _file_key(path) in _CHECKED_EXPORTS:
        return path
    return _fp32_encoder(model, path, reference, 1).path


# (path, mtime, size) of the exports `_fp32_encoder` has found to agree with torch in this process
_CHECKED_EXPORTS: set[tuple[str, int, int]] = set()


def _file_key(path: Path) -> tuple[str, int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), stat.st_mtime_ns, stat.st_size)


def _fp32_encoder(
    model: Any, path: Path, reference: Callable[[Sequence[str]], np.ndarray], threads: int
) -> OnnxQueryEncoder:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise OnnxQueryError("onnxruntime is not installed") from exc
    tokenizer = truncating_tokenizer(model)
    if path.is_file():
        try:
            encoder = OnnxQueryEncoder(_session(path, threads), tokenizer, path, exported=False, export_s=None)
            cosine = _min_cosine(encoder, reference)
            if cosine >= MIN_COSINE:
                _CHECKED_EXPORTS.add(_file_key(path))
                return encoder
            log.warning("cached ONNX query model %s disagrees with torch (cosine %.6f); re-exporting", path, cosine)
        except Exception as exc:  # a truncated or corrupt file: replace it
            log.warning("cached ONNX query model %s is unreadable (%s); re-exporting", path, exc)
    try:
        export_s = _export(model, path)
        encoder = OnnxQueryEncoder(_session(path, threads), tokenizer, path, exported=True, export_s=export_s)
    except Exception as exc:
        raise OnnxQueryError(f"ONNX export failed: {exc}") from exc
    cosine = _min_cosine(encoder, reference)
    if cosine < MIN_COSINE:
        raise OnnxQueryError(f"ONNX export disagrees with torch (min cosine {cosine:.6f} < {MIN_COSINE})")
    log.info("exported ONNX query model to %s in %.1f s (min cosine %.6f)", path, export_s, cosine)
    _CHECKED_EXPORTS.add(_file_key(path))
    return encoder
