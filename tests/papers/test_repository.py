"""Reading papers for cards: plain rows give exactly the JSON of the stored paper."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.models import Paper
from broadsheet.papers import repository, schemas
from broadsheet.papers.ingest import import_items
from broadsheet.sources.hf_daily import read_hf_daily
from tests.fixtures.paths import HF_DAILY_DIR


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
