"""arXiv search API client, against recorded Atom responses served from a local HTTP server."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lxml import etree

from broadsheet.sources.arxiv_api import (
    build_search_query,
    fetch_by_ids,
    fetch_paper,
    parse_atom_feed,
    search_arxiv,
)
from broadsheet.sources.errors import ArxivApiError, MalformedResponse
from broadsheet.sources.http import PoliteClient
from broadsheet.sources.records import InvalidArxivId, PaperRecord, RecordProblem
from tests.fixtures.replay import ReplayServer, Reply, Responder, SeenRequest

ATOM = "{http://www.w3.org/2005/Atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"


@pytest.fixture(scope="module")
def atom_dir(arxiv_data: Path) -> Path:
    return arxiv_data / "api_atom"


@pytest.fixture(scope="module")
def all_science(atom_dir: Path) -> bytes:
    return (atom_dir / "arxiv_api_atom_query_all_science_2019-08-10.xml").read_bytes()


@pytest.fixture(scope="module")
def id_list_feed(atom_dir: Path) -> bytes:
    return (atom_dir / "arxiv_api_atom_id_list_1601.00001_2020-09-04.xml").read_bytes()


def papers(items: list[PaperRecord | RecordProblem]) -> list[PaperRecord]:
    assert not [item for item in items if isinstance(item, RecordProblem)]
    return [item for item in items if isinstance(item, PaperRecord)]


def test_recorded_id_list_entry_is_read_completely(id_list_feed: bytes) -> None:
    page = parse_atom_feed(id_list_feed, location="id_list.xml")
    assert page.total_results == 1
    (paper,) = papers(page.items)
    assert paper.arxiv_id == "1601.00001"
    assert paper.version == 1
    assert paper.title == "Inelastic effects in molecular transport junctions: The probe technique at high bias"
    assert paper.abstract.startswith('We extend the Landauer-B\\"uttiker probe formalism')
    assert "distinct $I$-$V$ characteristics" in paper.abstract  # LaTeX kept verbatim
    assert "\n" not in paper.abstract and "  " not in paper.abstract
    assert paper.authors == ["Michael Kilgour", "Dvira Segal"]
    assert paper.categories == ["cond-mat.mes-hall"]
    assert paper.published_at == datetime(2015, 12, 26, 21, 19, 45, tzinfo=UTC)
    assert paper.doi == "10.1063/1.4944470"
    assert paper.journal_ref == "J. Chem. Phys. 144, 124107 (2016)"
    assert paper.source == "arxiv-api"


def test_primary_category_first_and_comment_read(atom_dir: Path) -> None:
    content = (atom_dir / "arxiv_api_atom_query_cs.RO_neural_2025-10-17.xml").read_bytes()
    first = papers(parse_atom_feed(content).items)[0]
    assert first.arxiv_id == "2510.14968"
    assert first.categories == ["cs.RO", "cs.AI", "cs.CV", "cs.LG", "cs.SY", "eess.SY"]
    assert first.comment == (
        "39th Conference on Neural Information Processing Systems (NeurIPS 2025); "
        "Project Website: rdd-neurips.github.io"
    )


def test_search_query_combines_category_dates_and_terms() -> None:
    query = build_search_query(
        category="cs.CL", submitted_from=date(2024, 1, 1), submitted_until=date(2024, 1, 31), terms="ti:llm"
    )
    assert query == "cat:cs.CL AND submittedDate:[202401010000 TO 202401312359] AND (ti:llm)"
    with pytest.raises(ValueError):
        build_search_query()


def _paged(feed: bytes, total: int) -> Responder:
    """Serve slices of a recorded feed by start/max_results, as the real API pages."""
    root = etree.fromstring(feed)
    entries = root.findall(f"{ATOM}entry")

    def respond(seen: SeenRequest) -> Reply:
        start, size = int(seen.query["start"]), int(seen.query["max_results"])
        page = copy.deepcopy(root)
        for entry in page.findall(f"{ATOM}entry"):
            page.remove(entry)
        for entry in entries[start : start + size]:
            page.append(copy.deepcopy(entry))
        total_element = page.find(f"{OPENSEARCH}totalResults")
        assert total_element is not None
        total_element.text = str(total)
        return Reply(etree.tostring(page, xml_declaration=True, encoding="UTF-8"))

    return respond


def test_search_pages_with_start_and_max_results_until_total(
    replay_server: ReplayServer, client: PoliteClient, all_science: bytes
) -> None:
    replay_server.respond_with(_paged(all_science, total=10))
    found = papers(
        list(search_arxiv(client, search_query="all:science", page_size=4, base_url=f"{replay_server.url}/api/query"))
    )
    expected = [entry.findtext(f"{ATOM}id") for entry in etree.fromstring(all_science).findall(f"{ATOM}entry")]
    assert [f"http://arxiv.org/abs/{paper.arxiv_id}v{paper.version}" for paper in found] == expected
    assert [(seen.query["start"], seen.query["max_results"]) for seen in replay_server.requests] == [
        ("0", "4"),
        ("4", "4"),
        ("8", "4"),
    ]
    assert {seen.query["search_query"] for seen in replay_server.requests} == {"all:science"}


def test_max_results_limits_what_is_fetched(
    replay_server: ReplayServer, client: PoliteClient, all_science: bytes
) -> None:
    replay_server.respond_with(_paged(all_science, total=120839))
    found = list(
        search_arxiv(client, category="cs.DB", page_size=4, max_results=5, base_url=f"{replay_server.url}/api/query")
    )
    assert len(found) == 5
    assert [seen.query["max_results"] for seen in replay_server.requests] == ["4", "1"]
    assert replay_server.requests[0].query["search_query"] == "cat:cs.DB"


def test_stops_at_an_empty_page_even_if_total_says_more(
    replay_server: ReplayServer, client: PoliteClient, all_science: bytes
) -> None:
    replay_server.respond_with(_paged(all_science, total=120839))  # the recorded total
    found = list(search_arxiv(client, search_query="all:science", page_size=10, base_url=replay_server.url))
    assert len(found) == 10
    assert len(replay_server.requests) == 2


def test_fetch_paper_by_id_sends_id_list(
    replay_server: ReplayServer, client: PoliteClient, id_list_feed: bytes
) -> None:
    replay_server.respond_with(lambda seen: Reply(id_list_feed))
    paper = fetch_paper(client, "1601.00001v1", base_url=f"{replay_server.url}/api/query")
    assert paper is not None and paper.doi == "10.1063/1.4944470"
    assert replay_server.requests[0].path == "/api/query"
    assert replay_server.requests[0].query["id_list"] == "1601.00001v1"
    assert "search_query" not in replay_server.requests[0].query


def test_fetch_paper_returns_none_when_arxiv_returns_another_paper(
    replay_server: ReplayServer, client: PoliteClient, id_list_feed: bytes
) -> None:
    replay_server.respond_with(lambda seen: Reply(id_list_feed))
    assert fetch_paper(client, "1601.00002", base_url=replay_server.url) is None


def test_fetch_by_ids_rejects_bad_ids_before_any_request(replay_server: ReplayServer, client: PoliteClient) -> None:
    with pytest.raises(InvalidArxivId, match="not-an-id"):
        fetch_by_ids(client, ["1601.00001", "not-an-id"], base_url=replay_server.url)
    assert replay_server.requests == []


def test_fetch_by_ids_accepts_old_style_ids(
    replay_server: ReplayServer, client: PoliteClient, id_list_feed: bytes
) -> None:
    replay_server.respond_with(lambda seen: Reply(id_list_feed))
    fetch_by_ids(client, ["hep-th/9901001", "math.GT/0309136v2"], base_url=replay_server.url)
    assert replay_server.requests[0].query["id_list"] == "hep-th/9901001,math.GT/0309136v2"


def test_truncated_response_is_retried_then_reported_with_url(
    replay_server: ReplayServer, client: PoliteClient, all_science: bytes
) -> None:
    replay_server.respond_with(lambda seen: Reply(all_science[: len(all_science) // 2]))
    with pytest.raises(MalformedResponse) as raised:
        list(search_arxiv(client, category="cs.DB", base_url=f"{replay_server.url}/api/query"))
    message = str(raised.value)
    assert f"{replay_server.url}/api/query?" in message and "search_query=cat%3Acs.DB" in message
    assert "not well-formed XML" in message
    assert len(replay_server.requests) == 3


def test_truncated_response_followed_by_good_one_succeeds(
    replay_server: ReplayServer, client: PoliteClient, id_list_feed: bytes
) -> None:
    replay_server.queue(Reply(id_list_feed[:700]))
    replay_server.respond_with(lambda seen: Reply(id_list_feed))
    assert fetch_paper(client, "1601.00001", base_url=replay_server.url) is not None


def test_malformed_xml_names_the_url(replay_server: ReplayServer, client: PoliteClient, id_list_feed: bytes) -> None:
    broken = id_list_feed.replace(b"</title>", b"</titel>", 1)
    replay_server.respond_with(lambda seen: Reply(broken))
    with pytest.raises(MalformedResponse, match=r"id_list=1601\.00001.*mismatch"):
        fetch_paper(client, "1601.00001", base_url=replay_server.url)


def test_api_error_entry_raises_with_arxiv_message(replay_server: ReplayServer, client: PoliteClient) -> None:
    error_feed = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:totalResults>
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234.1234v</id>
    <title>Error</title>
    <summary>incorrect id format for 1234.1234v</summary>
  </entry>
</feed>"""
    replay_server.respond_with(lambda seen: Reply(error_feed))
    with pytest.raises(ArxivApiError, match="incorrect id format for 1234.1234v"):
        list(search_arxiv(client, search_query="id:1234.1234v", base_url=replay_server.url))


def test_entry_without_title_is_a_problem_and_the_rest_still_arrive(all_science: bytes) -> None:
    root = etree.fromstring(all_science)
    second = root.findall(f"{ATOM}entry")[1]
    title = second.find(f"{ATOM}title")
    assert title is not None
    title.text = "   \n  "
    page = parse_atom_feed(etree.tostring(root), location="feed.xml")
    problems = [item for item in page.items if isinstance(item, RecordProblem)]
    assert [(problem.location, problem.arxiv_id) for problem in problems] == [("feed.xml entry 2", "1503.01162")]
    assert len([item for item in page.items if isinstance(item, PaperRecord)]) == 9
