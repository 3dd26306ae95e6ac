"""`broadsheet serve --workers 2`: connections dealt to the least loaded worker, dead workers replaced."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from broadsheet.settings import Settings
from broadsheet.web.workers import default_workers
from tests.fixtures.browser import free_port

WORKERS = 2


def _is_worker(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE and any("spawn_main" in part for part in process.cmdline())
    except psutil.Error:  # gone meanwhile
        return False


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Served:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process, self.port = process, port

    def workers(self) -> list[psutil.Process]:
        return [child for child in psutil.Process(self.process.pid).children() if _is_worker(child)]

    def connect(self) -> http.client.HTTPConnection:
        """A keep-alive connection that has been answered once, so a worker holds it."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", "/api/daily_papers?limit=1")
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        return connection

    def split(self) -> dict[int, set[int]]:
        """Each worker's pid and the client ports of the connections it holds."""
        return {
            worker.pid: {
                c.raddr.port
                for c in worker.net_connections(kind="tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == self.port
            }
            for worker in self.workers()
        }


def _serve_command(port: int, *options: str, workers: int | None = WORKERS) -> list[str]:
    chosen = ["--workers", str(workers)] if workers is not None else []
    return [sys.executable, "-m", "broadsheet", "serve", "--port", str(port), *chosen, *options]


def _quiet_env(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BROADSHEET_")}
    env.update(
        {
            "BROADSHEET_DATA_DIR": str(data_dir),
            "BROADSHEET_SCHEDULER_ENABLED": "false",
            "BROADSHEET_SEARCH_ENABLED": "false",
            "BROADSHEET_EMBEDDINGS_ENABLED": "false",
        }
    )
    return env


@contextmanager
def _serving(
    settings: Settings, cwd: Path, *options: str, workers: int | None = WORKERS, cpus: set[int] | None = None
) -> Iterator[Served]:
    """`broadsheet serve` with `--workers workers` (left out when None), on the given CPUs only."""
    env = {
        **_quiet_env(settings.data_dir),
        "BROADSHEET_ENVIRONMENT": "test",
        "BROADSHEET_SECRET_KEY": settings.secret_key,
    }
    port = free_port()
    process = subprocess.Popen(
        _serve_command(port, *options, workers=workers),
        env=env,
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    server = Served(process, port)
    expected = workers if workers is not None else default_workers(len(cpus or os.sched_getaffinity(0)))
    try:
        # One worker is the server process itself, with no worker processes under it.
        _wait_for(
            lambda: len(server.workers()) == (expected if expected > 1 else 0) and _answers(port),
            "the workers to start",
        )
        yield server
    finally:
        _stop(process)


@pytest.fixture
def served(loaded_settings: Settings, tmp_path: Path) -> Iterator[Served]:
    with _serving(loaded_settings, tmp_path) as server:
        yield server


def _affinities(server: Served) -> list[tuple[int, ...]]:
    return sorted(tuple(worker.cpu_affinity()) for worker in server.workers())


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL for the parent and whatever it left running."""
    if process.poll() is not None:
        process.communicate(timeout=30)
        return
    family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    process.terminate()
    try:
        process.communicate(timeout=30)
    finally:
        for member in family:
            if member.is_running():
                member.kill()


def _answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/api/daily_papers?limit=1")
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except OSError:
        return False


def test_keep_alive_connections_are_spread_evenly(served: Served) -> None:
    connections = [served.connect() for _ in range(8)]
    _wait_for(lambda: sum(map(len, served.split().values())) == 8, "8 open connections")
    assert sorted(map(len, served.split().values())) == [4, 4]

    # Three clients of one worker leave; the three who come next all go to that worker.
    busy_pid, ports = next(iter(served.split().items()))
    leaving = [c for c in connections if c.sock is not None and c.sock.getsockname()[1] in ports][:3]
    for connection in leaving:
        connection.close()
    _wait_for(lambda: len(served.split()[busy_pid]) == 1, "the closed connections to be reported")
    time.sleep(0.2)  # the worker's report of each close reaches the parent
    connections += [served.connect() for _ in range(3)]
    assert sorted(map(len, served.split().values())) == [4, 4]
    assert len(served.split()[busy_pid]) == 4
    for connection in connections:
        connection.close()


def test_each_worker_keeps_to_a_cpu_of_its_own(served: Served, loaded_settings: Settings, tmp_path: Path) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= WORKERS:
        assert _affinities(served) == [(cpu,) for cpu in cpus[:WORKERS]]
    else:  # more workers than CPUs: left to the scheduler
        assert _affinities(served) == [tuple(cpus)] * WORKERS
    with _serving(loaded_settings, tmp_path, "--no-pin-workers") as free:
        assert _affinities(free) == [tuple(cpus)] * WORKERS


@pytest.mark.parametrize("n_cpus", [1, 2])
def test_without_a_worker_count_serve_runs_one_worker_per_cpu(
    loaded_settings: Settings, tmp_path: Path, n_cpus: int
) -> None:
    available = sorted(os.sched_getaffinity(0))
    if len(available) < n_cpus or default_workers(n_cpus) < n_cpus:
        pytest.skip(f"this machine lets the tests use {len(available)} CPU, or too little memory for {n_cpus}")
    cpus = set(available[:n_cpus])
    with _serving(loaded_settings, tmp_path, workers=None, cpus=cpus) as server:
        if n_cpus == 1:
            assert server.workers() == [] and _answers(server.port)
        else:
            assert _affinities(server) == [(cpu,) for cpu in sorted(cpus)]
        server.process.send_signal(signal.SIGTERM)
        output, _ = server.process.communicate(timeout=60)
    assert f"with {n_cpus} worker" in " ".join(output.split())


@pytest.mark.parametrize(
    ("cpus", "memory_gib", "workers"),
    [(2, 24, 2), (1, 24, 1), (16, 64, 4), (8, 8, 2), (2, 4, 1), (2, 1, 1)],
)
def test_default_worker_count_follows_cpus_and_memory(cpus: int, memory_gib: int, workers: int) -> None:
    """One per CPU, at most 4, and no more than one per 3 GiB: a small machine stays one process."""
    assert default_workers(cpus, memory_gib << 30) == workers


def test_a_dead_worker_is_replaced_and_the_site_stays_up(served: Served) -> None:
    pinned = _affinities(served)
    victim = served.workers()[0]
    victim.kill()
    _wait_for(
        lambda: len(served.workers()) == WORKERS and victim.pid not in {w.pid for w in served.workers()},
        "a replacement worker",
    )
    _wait_for(lambda: _answers(served.port), "the replacement to answer")
    _wait_for(lambda: _affinities(served) == pinned, "the replacement to take its predecessor's CPU")
    connections = [served.connect() for _ in range(4)]
    assert sorted(map(len, served.split().values())) == [2, 2]
    for connection in connections:
        connection.close()


def test_sigterm_stops_the_parent_and_every_worker(served: Served) -> None:
    workers = served.workers()
    served.process.send_signal(signal.SIGTERM)
    output, _ = served.process.communicate(timeout=60)
    assert served.process.returncode == 0, output
    assert not any(map(_is_worker, workers))
    assert "Dealing connections" in output


def test_workers_leave_when_the_parent_is_killed(served: Served) -> None:
    connections = [served.connect() for _ in range(4)]
    workers = served.workers()
    served.process.kill()
    _wait_for(lambda: not any(map(_is_worker, workers)), "workers to exit")
    for connection in connections:
        connection.close()


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            _serve_command(port), env=_quiet_env(tmp_path), text=True, capture_output=True, timeout=60
        )
    assert done.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}" in done.stderr + done.stdout


def test_workers_that_cannot_start_stop_the_server_instead_of_looping(tmp_path: Path) -> None:
    unusable = tmp_path / "a-file"
    unusable.write_text("the data directory must be a directory")
    done = subprocess.run(
        _serve_command(free_port()), env=_quiet_env(unusable), text=True, capture_output=True, timeout=240
    )
    assert done.returncode == 1
    assert "exited 3 times within 30 s of starting" in " ".join((done.stdout + done.stderr).split())
