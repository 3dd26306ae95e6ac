"""Exactly once: kill `broadsheet digest send` after k of n messages, run it again, count what arrived."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.db import unit_of_work
from broadsheet.models import DigestDelivery
from broadsheet.settings import Settings
from tests.digest.conftest import add_subscriber
from tests.fixtures.smtp import SmtpServer


def _command_env(settings: Settings) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BROADSHEET_")}
    env.update(
        {
            "BROADSHEET_ENVIRONMENT": "test",
            "BROADSHEET_DATA_DIR": str(settings.data_dir),
            "BROADSHEET_SECRET_KEY": settings.secret_key,
            "BROADSHEET_BASE_URL": settings.base_url,
            "BROADSHEET_SMTP_HOST": settings.smtp_host,
            "BROADSHEET_SMTP_PORT": str(settings.smtp_port),
            "BROADSHEET_SMTP_SECURITY": "none",
            "BROADSHEET_DIGEST_SMTP_CONNECTIONS": "1",
            "BROADSHEET_SCHEDULER_ENABLED": "false",
            "BROADSHEET_SEARCH_ENABLED": "false",
            "BROADSHEET_EMBEDDINGS_ENABLED": "false",
        }
    )
    return env


def test_a_killed_send_run_again_delivers_exactly_one_digest_per_subscriber(
    mail_settings: Settings, loaded_factory: sessionmaker[Session], smtp_server: SmtpServer, tmp_path: Path
) -> None:
    n, k = 7, 3
    for index in range(n):
        add_subscriber(loaded_factory, f"reader{index}@example.org", max_papers=3)
    command = [sys.executable, "-m", "broadsheet", "digest", "send", "--period", "daily", "--date", "2026-05-28"]
    running: list[subprocess.Popen[str]] = []

    def kill_on_message_after_k(recipients: list[str], attempt: int) -> str | None:
        if attempt == k + 1 and running:
            os.kill(running[0].pid, signal.SIGKILL)  # mid-transaction: this message is never accepted
            return "451 4.3.0 Server shutting down"
        return None

    smtp_server.reply = kill_on_message_after_k
    env = _command_env(mail_settings)
    first = subprocess.Popen(command, env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    running.append(first)
    first.communicate(timeout=120)
    assert first.returncode == -signal.SIGKILL
    assert len(smtp_server.received) == k
    with unit_of_work(loaded_factory) as session:
        statuses = Counter(d.status for d in session.scalars(select(DigestDelivery)))
    assert statuses["sent"] == k and statuses["claimed"] >= 1, statuses

    running.clear()
    second = subprocess.run(command, env=env, cwd=tmp_path, text=True, capture_output=True, timeout=120)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout.strip().splitlines()[-1])
    assert report["sent"] == n - k and report["already_done"] == k and report["resent_after_crash"] >= 1

    per_recipient = Counter(r for item in smtp_server.received for r in item.recipients)
    assert per_recipient == Counter({f"reader{index}@example.org": 1 for index in range(n)})
    assert len({item.message["Message-ID"] for item in smtp_server.received}) == n
    with unit_of_work(loaded_factory) as session:
        assert {d.status for d in session.scalars(select(DigestDelivery))} == {"sent"}
