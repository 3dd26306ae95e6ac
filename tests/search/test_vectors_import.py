"""Precomputed vectors are used only after a re-embedded sample proves them right."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from broadsheet.search.bench import read_corpus
from broadsheet.search.embedder import Embedder
from broadsheet.search.errors import IndexFormatError, ModelMismatchError, VectorVerificationError
from broadsheet.search.text import embedding_text
from broadsheet.search.vectors_import import verify_vectors, write_vectors_dir
from tests.fixtures.paths import ARXIV_CORPUS, SHARED_DATA
from tests.search.conftest import SciFactSubset


@pytest.fixture
def vectors_dir(tmp_path: Path, scifact: SciFactSubset, embedder: Embedder) -> Path:
    papers = scifact.papers[:60]
    write_vectors_dir(
        tmp_path,
        [p.doc_id for p in papers],
        np.stack([scifact.vectors[p.doc_id] for p in papers]),
        embedder.model_id,
        [embedding_text(p.title, p.abstract) for p in papers],
    )
    return tmp_path


def texts_of(scifact: SciFactSubset) -> dict[str, tuple[str, str]]:
    return {p.doc_id: (p.title, p.abstract) for p in scifact.papers}


def test_good_vectors_pass(vectors_dir: Path, scifact: SciFactSubset, embedder: Embedder) -> None:
    checked = verify_vectors(vectors_dir, texts_of(scifact), embedder)
    assert checked.sampled >= 32 and checked.min_cosine > 0.99 and checked.texts_match is True


def test_vectors_of_another_model_are_refused(vectors_dir: Path, scifact: SciFactSubset, embedder: Embedder) -> None:
    manifest = json.loads((vectors_dir / "manifest.json").read_text())
    manifest["model"] = "sentence-transformers/all-mpnet-base-v2"
    (vectors_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelMismatchError, match="all-mpnet-base-v2"):
        verify_vectors(vectors_dir, texts_of(scifact), embedder)


def test_vectors_that_do_not_match_their_texts_are_refused(
    vectors_dir: Path, scifact: SciFactSubset, embedder: Embedder
) -> None:
    vectors = np.load(vectors_dir / "vectors.f16.npy")
    np.save(vectors_dir / "vectors.f16.npy", np.roll(vectors, 1, axis=0))  # every vector on the wrong paper
    with pytest.raises(VectorVerificationError, match="cosine"):
        verify_vectors(vectors_dir, texts_of(scifact), embedder)


def test_corrupt_or_misshapen_files_are_refused(vectors_dir: Path, scifact: SciFactSubset, embedder: Embedder) -> None:
    ids = (vectors_dir / "ids.txt").read_text().splitlines()
    (vectors_dir / "ids.txt").write_text("\n".join(ids[:-1]) + "\n")
    with pytest.raises(IndexFormatError, match="59 ids"):
        verify_vectors(vectors_dir, texts_of(scifact), embedder)
    (vectors_dir / "ids.txt").write_text("\n".join(ids) + "\n")
    raw = (vectors_dir / "vectors.f16.npy").read_bytes()
    (vectors_dir / "vectors.f16.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(IndexFormatError, match="corrupt"):
        verify_vectors(vectors_dir, texts_of(scifact), embedder)


def test_shared_arxiv_vectors_verify_against_their_papers(embedder: Embedder) -> None:
    texts = {p.doc_id: (p.title, p.abstract) for p in read_corpus(ARXIV_CORPUS)}
    checked = verify_vectors(SHARED_DATA / "arxiv" / "embeddings_minilm", texts, embedder, seed=1)
    assert checked.sampled == 32 and checked.min_cosine >= 0.99
    assert len(checked.ids) == 74_728 and checked.texts_match is True
