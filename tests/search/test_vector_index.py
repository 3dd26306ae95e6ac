"""Vector index directory: round trip, appends as segments, and refusal of another model's index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from broadsheet.search.errors import IndexFormatError, ModelMismatchError
from broadsheet.search.vector_index import VectorIndex
from tests.fixtures.paths import SHARED_DATA
from tests.search.conftest import SciFactSubset

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def test_saved_index_reopens_identically_and_appends_a_segment(tmp_path: Path, scifact: SciFactSubset) -> None:
    ids = list(scifact.vectors)
    vecs = np.stack([scifact.vectors[i] for i in ids])
    index = VectorIndex(MODEL, 384)
    index.add(ids[:200], vecs[:200])
    index.save(tmp_path)
    again = VectorIndex.load(tmp_path, MODEL)
    again.add(ids[200:], vecs[200:])
    again.add([ids[0]], vecs[1:2])  # replaced vector
    again.remove([ids[5]])
    again.save(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("seg-*.npy")) == ["seg-00000.f32.npy", "seg-00001.f32.npy"]

    final = VectorIndex.load(tmp_path, MODEL)
    assert len(final) == len(ids) - 1
    rows, scores = final.search(vecs[1], 2)
    assert {final.ids[r] for r in rows} == {ids[0], ids[1]}
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    assert final.vector_of(ids[5]) is None

    final.save(tmp_path / "copy")  # a new directory gets every row, not only those added since the load
    copy = VectorIndex.load(tmp_path / "copy", MODEL)
    assert copy.ids == final.ids and np.array_equal(copy.vectors, final.vectors)
    assert np.array_equal(copy.alive[: copy.n_rows], final.alive[: final.n_rows])


def test_index_of_another_model_is_refused(tmp_path: Path, scifact: SciFactSubset) -> None:
    index = VectorIndex("other/model", 384)
    index.add(["a"], np.stack([next(iter(scifact.vectors.values()))]))
    index.save(tmp_path)
    with pytest.raises(ModelMismatchError, match="other/model"):
        VectorIndex.load(tmp_path, MODEL)
    mine = VectorIndex(MODEL, 384)
    mine.add(["b"], index.vectors)
    with pytest.raises(ModelMismatchError, match="refusing to append"):
        mine.save(tmp_path)


def test_truncated_segment_is_reported(tmp_path: Path, scifact: SciFactSubset) -> None:
    index = VectorIndex(MODEL, 384)
    index.add(list(scifact.vectors)[:10], np.stack(list(scifact.vectors.values())[:10]))
    index.save(tmp_path)
    seg = tmp_path / "seg-00000.f32.npy"
    seg.write_bytes(seg.read_bytes()[:1000])
    with pytest.raises(IndexFormatError, match="seg-00000"):
        VectorIndex.load(tmp_path, MODEL)


def test_hnsw_graph_survives_save_and_load(tmp_path: Path, scifact: SciFactSubset) -> None:
    ids = list(scifact.vectors)
    vecs = np.stack(list(scifact.vectors.values()))
    index = VectorIndex(MODEL, 384, ann_threshold=100)
    index.add(ids, vecs)
    assert index.uses_ann
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, MODEL)
    assert loaded.uses_ann and (tmp_path / "hnsw.bin").exists()
    rows, _ = loaded.search(vecs[7], 1)
    assert loaded.ids[rows[0]] == ids[7]


def test_the_same_rows_always_make_the_same_graph() -> None:
    """Every worker builds its own graph: a query must get the same results from each of them."""
    vectors = np.load(SHARED_DATA / "arxiv" / "embeddings_minilm" / "vectors.f16.npy", mmap_mode="r")
    vectors = np.asarray(vectors[:10_000], dtype=np.float32)
    ids = [str(i) for i in range(len(vectors))]
    found = []
    for _ in range(2):
        index = VectorIndex(MODEL, 384, ann_threshold=0)
        index.add(ids, vectors)
        assert index.uses_ann
        found.append([index.search(query, 100, None, ef=100)[0].tolist() for query in vectors[::32]])
    assert found[0] == found[1]
