"""`broadsheet bench web`'s client against a real server: every answer timed, non-200 answers counted."""

from __future__ import annotations

import time

from broadsheet.bench import _client_process
from tests.fixtures.browser import LiveServer


def test_the_client_times_every_request_and_counts_errors(live_server: LiveServer) -> None:
    latencies, errors, cpu_s = _client_process(
        live_server.url, "/api/daily_papers?limit={q}", 6, time.time(), ["2", "3"]
    )
    assert len(latencies) == 6 and errors == 0
    assert all(value > 0 for value in latencies) and cpu_s >= 0

    for path, count, failed in [
        ("/papers/2601.00393", 3, 0),  # a whole page, on the same keep-alive connection
        ("/papers/2101.99999", 2, 2),  # not here: 404
        ("/search?q=2601.00393", 2, 2),  # an arXiv id: 303 to the paper
    ]:
        latencies, errors, _ = _client_process(live_server.url, path, count, time.time())
        assert (len(latencies), errors) == (count, failed), path
