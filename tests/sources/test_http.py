"""The shared HTTP client: retries, Retry-After, backoff, politeness delay and clear failures."""

from __future__ import annotations

import socket

import pytest

from broadsheet.sources.errors import MalformedResponse, SourceHttpError, SourceUnavailable
from broadsheet.sources.http import HttpSettings, PoliteClient
from tests.fixtures.replay import ReplayServer, Reply

from .conftest import RecordedSleeps


def test_503_with_retry_after_waits_that_long_then_succeeds(
    replay_server: ReplayServer, client: PoliteClient, sleeps: RecordedSleeps
) -> None:
    replay_server.queue(
        Reply(b"busy", status=503, headers={"Retry-After": "7"}, content_type="text/plain"),
        Reply(b"<ok/>"),
    )
    root = client.get_xml(f"{replay_server.url}/oai", {"verb": "Identify"})
    assert root.tag == "ok"
    assert sleeps.waits == [7.0]
    assert len(replay_server.requests) == 2


def test_retry_after_is_capped(replay_server: ReplayServer, client: PoliteClient, sleeps: RecordedSleeps) -> None:
    replay_server.queue(Reply(b"", status=503, headers={"Retry-After": "86400"}), Reply(b"<ok/>"))
    client.get_xml(f"{replay_server.url}/oai")
    assert sleeps.waits == [30.0]  # the fixture's retry_after_max_s, not a day


def test_5xx_backs_off_exponentially_then_names_the_url(
    replay_server: ReplayServer, client: PoliteClient, sleeps: RecordedSleeps
) -> None:
    replay_server.respond_with(lambda seen: Reply(b"oops", status=502, content_type="text/plain"))
    with pytest.raises(SourceUnavailable) as raised:
        client.get_bytes(f"{replay_server.url}/api/query", {"id_list": "1601.00001"})
    assert sleeps.waits == [0.5, 1.0]
    assert len(replay_server.requests) == 3
    assert "id_list=1601.00001" in str(raised.value)
    assert "HTTP 502" in str(raised.value)
    assert raised.value.url is not None and raised.value.url.startswith(replay_server.url)


def test_client_error_is_not_retried(replay_server: ReplayServer, client: PoliteClient) -> None:
    replay_server.respond_with(lambda seen: Reply(b"no such verb", status=400, content_type="text/plain"))
    with pytest.raises(SourceHttpError) as raised:
        client.get_bytes(f"{replay_server.url}/oai", {"verb": "Nope"})
    assert raised.value.upstream_status == 400
    assert raised.value.status == 502  # what Broadsheet itself answers: the upstream failed
    assert len(replay_server.requests) == 1


def test_connection_refused_is_retried_then_reported(client: PoliteClient, sleeps: RecordedSleeps) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SourceUnavailable, match="ConnectError"):
        client.get_bytes(f"http://127.0.0.1:{port}/api/query")
    assert len(sleeps.waits) == 2


def test_dropped_connection_mid_body_is_retried(
    replay_server: ReplayServer, client: PoliteClient, sleeps: RecordedSleeps
) -> None:
    replay_server.queue(Reply(b"<feed>half", declared_length=5000), Reply(b"<feed/>"))
    assert client.get_xml(f"{replay_server.url}/api/query").tag == "feed"
    assert len(sleeps.waits) == 1


def test_body_that_never_parses_raises_malformed_response(replay_server: ReplayServer, client: PoliteClient) -> None:
    replay_server.respond_with(lambda seen: Reply(b"<feed><entry>"))
    with pytest.raises(MalformedResponse) as raised:
        client.get_xml(f"{replay_server.url}/api/query", {"start": 0})
    assert f"{replay_server.url}/api/query?start=0" in str(raised.value)
    assert "after 3 attempts" in str(raised.value)


def test_politeness_delay_spaces_requests(replay_server: ReplayServer) -> None:
    now = [100.0]
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    replay_server.respond_with(lambda seen: Reply(b"<ok/>"))
    settings = HttpSettings(politeness_delay_s=3.0)
    with PoliteClient(settings, sleep=fake_sleep, clock=lambda: now[0]) as polite:
        polite.get_bytes(replay_server.url)
        now[0] += 1.0  # the caller spends a second between requests
        polite.get_bytes(replay_server.url)
        polite.get_bytes(replay_server.url)
    assert waits == [2.0, 3.0]
