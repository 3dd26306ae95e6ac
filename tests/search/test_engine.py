"""The hybrid searcher as a user meets it: meaning-based matches, filters, new and changed papers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from broadsheet.search.embedder import Embedder
from broadsheet.search.engine import HybridSearcher, Paper
from broadsheet.search.errors import IndexFormatError, ModelMismatchError
from broadsheet.search.lexical import LexicalIndex
from broadsheet.search.routes import marked
from broadsheet.search.select import top_k
from broadsheet.search.tokenizer import Tokenizer
from tests.search.conftest import EPILEPSY_PAPER, CountingEmbedder, SciFactSubset

MEANING_QUERY = "seizures passed down from parents that leave people unable to talk"


def ids(hits: list) -> list[str]:
    return [h.doc_id for h in hits]


def test_query_sharing_no_word_finds_the_paper_by_meaning(searcher: HybridSearcher, scifact: SciFactSubset) -> None:
    paper = scifact.by_id(EPILEPSY_PAPER)
    tok = Tokenizer()
    shared = set(tok.tokens(MEANING_QUERY)) & set(tok.tokens(f"{paper.title} {paper.abstract}"))
    assert shared == set(), f"query must share no term with the paper, shares {shared}"

    assert EPILEPSY_PAPER not in ids(searcher.search(MEANING_QUERY, 10, mode="bm25"))
    assert ids(searcher.search(MEANING_QUERY, 3, mode="dense"))[0] == EPILEPSY_PAPER
    assert EPILEPSY_PAPER in ids(searcher.search(MEANING_QUERY, 10, mode="hybrid"))


def test_keyword_hits_report_the_matched_terms(searcher: HybridSearcher) -> None:
    hits = searcher.search("familial partial epilepsy", 5, mode="hybrid")
    assert hits[0].doc_id == EPILEPSY_PAPER
    assert set(hits[0].matched_terms) == {"famili", "partial", "epilepsi"}
    paper_title = "Familial aphasic episodes: another variant of partial epilepsy with simple inheritance?"
    spans = Tokenizer().spans(paper_title, hits[0].matched_terms)
    assert [paper_title[s:e] for s, e in spans] == ["Familial", "partial", "epilepsy"]


def test_accents_are_folded_for_matching_and_marked_where_they_stand() -> None:
    tok = Tokenizer()
    assert tok.tokens("Naïve Bayes for the École") == tok.tokens("naive bayes for the ecole")
    terms = list(tok.query_terms("naive ecole erdos fine"))
    text = "A naïve model from the École Normale (Erdős, 1959), fine-tuned; naive Bayes"
    assert [text[s:e] for s, e in tok.spans(text, terms)] == ["naïve", "École", "Erdős", "fine", "naive"]
    # "ﬁ" folds to two letters: the ligature is left as it stands, so its word is not marked, while
    # the accented words around it still are, and no other word is marked wrongly.
    text = "A naïve model from the École Normale (Erdős, 1959), ﬁne-tuned; naive Bayes"
    assert [text[s:e] for s, e in tok.spans(text, terms)] == ["naïve", "École", "Erdős", "naive"]
    # A text shortened for a card ends in "…", which folds to three dots: its words are marked as well.
    text = "Erdős and the naïve École…"
    assert [text[s:e] for s, e in tok.spans(text, terms)] == ["Erdős", "naïve", "École"]


def test_marked_text_is_escaped_around_and_inside_the_marks() -> None:
    tok = Tokenizer()
    terms = list(tok.query_terms("graph networks"))
    plain = "Graph neural networks for molecules"
    assert marked(plain, tok.spans(plain, terms)) == "<mark>Graph</mark> neural <mark>networks</mark> for molecules"
    html = 'Graph <b>networks</b> & "friends"'
    assert marked(html, tok.spans(html, terms)) == (
        "<mark>Graph</mark> &lt;b&gt;<mark>networks</mark>&lt;/b&gt; &amp; &#34;friends&#34;"
    )


def test_a_page_of_texts_is_highlighted_like_each_text_alone() -> None:
    tok = Tokenizer()
    terms = ["epilepsi", "partial", "the"]  # a stop word never marks, even as a term
    texts = [
        "Partial epilepsy",
        "",
        "The epileptic, partially",
        "Epilepsies. The partial (epilepsy)",
        "none",
        "İzmir: PARTIAL Epilepsy",  # "İ" lowercases to two characters: offsets still fall on the words
    ]
    page = tok.spans_of_each(texts, terms)
    assert page == [tok.spans(text, terms) for text in texts]
    assert [[text[s:e] for s, e in spans] for text, spans in zip(texts, page, strict=True)] == [
        ["Partial", "epilepsy"],
        [],
        ["partially"],  # stems to "partial"; "epileptic" stems to "epilept"
        ["Epilepsies", "partial", "epilepsy"],
        [],
        ["PARTIAL", "Epilepsy"],
    ]
    assert tok.spans_of_each(texts, []) == [[]] * len(texts)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_filter_returns_the_best_allowed_papers_not_a_short_list(
    searcher: HybridSearcher, scifact: SciFactSubset, mode: str
) -> None:
    query = next(iter(scifact.queries.values()))
    everything = ids(searcher.search(query, len(scifact.papers), mode="bm25" if mode == "bm25" else "dense"))
    # allow every third paper, none of the unfiltered top 10
    allowed = {p.doc_id for i, p in enumerate(scifact.papers) if i % 3 == 0} - set(everything[:10])
    hits = ids(searcher.search(query, 10, mode=mode, allowed=allowed))  # type: ignore[arg-type]
    assert set(hits) <= allowed
    if mode == "bm25":
        expected = [d for d in everything if d in allowed][:10]
        assert hits == expected
    elif mode == "dense":
        assert hits == [d for d in everything if d in allowed][:10]
    else:
        assert len(hits) == 10
    mask = searcher.mask_for(allowed)
    assert ids(searcher.search(query, 10, mode=mode, allowed=mask)) == hits  # type: ignore[arg-type]


def test_tiny_filter_still_returns_every_allowed_paper(searcher: HybridSearcher, scifact: SciFactSubset) -> None:
    allowed = {scifact.papers[1].doc_id, scifact.papers[2].doc_id}
    hits = searcher.search("protein folding in bacteria", 10, mode="hybrid", allowed=allowed)
    assert set(ids(hits)) == allowed


def test_paper_added_after_build_is_found_at_once(searcher: HybridSearcher) -> None:
    new = Paper(
        "new-1", "Zebrafish fin regeneration atlas", "A single-cell atlas of zebrafish fin regrowth.", ("Ada Lovelace",)
    )
    assert "new-1" not in ids(searcher.search("zebrafish fin regeneration", 5, mode="hybrid"))
    report = searcher.add([new])
    assert report.added == 1 and "new-1" in report.embedded
    for mode in ("bm25", "dense", "hybrid"):
        assert ids(searcher.search("zebrafish fin regeneration", 5, mode=mode))[0] == "new-1"  # type: ignore[arg-type]
    assert ids(searcher.search("lovelace", 5, mode="bm25")) == ["new-1"]


def test_changed_abstract_replaces_the_old_entry_and_is_embedded_once(
    embedder: Embedder, scifact: SciFactSubset
) -> None:
    counting = CountingEmbedder(embedder)
    engine = HybridSearcher(counting)
    engine.add(scifact.papers, vectors=scifact.vectors)
    assert counting.embedded == []

    engine.add([Paper("p1", "Tardigrade desiccation survival", "Water bears survive drying by vitrification.")])
    changed = Paper("p1", "Tardigrade desiccation survival", "Water bears survive freezing by antifreeze proteins.")
    report = engine.add([changed])
    assert report.replaced == 1
    assert (
        counting.embedded.count("Tardigrade desiccation survival Water bears survive freezing by antifreeze proteins.")
        == 1
    )
    assert len(counting.embedded) == 2

    assert engine.add([changed]).unchanged == 1  # same text again: nothing embedded
    assert len(counting.embedded) == 2

    assert "p1" not in ids(engine.search("vitrification", 10, mode="bm25"))
    hits = ids(engine.search("tardigrade antifreeze proteins", 10, mode="hybrid"))
    assert hits[0] == "p1" and hits.count("p1") == 1
    assert len(engine) == len(scifact.papers) + 1


def test_removed_paper_is_never_returned(searcher: HybridSearcher) -> None:
    searcher.remove([EPILEPSY_PAPER])
    for mode in ("bm25", "dense", "hybrid"):
        assert EPILEPSY_PAPER not in ids(searcher.search("familial partial epilepsy", 20, mode=mode))  # type: ignore[arg-type]


def test_filtered_search_stays_exact_when_the_vectors_use_hnsw(embedder: Embedder, scifact: SciFactSubset) -> None:
    engine = HybridSearcher(embedder, ann_threshold=100)  # force the HNSW path on 300 papers
    engine.add(scifact.papers, vectors=scifact.vectors)
    assert engine.vectors is not None and engine.vectors.uses_ann
    exact = HybridSearcher(embedder)
    exact.add(scifact.papers, vectors=scifact.vectors)
    query = next(iter(scifact.queries.values()))
    allowed = {p.doc_id for i, p in enumerate(scifact.papers) if i % 2 == 0}
    got = ids(engine.search(query, 10, mode="dense", allowed=allowed))
    want = ids(exact.search(query, 10, mode="dense", allowed=allowed))
    assert set(got) <= allowed and len(got) == 10
    assert len(set(got) & set(want)) >= 9
    few = set(list(allowed)[:5])
    assert set(ids(engine.search(query, 10, mode="dense", allowed=few))) == few


def test_fusion_scores_every_candidate_by_its_exact_cosine(embedder: Embedder, scifact: SciFactSubset) -> None:
    """The semantic side's own scores are reused for the rows it found; the rest are computed."""
    engine = HybridSearcher(embedder, ann_threshold=100)
    engine.add(scifact.papers, vectors=scifact.vectors)
    assert engine.vectors is not None
    keyword_only = 0
    for query in list(scifact.queries.values())[:10]:
        qvec = embedder.encode_query(query)
        lexical = engine.lexical.score_all(list(engine.tokenizer.query_terms(query)))
        lex_rows, _ = top_k(lexical, 50, engine.lexical.candidates(lexical, None))
        dense_rows, dense_top = engine.vectors.search(qvec, 50)
        union = np.union1d(lex_rows, dense_rows)
        keyword_only += union.size - dense_rows.size
        got = engine._dense_scores(qvec, union, dense_rows, dense_top)
        np.testing.assert_allclose(got, engine.vectors.scores_for(qvec, union), atol=1e-5)
    assert keyword_only > 0
    # Through the graph (searched only as wide as the candidate list) the fused top 10 is the exact one's.
    exact = HybridSearcher(embedder)
    exact.add(scifact.papers, vectors=scifact.vectors)
    for query in list(scifact.queries.values())[:10]:
        assert len(set(ids(engine.search(query, 10))) & set(ids(exact.search(query, 10)))) >= 9


def test_unknown_mode_is_refused(searcher: HybridSearcher) -> None:
    with pytest.raises(ValueError, match="mode"):
        searcher.search("x", 10, mode="fuzzy")  # type: ignore[arg-type]


def test_bm25_only_searcher_needs_no_model(scifact: SciFactSubset) -> None:
    engine = HybridSearcher(None)
    engine.add(scifact.papers)
    assert ids(engine.search("familial partial epilepsy", 1, mode="bm25")) == [EPILEPSY_PAPER]
    with pytest.raises(ValueError, match="embedder"):
        engine.search("epilepsy", 1, mode="dense")
    assert np.all(engine.mask_for([EPILEPSY_PAPER]).nonzero()[0] == [engine.slot_of[EPILEPSY_PAPER]])


def test_a_saved_index_answers_like_the_one_saved_and_takes_changes(
    embedder: Embedder, scifact: SciFactSubset, tmp_path: Path
) -> None:
    engine = HybridSearcher(embedder, ann_threshold=100)  # with its HNSW graph
    engine.add(scifact.papers, vectors=scifact.vectors)
    engine.add([Paper("late-1", "Tardigrade desiccation", "Water bears survive drying.")])  # in the delta segment
    engine.add([Paper(scifact.papers[0].doc_id, "Replaced title", "A replaced abstract.")])  # a dead slot
    engine.remove([scifact.papers[1].doc_id])
    engine.save(tmp_path / "index")

    counting = CountingEmbedder(embedder)
    loaded = HybridSearcher.load(tmp_path / "index", counting)
    assert loaded.vectors is not None and loaded.vectors.uses_ann
    assert len(loaded) == len(engine) and loaded.ids == engine.ids
    queries = [*scifact.queries.values(), "tardigrade", "replaced abstract", MEANING_QUERY]
    for query in queries:
        for mode in ("bm25", "dense", "hybrid"):
            want = engine.search(query, 10, mode=mode)  # type: ignore[arg-type]
            got = loaded.search(query, 10, mode=mode)  # type: ignore[arg-type]
            assert ids(got) == ids(want), (query, mode)
            np.testing.assert_allclose([h.score for h in got], [h.score for h in want], rtol=1e-6)
            assert [h.matched_terms for h in got] == [h.matched_terms for h in want]

    assert loaded.add(scifact.papers[2:]).unchanged == len(scifact.papers) - 2  # nothing re-embedded
    changed = Paper("late-1", "Tardigrade desiccation", "Water bears survive freezing with antifreeze proteins.")
    assert loaded.add([changed]).replaced == 1
    loaded.remove([EPILEPSY_PAPER])
    assert len(counting.embedded) == 1
    assert ids(loaded.search("tardigrade antifreeze proteins", 3))[0] == "late-1"
    assert EPILEPSY_PAPER not in ids(loaded.search("familial partial epilepsy", 20))


def test_a_damaged_or_foreign_saved_index_is_refused(
    embedder: Embedder, scifact: SciFactSubset, tmp_path: Path
) -> None:
    engine = HybridSearcher(embedder)
    engine.add(scifact.papers, vectors=scifact.vectors)
    engine.save(tmp_path / "index")
    with pytest.raises(ModelMismatchError, match="built for model"):
        HybridSearcher.load(tmp_path / "index", None)  # a keyword-only site reading a hybrid index
    with pytest.raises(IndexFormatError, match="another tokenizer"):
        LexicalIndex.load(tmp_path / "index" / "lexical", tokenizer=Tokenizer(stem=False))
    with pytest.raises(FileExistsError):
        engine.save(tmp_path / "index")  # a save never writes over another

    (tmp_path / "index" / "lexical" / "docs.npy").write_bytes(b"not an array")
    with pytest.raises(IndexFormatError, match="keyword index is unreadable"):
        HybridSearcher.load(tmp_path / "index", embedder)
    shutil.rmtree(tmp_path / "index")
    engine.save(tmp_path / "index")
    slots = json.loads((tmp_path / "index" / "slots.json").read_text())
    (tmp_path / "index" / "slots.json").write_text(json.dumps({**slots, "ids": slots["ids"][:-1]}))
    with pytest.raises(IndexFormatError, match="disagree"):
        HybridSearcher.load(tmp_path / "index", embedder)
