"""The threads that run the persistent LSTM loop's workers (``persistent.py``): kept from one call to the next,
each pinned to a CPU of its own for a call.

Kept, because starting a thread costs several times what handing a job to a kept one does, on calls of a few
milliseconds. Pinned, because Linux otherwise often ran the second worker on the caller's CPU for the whole
call, both then at half speed; pinning only the helper made the scheduler move the caller, so the caller is
pinned to the CPU it is on for the call and unpinned after it. One call runs at a time; a second caller waits.
(Measurements: ``benchmarks/README.md``.)
"""

from __future__ import annotations

import ctypes
import os
import threading

_sched_getcpu = getattr(ctypes.CDLL(None), "sched_getcpu", None) if hasattr(os, "sched_setaffinity") else None


def cpus(count: int) -> list[int] | None:
    """A CPU for each of ``count`` workers: the one this thread runs on, then others it may run on (distinct
    while there are enough); None where threads cannot be pinned or there is one worker or one CPU."""
    if count == 1 or _sched_getcpu is None:
        return None
    here = _sched_getcpu()
    others = sorted(os.sched_getaffinity(0) - {here})
    if here < 0 or not others:
        return None
    return [here] + [others[w % len(others)] for w in range(count - 1)]


class _Helper:
    """A kept thread that runs one job at a time: ``job`` is (cpu or None, function, args), set before ``go``;
    an exception the job raises is kept in ``error`` for the caller, and the thread goes on serving."""

    def __init__(self):
        self.go, self.done = threading.Semaphore(0), threading.Semaphore(0)
        self.job, self.cpu, self.error = None, None, None
        threading.Thread(target=self._serve, daemon=True, name="rnnkit-worker").start()

    def _serve(self):
        while True:
            self.go.acquire()
            cpu, function, args = self.job
            try:
                if cpu is not None and cpu != self.cpu:
                    os.sched_setaffinity(0, {cpu})
                    self.cpu = cpu
                function(*args)
            except BaseException as error:  # raised again on the calling thread
                self.error = error
            finally:
                self.done.release()


_helpers: list[_Helper] = []
_lock = threading.Lock()


def run(function, shares: list[tuple]) -> None:
    """function(*shares[w]) for every w at once: shares[0] on this thread, the others on kept helpers, each
    on a CPU of its own (``cpus``). Returns when all are done."""
    with _lock:
        while len(_helpers) < len(shares) - 1:
            _helpers.append(_Helper())
        helpers = _helpers[: len(shares) - 1]
        where = cpus(len(shares))
        allowed = where and os.sched_getaffinity(0)
        busy = []
        try:
            if where:
                os.sched_setaffinity(0, {where[0]})
            for w, helper in enumerate(helpers, 1):
                helper.job = (where and where[w], function, shares[w])
                helper.go.release()
                busy.append(helper)
            function(*shares[0])
            while busy:
                busy[-1].done.acquire()
                busy.pop()
        finally:
            if where:
                os.sched_setaffinity(0, allowed)
            if busy:  # interrupted while helpers worked: they are left to finish, and not given another job
                _helpers.clear()
        for helper in helpers:
            if helper.error is not None:
                error, helper.error = helper.error, None
                raise error


def _forget_helpers():
    """In a forked child: its parent's threads do not exist there."""
    global _lock
    _helpers.clear()
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helpers)
