"""The OpenVINO paper path: torch's vectors, in the caller's order, a refused graph, and a safe fallback."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from broadsheet.search.embedder import Embedder
from broadsheet.search.onnx_query import PARITY_SENTENCES, checked_export, truncating_tokenizer
from broadsheet.search.openvino_papers import PaperEncoderError, load_paper_encoder
from broadsheet.search.service import SearchService
from broadsheet.search.text import embedding_text
from tests.fixtures.app import make_settings, migrated_factory
from tests.search.conftest import SciFactSubset, sharing_model

EDGE_TEXTS = [
    "x",
    "  Über die Wirkung von β-Blockern auf 心脏 function — naïve café patients  ",
    # well past the 256-token limit, so truncation must match torch
    " ".join(["Mitochondrial dysfunction drives neurodegeneration in aged mice"] * 60),
]


@pytest.fixture
def texts(scifact: SciFactSubset) -> list[str]:
    """Real abstracts of every length, with the odd cases in the middle of the list."""
    real = [embedding_text(p.title, p.abstract) for p in scifact.papers[:90]]
    return real[:45] + EDGE_TEXTS + real[45:]


def test_openvino_vectors_are_torchs_in_the_callers_order(embedder: Embedder, texts: list[str], tmp_path: Path) -> None:
    fast = sharing_model(embedder, cache_dir=tmp_path, batch_size=16)
    assert fast.active_paper_backend() == "openvino"
    got = fast.encode(texts)
    assert got.shape == (len(texts), 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    want = fast.encode_torch(texts, precision="fp32")
    cosine = (got * want).sum(axis=1)
    assert cosine.min() >= 0.9995, cosine.min()  # bf16: 0.99997 on real abstracts
    assert cosine.min() < 0.9999999  # really the bf16 graph, not torch's fp32 answer
    # batches run longest first on two requests at once; each row must still be its own text's
    assert (np.argmax(got @ want.T, axis=1) == np.arange(len(texts))).all()
    assert fast.encode([]).shape == (0, 384)


def test_a_papers_vector_does_not_depend_on_its_batch(embedder: Embedder, texts: list[str], tmp_path: Path) -> None:
    fast = sharing_model(embedder, cache_dir=tmp_path, batch_size=32)
    together = fast.encode(texts)
    for i in (0, 44, 45, 47, len(texts) - 1):
        assert float(fast.encode([texts[i]])[0] @ together[i]) >= 0.9999, i


def test_fp32_through_openvino_is_torch_fp32(embedder: Embedder, texts: list[str], tmp_path: Path) -> None:
    fast = sharing_model(embedder, cache_dir=tmp_path, precision="fp32")
    assert fast.active_paper_backend() == "openvino"
    cosine = (fast.encode(texts[:40]) * fast.encode_torch(texts[:40])).sum(axis=1)
    assert cosine.min() >= 0.99999


def test_a_graph_that_disagrees_with_torch_is_refused(embedder: Embedder, tmp_path: Path) -> None:
    model = embedder._load()
    fp32 = sharing_model(embedder, cache_dir=tmp_path)

    def reference(sentences: object) -> np.ndarray:
        return np.roll(fp32.encode_torch(list(PARITY_SENTENCES), precision="fp32"), 1, axis=0)  # wrong rows

    path = checked_export(model, fp32.onnx_path, lambda s: fp32.encode_torch(s, precision="fp32"))
    tokenizer = truncating_tokenizer(model)
    with pytest.raises(PaperEncoderError, match="disagrees with torch"):
        load_paper_encoder(path, tokenizer, 0, reference, PARITY_SENTENCES, threads=1, precision="bf16")
    good = load_paper_encoder(
        path, tokenizer, 0, lambda s: fp32.encode_torch(s, precision="fp32"), PARITY_SENTENCES, 1, "bf16"
    )
    assert good.streams == 1 and good.encode(["x"]).shape == (1, 384)
    with pytest.raises(PaperEncoderError, match="cannot run"):
        (tmp_path / "broken.onnx").write_bytes(b"\x00not a model" * 64)
        load_paper_encoder(tmp_path / "broken.onnx", tokenizer, 0, reference, PARITY_SENTENCES, 1, "bf16")


def test_without_openvino_papers_embed_with_torch(
    embedder: Embedder,
    texts: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # makes `import openvino` fail
    fallback = sharing_model(embedder, cache_dir=tmp_path)
    with caplog.at_level(logging.WARNING):
        vectors = fallback.encode(texts[:8])
        fallback.release_paper_encoders()
        fallback.encode(texts[:2])
    assert "papers embed with torch" in caplog.text and "openvino is not installed" in caplog.text
    assert caplog.text.count("papers embed with torch") == 1, "warned once, not at every burst"
    assert fallback.active_paper_backend() == "torch"
    np.testing.assert_allclose(vectors, fallback.encode_torch(texts[:8]), atol=1e-6)


def test_the_setting_chooses_the_paper_backend(embedder: Embedder, tmp_path: Path) -> None:
    chosen = sharing_model(embedder, cache_dir=tmp_path, paper_backend="torch")
    assert chosen.active_paper_backend() == "torch"
    assert not chosen.onnx_path.exists()  # torch needs no export
    for backend in ("torch", "openvino"):
        settings = make_settings(tmp_path, embeddings_enabled=True, paper_embedding_backend=backend)
        _, factory = migrated_factory(settings.resolved_database_url)
        service = SearchService(settings, factory)
        assert service.embedder is not None and service.embedder.paper_backend == backend


def test_a_released_encoder_compiles_again_with_the_same_vectors(
    embedder: Embedder, texts: list[str], tmp_path: Path
) -> None:
    fast = sharing_model(embedder, cache_dir=tmp_path)
    first = fast.encode(texts[:20])
    compiled = fast._paper_encoders[("bf16", fast.threads)]
    fast.release_paper_encoders()
    assert not fast._paper_encoders
    again = fast.encode(texts[:20])
    assert fast._paper_encoders[("bf16", fast.threads)] is not compiled
    np.testing.assert_allclose(again, first, atol=1e-6)
