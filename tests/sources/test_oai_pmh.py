"""OAI-PMH harvesting and the arXiv / arXivRaw / oai_dc parsers, on recorded arXiv responses."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from broadsheet.sources.errors import MalformedResponse, OaiProtocolError
from broadsheet.sources.http import PoliteClient
from broadsheet.sources.oai_pmh import OaiPage, harvest_oai, records_from_oai_xml
from broadsheet.sources.records import DeletedRecord, PaperRecord, PaperVersion, RecordProblem, SourceItem
from tests.fixtures.replay import ReplayServer, Reply

from .conftest import RecordedSleeps

DC_PAGE = "oai_ListRecords_oai_dc_set-cs_from-2024-01-25_resumptionToken.xml"
HEP_EX = "oai_ListRecords_arXiv_set-physics-hep-ex_2017-12-14.xml"
HEP_TH = "oai_ListRecords_arXiv_set-physics-hep-th_2017-12-14.xml"


@pytest.fixture(scope="module")
def oai_dir(arxiv_data: Path) -> Path:
    return arxiv_data / "oai_pmh"


def recorded(oai_dir: Path, name: str) -> bytes:
    return (oai_dir / name).read_bytes()


def paper_records(items: list[SourceItem]) -> list[PaperRecord]:
    assert not [item for item in items if isinstance(item, RecordProblem)]
    return [item for item in items if isinstance(item, PaperRecord)]


def with_final_empty_token(page: bytes) -> bytes:
    return page.replace(b"</ListRecords>", b'<resumptionToken cursor="1001" completeListSize="1162"/>\n</ListRecords>')


def oai_error(code: str, message: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
<responseDate>2024-01-27T17:53:42Z</responseDate>
<request verb="ListRecords">http://export.arxiv.org/oai2</request>
<error code="{code}">{message}</error>
</OAI-PMH>""".encode()


# --- parsing recorded responses -------------------------------------------------------------------


def test_every_recorded_response_parses_without_problems(oai_dir: Path) -> None:
    counts = {
        path.name: len(paper_records(records_from_oai_xml(path.read_bytes(), location=path.name)))
        for path in sorted(oai_dir.rglob("*.xml"))
    }
    assert counts[DC_PAGE] == 5
    assert counts[HEP_EX] == 3
    assert counts["oai_GetRecord_arXiv_sample_arxiv_record.xml"] == 12
    assert sum(counts.values()) == 5 + 3 + 3 + 1 + 12 + 11


def test_arxiv_format_record_fields(oai_dir: Path) -> None:
    items = records_from_oai_xml(recorded(oai_dir, HEP_EX))
    paper = {record.arxiv_id: record for record in paper_records(items)}["1706.09418"]
    assert paper.title == "R-Parity Violation at the LHC"
    assert paper.authors[:3] == ["Daniel Dercks", "Herbi Dreiner", "Manuel E. Krauss"]
    assert paper.categories == ["hep-ph", "hep-ex"]
    assert paper.published_at == datetime(2017, 6, 28, tzinfo=UTC)
    assert paper.updated_at == datetime(2017, 11, 26, tzinfo=UTC)
    assert paper.journal_ref == "Eur. Phys. J. C (2017) 77:856"
    assert paper.doi == "10.1140/epjc/s10052-017-5414-4"
    assert paper.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert paper.comment is not None and paper.comment.startswith("43 pages, 13 tables, 17 figures; updated Figs.")
    assert "including the $\\bar U\\bar D\\bar D$ models" in paper.abstract
    assert "\n" not in paper.abstract


def test_arxiv_element_without_namespace_is_still_read(oai_dir: Path) -> None:
    content = recorded(oai_dir, "hepcrawl_GetRecord_arXiv/oai_GetRecord_arXiv_sample_arxiv_record0.xml")
    assert b"<arXiv xsi:schemaLocation" in content  # the fixture really lacks the xmlns
    (paper,) = paper_records(records_from_oai_xml(content))
    assert paper.arxiv_id == "1601.03238"
    assert paper.authors[0] == "Planck Collaboration"  # keyname only
    assert paper.authors[1] == "Jieci Wang"
    assert paper.title == "Irreversible degradation of quantum coherence under relativistic motion"
    assert paper.categories[0] == "quant-ph"
    assert paper.doi == "10.1103/PhysRevD.93.016005"  # the first of the several DOIs in the record


def test_oai_dc_record_fields(oai_dir: Path) -> None:
    first = paper_records(records_from_oai_xml(recorded(oai_dir, DC_PAGE)))[0]
    assert first.arxiv_id == "1303.2033"
    assert first.title == "Extended Fourier analysis of signals"
    assert first.authors == ["Vilnis Liepins"]
    assert first.categories == ["cs.DS", "cs.IT", "math.NA"]
    assert first.comment == "32 pages, 9 figures"
    assert first.abstract.startswith("This summary of the doctoral thesis")
    assert not first.abstract.startswith("Comment:")
    assert first.published_at == datetime(2013, 3, 8, tzinfo=UTC)
    assert first.updated_at == datetime(2024, 1, 23, tzinfo=UTC)


def test_arxiv_raw_record_has_versions_and_verbatim_tex(arxiv_data: Path) -> None:
    # No arXivRaw response was recorded; build one from the snapshot's first record, which arXiv
    # exports from the same arXivRaw metadata.
    snapshot = arxiv_data / "kaggle_snapshot_format" / "arxiv-metadata-oai-snapshot.first200.jsonl"
    source = json.loads(snapshot.read_text(encoding="utf-8").splitlines()[0])
    versions = "".join(
        f'<version version="{item["version"]}"><date>{item["created"]}</date><size>10kb</size></version>'
        for item in source["versions"]
    )
    document = f"""<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><GetRecord><record>
<header><identifier>oai:arXiv.org:{source["id"]}</identifier><datestamp>2008-11-26</datestamp></header>
<metadata><arXivRaw xmlns="http://arxiv.org/OAI/arXivRaw/"><id>{source["id"]}</id>
<submitter>{escape(source["submitter"])}</submitter>{versions}
<title>{escape(source["title"])}</title><authors>{escape(source["authors"])}</authors>
<categories>{source["categories"]}</categories><comments>{escape(source["comments"])}</comments>
<journal-ref>{escape(source["journal-ref"])}</journal-ref><doi>{source["doi"]}</doi>
<abstract>{escape(source["abstract"])}</abstract></arXivRaw></metadata></record></GetRecord></OAI-PMH>"""
    (paper,) = paper_records(records_from_oai_xml(document.encode()))
    assert paper.arxiv_id == "0704.0001"
    assert paper.authors == ["C. Bal\\'azs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]
    assert paper.title == "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    assert paper.versions == [
        PaperVersion(1, datetime(2007, 4, 2, 19, 18, 42, tzinfo=UTC)),
        PaperVersion(2, datetime(2007, 7, 24, 20, 10, 27, tzinfo=UTC)),
    ]
    assert paper.version == 2
    assert paper.published_at == datetime(2007, 4, 2, 19, 18, 42, tzinfo=UTC)
    assert paper.updated_at == datetime(2007, 7, 24, 20, 10, 27, tzinfo=UTC)
    assert paper.doi == "10.1103/PhysRevD.76.013009"


def test_deleted_records_are_reported_as_deletions(oai_dir: Path) -> None:
    content = recorded(oai_dir, HEP_EX).decode()
    # Turn the second recorded record into a deletion notice, as arXiv sends them.
    records = re.split(r"(?=<record>)", content)
    header_end = records[2].index("</header>")
    records[2] = (
        records[2][:header_end].replace("<header>", '<header status="deleted">')
        + "</header>\n</record>\n"
        + ("</ListRecords>\n</OAI-PMH>" if "</ListRecords>" in records[2] else "")
    )
    items = records_from_oai_xml("".join(records).encode())
    assert DeletedRecord("1706.09418") in items
    assert [item.arxiv_id for item in items if isinstance(item, PaperRecord)] == ["1706.05371", "1707.00874"]


def test_record_without_title_is_a_problem_and_the_rest_still_arrive(oai_dir: Path) -> None:
    content = recorded(oai_dir, HEP_TH)
    broken = re.sub(rb"<title>.*?</title>", b"<title> </title>", content, count=1, flags=re.S)
    items = records_from_oai_xml(broken, location="hep-th.xml")
    problems = [item for item in items if isinstance(item, RecordProblem)]
    assert len(problems) == 1
    assert problems[0].location == "hep-th.xml record 1"
    assert problems[0].arxiv_id is not None and "title" in problems[0].reason
    assert len([item for item in items if isinstance(item, PaperRecord)]) == 2


def test_saved_file_that_is_cut_short_raises_naming_it(oai_dir: Path) -> None:
    content = recorded(oai_dir, HEP_TH)
    with pytest.raises(MalformedResponse, match="saved.xml"):
        records_from_oai_xml(content[:-300], location="saved.xml")


# --- harvesting over HTTP -------------------------------------------------------------------------


def test_harvest_follows_resumption_token_to_the_empty_final_token(
    replay_server: ReplayServer, client: PoliteClient, oai_dir: Path
) -> None:
    replay_server.queue(
        Reply(recorded(oai_dir, DC_PAGE)),
        Reply(with_final_empty_token(recorded(oai_dir, HEP_TH))),
    )
    pages: list[OaiPage] = []
    items = list(
        harvest_oai(
            client,
            metadata_prefix="oai_dc",
            set_spec="cs",
            from_date="2024-01-25",
            base_url=f"{replay_server.url}/oai",
            on_page=pages.append,
        )
    )
    first_page_ids = [item.arxiv_id for item in paper_records(records_from_oai_xml(recorded(oai_dir, DC_PAGE)))]
    second_page_ids = [item.arxiv_id for item in paper_records(records_from_oai_xml(recorded(oai_dir, HEP_TH)))]
    assert [item.arxiv_id for item in paper_records(items)] == first_page_ids + second_page_ids
    assert len(items) == 8

    first, second = replay_server.requests
    assert first.query == {
        "verb": "ListRecords",
        "metadataPrefix": "oai_dc",
        "set": "cs",
        "from": "2024-01-25",
    }
    assert second.query == {"verb": "ListRecords", "resumptionToken": "6960524|1001"}
    assert [(page.resumption_token, page.complete_list_size) for page in pages] == [
        ("6960524|1001", 1162),
        (None, 1162),
    ]


def test_harvest_waits_out_a_503_retry_after(
    replay_server: ReplayServer, client: PoliteClient, sleeps: RecordedSleeps, oai_dir: Path
) -> None:
    replay_server.queue(
        Reply(b"Retry after 10 seconds", status=503, headers={"Retry-After": "10"}, content_type="text/plain"),
        Reply(recorded(oai_dir, HEP_EX)),
    )
    items = list(harvest_oai(client, set_spec="physics:hep-ex", base_url=replay_server.url))
    assert len(paper_records(items)) == 3
    assert sleeps.waits == [10.0]
    assert replay_server.requests[0].query == replay_server.requests[1].query


def test_no_records_match_is_an_empty_harvest(replay_server: ReplayServer, client: PoliteClient) -> None:
    replay_server.queue(Reply(oai_error("noRecordsMatch", "No records match")))
    assert list(harvest_oai(client, from_date="2030-01-01", base_url=replay_server.url)) == []


def test_other_oai_errors_raise_with_code_and_url(replay_server: ReplayServer, client: PoliteClient) -> None:
    replay_server.queue(Reply(oai_error("badResumptionToken", "Token expired")))
    with pytest.raises(OaiProtocolError) as raised:
        list(harvest_oai(client, resumption_token="6960524|1001", base_url=f"{replay_server.url}/oai"))
    assert raised.value.code == "badResumptionToken"
    assert "Token expired" in str(raised.value)
    assert "resumptionToken=6960524%7C1001" in str(raised.value)


def test_truncated_page_raises_after_retries_naming_the_url(
    replay_server: ReplayServer, client: PoliteClient, oai_dir: Path
) -> None:
    content = recorded(oai_dir, DC_PAGE)
    replay_server.respond_with(lambda seen: Reply(content[: len(content) * 2 // 3]))
    with pytest.raises(MalformedResponse) as raised:
        list(harvest_oai(client, metadata_prefix="oai_dc", set_spec="cs", base_url=f"{replay_server.url}/oai"))
    assert "/oai?verb=ListRecords&metadataPrefix=oai_dc&set=cs" in str(raised.value)
    assert len(replay_server.requests) == 3


def test_unknown_metadata_prefix_is_refused(client: PoliteClient) -> None:
    with pytest.raises(ValueError, match="arXivRaw"):
        list(harvest_oai(client, metadata_prefix="marc21", base_url="http://127.0.0.1:9"))


def test_harvest_commands_refuse_a_malformed_day_before_any_request() -> None:
    from typer.testing import CliRunner

    from broadsheet.cli import app

    for args in (
        ["harvest", "oai", "--from", "2026-99-01"],
        ["harvest", "arxiv-api", "--category", "cs.CL", "--until", "soon"],
    ):
        result = CliRunner().invoke(app, args)
        said = " ".join(result.output.replace("│", " ").split())
        assert result.exit_code == 2 and "expected a day as YYYY-MM-DD" in said, result.output
