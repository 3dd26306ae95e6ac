"""What the search index does to its process: CPUs for a build, and memory after one."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import os
from collections.abc import Iterator


@contextlib.contextmanager
def every_cpu() -> Iterator[set[int]]:
    """Lets the calling thread, and the threads it starts meanwhile, run on every CPU that this process
    or the one that started it may use; yields that set, and puts the thread's own back after.

    A worker of `serve` is pinned to one CPU of its parent's; the parent is not pinned.
    """
    own = os.sched_getaffinity(0)
    cpus = set(own)
    with contextlib.suppress(OSError):
        cpus |= os.sched_getaffinity(os.getppid())
    if cpus == own:
        yield cpus
        return
    try:
        os.sched_setaffinity(0, cpus)
    except OSError:  # e.g. a container that forbids it: build where this process may run
        yield own
        return
    try:
        yield cpus
    finally:
        os.sched_setaffinity(0, own)


def freeze_long_lived_objects() -> None:
    """Takes everything alive now (the index, the models) out of the cyclic garbage collector's view.

    A full collection walks every tracked object, and with the index of a large catalogue loaded
    that is ~0.4 s (75k papers, 2 cores) during which no request of this process moves; it comes
    every few thousand requests, as the tail of the latency. Frozen objects are still freed by
    reference counting; only cycles among them would outlive their use, and the index keeps
    them alive anyway.
    """
    gc.collect()
    gc.freeze()


def return_freed_memory() -> None:
    """Hands the heap the index build freed back to the system (glibc's `malloc_trim`; elsewhere nothing).

    Building keeps ~0.2 GB of freed temporaries in the process's heap otherwise (75k papers: a worker
    at 1,596 MB after building, 1,353 MB after this; loading a saved index, 1,283 and 1,179 MB).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return
    trim(0)
