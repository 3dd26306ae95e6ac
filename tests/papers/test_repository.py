"""Reading papers for cards: plain rows give exactly the JSON of the stored paper."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from alembic import command
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import alembic_config, migrate
from broadsheet.models import Paper, PaperListing
from broadsheet.papers import repository, schemas
from broadsheet.papers.ingest import import_items
from broadsheet.sources.daily_jsonl import read_daily_jsonl
from broadsheet.sources.hf_daily import read_hf_daily
from broadsheet.sources.records import PaperRecord, listed_under
from tests.fixtures.paths import ARXIV_CORPUS, HF_DAILY_DIR


def test_paper_fields_give_the_json_of_the_paper_itself(factory: sessionmaker[Session]) -> None:
    import_items(factory, read_hf_daily(HF_DAILY_DIR))
    with factory() as session:
        ids = sorted(session.scalars(select(Paper.arxiv_id)))[::40]
        voted = ids[0]
        session.execute(update(Paper).where(Paper.arxiv_id == voted).values(vote_count=3, comment_count=2))
        session.commit()

        rows = repository.paper_fields(session, [*ids, "2101.99999"])
        assert sorted(rows) == ids  # an unknown id is left out
        for arxiv_id, row in rows.items():
            paper = session.get(Paper, arxiv_id)
            assert paper is not None
            assert schemas.daily_item_json(None, row) == schemas.daily_item_json(None, paper)
        card = schemas.paper_json(rows[voted])
        stored = session.get(Paper, voted)
        assert stored is not None
        assert card["upvotes"] == stored.imported_upvotes + 3
        assert card["numComments"] == stored.imported_comments + 2
        assert isinstance(card["authors"], list) and card["publishedAt"].endswith("Z")
        assert repository.paper_fields(session, []) == {}


def _part_of(part: dict[str, Any], whole: dict[str, Any]) -> bool:
    """Every key of `part` is in `whole` with the same value (nested objects compared the same way)."""
    for key, value in part.items():
        if key not in whole:
            return False
        if isinstance(value, dict) and isinstance(whole[key], dict):
            if not _part_of(value, whole[key]):
                return False
        elif value != whole[key]:
            return False
    return True


def test_a_card_is_the_part_of_the_full_item_that_the_card_template_reads(
    factory: sessionmaker[Session],
) -> None:
    import_items(factory, read_hf_daily(HF_DAILY_DIR))
    with factory() as session:
        ids = sorted(session.scalars(select(Paper.arxiv_id)))[::25]
        session.execute(update(Paper).where(Paper.arxiv_id == ids[0]).values(vote_count=2, github_repo="https://x.org/r"))
        session.commit()

        cards = repository.card_fields(session, [*ids, "2101.99999"])
        assert sorted(cards) == ids
        for arxiv_id, row in cards.items():
            paper = session.get(Paper, arxiv_id)
            assert paper is not None
            card, full = schemas.card_item_json(row), schemas.daily_item_json(None, paper)
            assert _part_of(card, full), arxiv_id
            # What the card template reads of an item (`_cards.html`) is all in the card.
            assert {"submittedBy", "numComments", "pinned", "picked", "dailyDate"} <= card.keys()
            read = {"id", "upvotes", "title", "summary", "authors", "publishedAt", "links", "githubRepo", "projectPage"}
            assert read <= card["paper"].keys()
        first = session.get(Paper, ids[0])
        assert first is not None
        assert cards[ids[0]].github_repo == "https://x.org/r"
        assert schemas.card_item_json(cards[ids[0]])["paper"]["upvotes"] == first.imported_upvotes + 2
        assert set(schemas.paper_card_json(cards[ids[0]])) < set(schemas.paper_json(first))


def test_a_category_listing_matches_any_case_and_a_whole_archive(factory: sessionmaker[Session]) -> None:
    import_items(factory, islice(read_daily_jsonl(ARXIV_CORPUS), 400))
    with factory() as session:
        listed = {paper.arxiv_id: paper.categories for paper in session.scalars(select(Paper))}

        def listing(category: str) -> list[str]:
            return [p.arxiv_id for p in repository.category_papers(session, category, offset=0, limit=1000)]

        exact = listing("cs.CL")
        assert set(exact) == {arxiv_id for arxiv_id, categories in listed.items() if "cs.CL" in categories}
        assert exact and listing("cs.cl") == listing("CS.CL") == exact
        eess = {arxiv_id for arxiv_id, categories in listed.items() if any(c.startswith("eess.") for c in categories)}
        assert eess and set(listing("eess")) == eess and set(listing("EESS")) == eess
        assert listing("astro-ph.CO") == listing("cs_CL") == listing("cs.C") == []


def _newest_first(papers: dict[str, tuple[list[str], datetime | None]], category: str) -> list[str]:
    """What a category listing should be, worked out from every paper: newest first, undated last."""
    listed = [(when, arxiv_id) for arxiv_id, (cats, when) in papers.items() if listed_under(cats, category)]
    dated = sorted(((when, arxiv_id) for when, arxiv_id in listed if when), reverse=True)
    return [arxiv_id for _, arxiv_id in dated] + sorted((i for when, i in listed if when is None), reverse=True)


def test_a_category_listing_is_newest_first_and_follows_new_versions(factory: sessionmaker[Session]) -> None:
    records = [r for r in islice(read_daily_jsonl(ARXIV_CORPUS), 400) if isinstance(r, PaperRecord)]
    cl_paper = next(r for r in records if "cs.CL" in r.categories and all(c.startswith("cs.") for c in r.categories))
    undated = replace(records[-1], arxiv_id="2101.00001", published_at=None, categories=["cs.CL"])
    import_items(factory, [*records, undated])
    with factory() as session:

        def listing(category: str, offset: int = 0, limit: int = 1000) -> list[str]:
            return [p.arxiv_id for p in repository.category_papers(session, category, offset=offset, limit=limit)]

        papers = {p.arxiv_id: (p.categories, p.published_at) for p in session.scalars(select(Paper))}
        for category in ("cs", "cs.CL", "cs.lg", "eess", "stat.ML"):
            assert listing(category) == _newest_first(papers, category), category
        assert listing("cs.CL")[-1] == "2101.00001"  # no date: last
        assert listing("cs", offset=20, limit=20) == _newest_first(papers, "cs")[20:40]

    # A new version moving the paper to another archive leaves the listings it no longer belongs to.
    newer = replace(cl_paper, categories=["stat.ML"], version=(cl_paper.version or 1) + 1)
    import_items(factory, [newer])
    with factory() as session:
        assert cl_paper.arxiv_id not in listing("cs.CL") and cl_paper.arxiv_id not in listing("cs")
        assert cl_paper.arxiv_id in listing("stat.ml") and cl_paper.arxiv_id in listing("stat")


def test_the_migration_lists_the_papers_stored_before_it(factory: sessionmaker[Session]) -> None:
    import_items(factory, islice(read_daily_jsonl(ARXIV_CORPUS), 400))
    engine = factory.kw["bind"]
    assert isinstance(engine, Engine)

    def listings() -> set[tuple[str, str, datetime]]:
        with factory() as session:
            return {(row.key, row.arxiv_id, row.published_at) for row in session.scalars(select(PaperListing))}

    listed_by_ingest = listings()
    assert len(listed_by_ingest) > 800
    assert all(when > datetime(2000, 1, 1, tzinfo=UTC) for _, _, when in listed_by_ingest)
    command.downgrade(alembic_config(engine), "0003")
    migrate(engine)
    assert listings() == listed_by_ingest


def test_newest_in_categories_is_the_window_of_the_listings_without_repeats(factory: sessionmaker[Session]) -> None:
    """What personal digests of categories read: papers of a window under any of several names, newest first."""
    import_items(factory, islice(read_daily_jsonl(ARXIV_CORPUS), 400))
    with factory() as session:
        papers = {p.arxiv_id: (p.categories, p.published_at) for p in session.scalars(select(Paper))}
        dates = sorted(when for _, when in papers.values() if when)
        start, end = dates[len(dates) // 4], dates[3 * len(dates) // 4]
        wanted = ("CS.cl", "eess", "cs.LG")
        expected = sorted(
            (
                (when, arxiv_id)
                for arxiv_id, (cats, when) in papers.items()
                if when and start <= when <= end and any(listed_under(cats, name) for name in wanted)
            ),
            key=lambda row: (-row[0].timestamp(), row[1]),
        )
        got = repository.newest_in_categories(session, wanted, start, end, limit=1000)
        assert got == [arxiv_id for _, arxiv_id in expected] and len(got) == len(set(got)) > 20
        assert repository.newest_in_categories(session, wanted, start, end, limit=5) == got[:5]
