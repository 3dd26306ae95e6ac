"""The arXiv lookup behind submissions: one short, polite request through the shared source client."""

from __future__ import annotations

from broadsheet.community.service import ArxivUnavailable, Fetcher
from broadsheet.settings import Settings
from broadsheet.sources.records import PaperRecord


def arxiv_fetcher(settings: Settings) -> Fetcher:
    """A fetcher for `submit_paper`; a person is waiting, so it tries twice with a short timeout."""

    def fetch(arxiv_id: str) -> PaperRecord | None:
        from broadsheet.sources.arxiv_api import fetch_paper
        from broadsheet.sources.errors import SourceError
        from broadsheet.sources.http import HttpSettings, PoliteClient

        http = HttpSettings(
            timeout_s=min(settings.http_timeout_s, 15.0),
            politeness_delay_s=0.0,
            max_attempts=2,
            backoff_initial_s=1.0,
            backoff_max_s=2.0,
            retry_after_max_s=5.0,
        )
        try:
            with PoliteClient(http) as client:
                return fetch_paper(client, arxiv_id, base_url=settings.arxiv_api_url)
        except SourceError as error:
            raise ArxivUnavailable(f"arXiv could not be reached ({error}); try again in a minute") from None

    return fetch
