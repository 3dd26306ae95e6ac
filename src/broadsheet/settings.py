"""The one typed settings object: every knob has a name, a default and a line of help."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "dev-only-change-me"


class Settings(BaseSettings):
    """Broadsheet's configuration, read from `BROADSHEET_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="BROADSHEET_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development", description="development allows the placeholder secret key; production refuses it."
    )
    data_dir: Path = Field(Path("data"), description="Directory for the SQLite file, indexes and outbox.")
    database_url: str = Field(
        "", description="SQLAlchemy URL; empty means a SQLite file `broadsheet.sqlite3` in data_dir."
    )
    secret_key: str = Field(PLACEHOLDER_SECRET, description="Signs sessions, CSRF and email tokens.")
    base_url: str = Field("http://127.0.0.1:8000", description="Public URL used in emails and feeds.")
    site_name: str = Field("Broadsheet", description="Name shown in page titles, feeds and emails.")
    reload_templates: bool = Field(
        False, description="Re-read page templates when their files change (for editing them; costs a stat per use)."
    )
    page_cache_ttl_s: float = Field(
        3.0, description="Seconds an anonymous GET response is reused (0 turns the page cache off).", ge=0
    )
    page_size: int = Field(50, description="Papers per page in feeds and search results.", ge=1, le=200)
    shared_data_dir: Path = Field(
        Path("../shared/data"), description="Where the bundled real data (arXiv, HF daily) is read from."
    )
    arxiv_api_url: str = Field("https://export.arxiv.org/api/query", description="arXiv search API endpoint (Atom).")
    arxiv_oai_url: str = Field("https://oaipmh.arxiv.org/oai", description="arXiv OAI-PMH endpoint.")
    arxiv_delay_s: float = Field(3.0, description="Politeness delay between requests to arXiv.", ge=0)
    http_timeout_s: float = Field(30.0, description="Timeout for one HTTP request to a source.", gt=0)
    http_retries: int = Field(4, description="Retries for a failed request to a source.", ge=0)
    import_batch_size: int = Field(2000, description="Records written per transaction during import.", ge=1)
    search_enabled: bool = Field(True, description="Build the search index at start-up (in the background).")
    search_sync_interval_s: float = Field(
        10.0, description="Seconds between checks for new or changed papers to index.", gt=0
    )
    search_lanes: int = Field(
        1,
        description="Searches one worker process works on at once; the rest queue (search is CPU-bound, "
        "so interleaving more only stretches every request). Add workers, not lanes, to use more cores.",
        ge=1,
        le=64,
    )
    embeddings_enabled: bool = Field(True, description="Compute semantic embeddings for new papers.")
    paper_embedding_backend: Literal["openvino", "torch"] = Field(
        "openvino", description="What embeds new papers: OpenVINO (1.3-1.4x faster on CPU, same vectors) or torch."
    )
    query_precision: Literal["int8", "fp32"] = Field(
        "int8", description="How search queries are embedded: int8 (2.5x faster, same nDCG@10) or fp32 ONNX."
    )
    vectors_dir: Path | None = Field(
        None, description="Precomputed vectors that `bootstrap` imports (default: the shared data's MiniLM vectors)."
    )
    submission_max_age_days: int = Field(
        14, description="Oldest paper (days since first version) that may be submitted to today's feed.", ge=0
    )
    trending_window_days: int = Field(7, description="Window of days that /trending looks at.", ge=1)
    session_days: int = Field(30, description="Days a sign-in session lasts.", ge=1)
    login_max_attempts: int = Field(5, description="Failed sign-ins allowed per account or address per window.", ge=1)
    login_window_s: int = Field(900, description="Window for counting failed sign-ins (seconds).", ge=1)
    smtp_host: str = Field("", description="SMTP server; empty means emails go to the outbox directory.")
    smtp_port: int = Field(587, description="SMTP port.")
    smtp_security: Literal["none", "starttls", "tls"] = Field("starttls", description="SMTP transport security.")
    smtp_user: str = Field("", description="SMTP user name (empty: no login).")
    smtp_password: str = Field("", description="SMTP password.")
    mail_from: str = Field("Broadsheet <digest@localhost>", description="From address of digest emails.")
    scheduler_enabled: bool = Field(True, description="Run digests and index upkeep inside `serve`.")
    smtp_timeout_s: float = Field(30.0, description="Timeout for one SMTP command (seconds).", gt=0)
    digest_send_hour: int = Field(
        18,
        description="UTC hour at which the scheduler sends daily (Mon-Fri) and weekly (Sunday) digests.",
        ge=0,
        le=23,
    )
    digest_confirm_hours: int = Field(48, description="Hours a subscription confirmation link stays valid.", ge=1)
    digest_retry_attempts: int = Field(
        4, description="Tries of one email on temporary SMTP failures (4xx, lost connection).", ge=1
    )
    digest_retry_base_s: float = Field(
        2.0, description="First backoff between SMTP retries (seconds); doubles each try.", ge=0
    )
    digest_smtp_connections: int = Field(
        4, description="SMTP connections used in parallel while sending digests.", ge=1, le=32
    )
    digest_failure_threshold: int = Field(
        3, description="Permanent (5xx) failures in a row after which a subscription is paused.", ge=1
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment == "production" and (self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < 32):
            raise ValueError(
                "BROADSHEET_SECRET_KEY must be set to a random value of at least 32 characters in production"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'broadsheet.sqlite3').resolve()}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def cookie_secure(self) -> bool:
        return self.base_url.startswith("https://")
