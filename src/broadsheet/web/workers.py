"""Several uvicorn worker processes behind one listening socket, each new connection dealt to the least loaded.

uvicorn's own workers share the listening socket, and whichever wakes first accepts every pending
connection: 8 keep-alive clients landed 6 on one worker and 2 on the other, so six clients' searches
queued behind each other while the other core idled. Here the parent process accepts instead and
hands each connection (its file descriptor, over a Unix socket pair) to the worker holding the
fewest open connections; each worker reports back over the same pair when one of its connections
closes. The parent does nothing else, so it costs one accept and one send per connection.
A worker that dies is replaced (unless it keeps dying as it starts); SIGINT or SIGTERM stops the
parent and then the workers. With no more workers than CPUs, each worker is pinned to a CPU of its
own, so its caches stay warm instead of following the scheduler's moves (8 clients, 2 workers on
2 cores, five paired keep-alive runs: 212 against 207 searches a second on average, p95 alike,
median 44.5 against 44.2 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import selectors
import signal
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("broadsheet.workers")

APP = "broadsheet.web.asgi:app"
CONNECTION = b"c"  # parent to worker: this message carries a connection
CLOSED = b"x"  # worker to parent: one of my connections closed
STOP_GRACE_S = 30.0
QUICK_EXIT_S = 30.0  # a worker gone this soon after starting failed to start
MAX_QUICK_EXITS = 3  # in a row, in one slot: then the settings or the store are at fault, not bad luck
MAX_DEFAULT_WORKERS = 4
MEMORY_PER_WORKER = 3 << 30  # a worker with the 75k-paper catalogue holds ~1.8 GB; the rest is headroom


class WorkerFailure(RuntimeError):
    """A worker keeps dying as soon as it starts; restarting it again would only loop."""


@dataclass
class Worker:
    """One worker process, the parent's end of its socket pair, and how many connections it holds."""

    slot: int
    process: BaseProcess
    channel: socket.socket
    started_at: float
    open_connections: int = 0
    quick_exits: int = 0


class ConnectionDealer:
    """The parent: accepts on the listening socket and deals connections to worker processes."""

    def __init__(self, host: str, port: int, workers: int, access_log: bool = False, pin: bool = True) -> None:
        if workers < 2:
            raise ValueError("a dealer needs at least 2 workers; serve one process directly")
        self.host, self.port, self.count, self.access_log = host, port, workers, access_log
        self.cpus = worker_cpus(workers) if pin else None
        self.workers: list[Worker] = []
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.turn = 0

    def run(self) -> None:
        listener = self._listen()
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.workers = [self._start_worker(slot) for slot in range(self.count)]
            self.selector.register(listener, selectors.EVENT_READ, None)
            log.info("Dealing connections on %s:%d to %d workers", self.host, self.port, self.count)
            while not self.stopping:
                for key, _ in self.selector.select(timeout=0.5):
                    if key.data is None:
                        self._deal(listener)
                    else:
                        self._read_reports(key.data)
                self._replace_dead_workers()
        finally:
            listener.close()
            self._stop_workers()
            self.selector.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _listen(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.port))
        except OSError as error:
            listener.close()
            raise SystemExit(f"Cannot listen on {self.host}:{self.port}: {error.strerror}") from error
        listener.listen(2048)
        listener.setblocking(False)
        return listener

    def _start_worker(self, slot: int) -> Worker:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        context = multiprocessing.get_context("spawn")
        process = context.Process(
            target=run_worker,
            args=(theirs, self.host, self.port, self.access_log, self.cpus[slot] if self.cpus else None),
            name=f"broadsheet-worker-{slot}",
        )
        process.start()
        if self.cpus and process.pid is not None:  # at once: the worker pins itself only once it is up
            with contextlib.suppress(OSError):  # it may have died already; the loop replaces it
                os.sched_setaffinity(process.pid, {self.cpus[slot]})
        theirs.close()
        ours.setblocking(False)
        worker = Worker(slot, process, ours, time.monotonic())
        self.selector.register(ours, selectors.EVENT_READ, worker)
        pinned = f" on CPU {self.cpus[slot]}" if self.cpus else ""
        log.info("Started worker %d (pid %s)%s", slot, process.pid, pinned)
        return worker

    def _deal(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # out of file descriptors, for one: keep serving those already open
                log.warning("accept failed: %s", error)
                return
            with connection:
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._hand_over(connection)

    def _hand_over(self, connection: socket.socket) -> None:
        for worker in self._least_loaded_first():
            try:
                socket.send_fds(worker.channel, [CONNECTION], [connection.fileno()])
            except (BlockingIOError, ConnectionError):
                continue  # that worker is stuck or gone: try the next
            worker.open_connections += 1
            self.turn += 1
            return
        log.warning("no worker could take a connection; it is closed")

    def _least_loaded_first(self) -> list[Worker]:
        """Workers by open connections, ties broken in turn so that equal loads alternate."""
        alive = [worker for worker in self.workers if worker.process.is_alive()]
        n = len(self.workers)
        return sorted(alive, key=lambda worker: (worker.open_connections, (worker.slot - self.turn) % n))

    def _read_reports(self, worker: Worker) -> None:
        while True:
            try:
                message = worker.channel.recv(16)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionError:
                message = b""
            if not message:  # the worker has gone; _replace_dead_workers starts another
                self.selector.unregister(worker.channel)
                return
            worker.open_connections = max(0, worker.open_connections - message.count(CLOSED))

    def _replace_dead_workers(self) -> None:
        for index, worker in enumerate(self.workers):
            if self.stopping or worker.process.is_alive():
                continue
            process = worker.process
            with contextlib.suppress(KeyError):  # already unregistered if its end of the pair was read closed
                self.selector.unregister(worker.channel)
            worker.channel.close()
            process.join()
            quick = time.monotonic() - worker.started_at < QUICK_EXIT_S
            quick_exits = worker.quick_exits + 1 if quick else 0
            if quick_exits >= MAX_QUICK_EXITS:
                raise WorkerFailure(
                    f"worker {worker.slot} exited {quick_exits} times within {QUICK_EXIT_S:.0f} s of starting "
                    f"(last exit code {process.exitcode}); see its messages above"
                )
            log.warning(
                "Worker %d (pid %s) exited with %s; starting another", worker.slot, process.pid, process.exitcode
            )
            self.workers[index] = self._start_worker(worker.slot)
            self.workers[index].quick_exits = quick_exits

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _stop_workers(self) -> None:
        for worker in self.workers:
            if worker.process.is_alive() and worker.process.pid is not None:
                os.kill(worker.process.pid, signal.SIGTERM)
        for worker in self.workers:
            worker.process.join(STOP_GRACE_S)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.channel.close()


class DealtServer(uvicorn.Server):
    """A uvicorn server that listens on nothing and serves the connections its parent hands it."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])
        self.channel.setblocking(False)
        loop = asyncio.get_running_loop()
        protocol_class = self.config.http_protocol_class
        report_closed = self._report_closed

        def connection_lost(protocol: Any, exc: Exception | None) -> None:
            protocol_class.connection_lost(protocol, exc)
            report_closed()

        self.protocol_class = type(
            f"Dealt{protocol_class.__name__}", (protocol_class,), {"connection_lost": connection_lost}
        )
        loop.add_reader(self.channel.fileno(), self._take_connections, loop)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().remove_reader(self.channel.fileno())
        await super().shutdown(sockets)
        self.channel.close()

    def _protocol(self) -> asyncio.Protocol:
        protocol: asyncio.Protocol = self.protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        return protocol

    def _take_connections(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self.channel, 16, 1, socket.MSG_CMSG_CLOEXEC)
            except (BlockingIOError, InterruptedError):
                return
            if not message and not fds:  # the parent has gone: finish what is open, then stop
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                connection = socket.socket(fileno=fd)
                connection.setblocking(False)
                loop.create_task(self._serve_connection(loop, connection))

    async def _serve_connection(self, loop: asyncio.AbstractEventLoop, connection: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(self._protocol, connection)
        except OSError:
            connection.close()
            self._report_closed()

    def _report_closed(self) -> None:
        with contextlib.suppress(OSError):  # the parent has gone, or is not reading: it then errs on the busy side
            self.channel.send(CLOSED)


def default_workers(cpus: int | None = None, memory_bytes: int | None = None) -> int:
    """One worker per CPU this process may run on, at most `MAX_DEFAULT_WORKERS` and one per
    `MEMORY_PER_WORKER` of the machine's (or its container's) memory.

    Search is CPU-bound and each worker works on one search at a time, so a single process leaves
    every core but one idle; but each worker holds its own index and query model (about 1.8 GB
    with 75k papers), so the default stops at a few, and at one on a small machine.
    """
    cpus = len(os.sched_getaffinity(0)) if cpus is None else cpus
    memory_bytes = _memory_bytes() if memory_bytes is None else memory_bytes
    return max(1, min(cpus, MAX_DEFAULT_WORKERS, memory_bytes // MEMORY_PER_WORKER))


def _memory_bytes() -> int:
    """Physical memory, or the cgroup (v2) limit of the container this runs in when that is lower."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with contextlib.suppress(OSError, ValueError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            memory = min(memory, int(limit))
    return memory


def worker_cpus(workers: int) -> list[int] | None:
    """A CPU of its own for each worker, from those this process may run on; None when there are too few."""
    available = sorted(os.sched_getaffinity(0))
    return available[:workers] if workers <= len(available) else None


def run_worker(channel: socket.socket, host: str, port: int, access_log: bool, cpu: int | None = None) -> None:
    """A worker process's entry point: serve the app on connections read from `channel`.

    Pinned before anything starts, so every thread it makes (the search lane's too) stays on `cpu`.
    """
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    # Progress bars of the libraries a worker runs (sentence-transformers' `encode`) would take a
    # multiprocessing lock, a named semaphore that outlives a stopped worker: Python then warns of
    # "leaked semaphore objects" at every shutdown. A worker shares its bars with no other process.
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    config = uvicorn.Config(APP, host=host, port=port, access_log=access_log)
    DealtServer(config, channel).run()
