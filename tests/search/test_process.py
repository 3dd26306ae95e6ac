"""A build may use every CPU of the server while the pinned workers wait for it."""

from __future__ import annotations

import os
import threading

import pytest

from broadsheet.search.process import every_cpu


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to one")
def test_a_pinned_thread_builds_on_every_cpu_and_is_pinned_again_after() -> None:
    machine = os.sched_getaffinity(0)
    pinned = {min(machine)}
    seen: dict[str, set[int]] = {}

    def worker() -> None:  # as a `serve` worker's index thread: pinned, its parent (this process) not
        os.sched_setaffinity(0, pinned)
        with every_cpu() as cpus:
            seen["yielded"], seen["during"] = cpus, os.sched_getaffinity(0)
            helper = threading.Thread(target=lambda: seen.setdefault("helper", os.sched_getaffinity(0)))
            helper.start()
            helper.join()
        seen["after"] = os.sched_getaffinity(0)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(30)
    assert seen["yielded"] == seen["during"] == seen["helper"] == machine
    assert seen["after"] == pinned
    assert os.sched_getaffinity(0) == machine, "only the calling thread was pinned and widened"
