"""The persistent loop's threads (engine/threads.py): every share runs, on kept helpers pinned to CPUs of
their own; the caller is unpinned after; forked children and concurrent callers work."""

import os
import threading

import pytest

from rnnkit.engine import threads

pinning = pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                             reason="needs two CPUs that threads can be pinned to")


def record_shares(count, seen):
    """Run ``count`` shares that record (share, thread, its CPUs); returns the shares' results."""
    out = [None] * count

    def share(w, value):
        seen.append((w, threading.get_ident(), frozenset(os.sched_getaffinity(0))))
        out[w] = value * value

    threads.run(share, [(w, w + 10) for w in range(count)])
    return out


def test_every_share_runs_once_and_the_call_waits_for_all():
    seen = []
    assert record_shares(3, seen) == [100, 121, 144]
    assert sorted(w for w, *_ in seen) == [0, 1, 2]
    assert seen[[w for w, *_ in seen].index(0)][1] == threading.get_ident()  # share 0 on the calling thread


def test_helpers_are_kept_from_one_call_to_the_next():
    first, second = [], []
    record_shares(3, first)
    record_shares(3, second)
    assert {t for w, t, _ in first if w} == {t for w, t, _ in second if w}
    assert len({t for _, t, _ in first}) == 3


@pinning
def test_each_share_on_a_cpu_of_its_own_and_the_caller_unpinned_after():
    allowed = os.sched_getaffinity(0)
    where = threads.cpus(3)
    assert where[0] not in where[1:] and set(where) <= allowed and threads.cpus(1) is None
    seen = []
    record_shares(2, seen)
    cpus = {w: mask for w, _, mask in seen}
    assert len(cpus[0]) == 1 and len(cpus[1]) == 1 and cpus[0] != cpus[1]
    assert os.sched_getaffinity(0) == allowed


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_helpers_of_its_own():
    record_shares(2, [])  # the parent has a helper; the child has none of its threads
    pid = os.fork()
    if pid == 0:  # the child: exit 0 if a call completes within 20 s
        import signal

        signal.alarm(20)
        os._exit(0 if record_shares(2, []) == [100, 121] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_concurrent_callers_each_get_their_results():
    results = {}

    def caller(k):
        results[k] = [record_shares(2, []) for _ in range(20)]

    callers = [threading.Thread(target=caller, args=(k,)) for k in range(3)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()
    assert results == {k: [[100, 121]] * 20 for k in range(3)}


def test_an_error_in_a_helper_reaches_the_caller_and_the_helper_serves_on():
    def share(w):
        if w == 1:
            raise ValueError("share 1 failed")

    with pytest.raises(ValueError, match="share 1 failed"):
        threads.run(share, [(0,), (1,)])
    assert record_shares(2, []) == [100, 121]
