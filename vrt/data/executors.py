"""Run chunk jobs in this process, in a local process pool, or as Ray tasks; results in chunk order.

Jobs are pulled lazily from an iterator and at most `2 * workers` are in flight, so planning
(and any records shipped with a chunk) stays bounded. A failing job stops the run with its
error; chunks finished before it keep their done markers (the next run resumes from them).

    results = run_jobs(jobs, workers=4, executor="local", on_result=print)
"""

from __future__ import annotations

import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from vrt.data.convert import ChunkJob, run_chunk

EXECUTORS = ("local", "ray")


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask, or the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _serial(jobs: Iterable[ChunkJob]) -> Iterator[dict]:
    for job in jobs:
        yield run_chunk(job)


def _die_with_parent() -> None:
    """Pool worker initializer: a worker whose launcher is killed (even with SIGKILL) is terminated too."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _pool(jobs: Iterable[ChunkJob], workers: int) -> Iterator[dict]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_die_with_parent) as pool:
        pending: deque = deque()
        try:
            for job in jobs:
                pending.append(pool.submit(run_chunk, job))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _ray(jobs: Iterable[ChunkJob], workers: int) -> Iterator[dict]:
    """Ray tasks on the cluster named by RAY_ADDRESS (or a local Ray); `workers` bounds the tasks in flight."""
    import ray

    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=1, max_retries=2)(run_chunk)
    pending: deque = deque()
    for job in jobs:
        pending.append(task.remote(job))
        if len(pending) >= 2 * workers:
            yield ray.get(pending.popleft())
    while pending:
        yield ray.get(pending.popleft())


def run_jobs(jobs: Iterable[ChunkJob], workers: int, executor: str, on_result: Callable[[dict], None]) -> list[dict]:
    """Every job's result (done marker), in job order; `on_result` sees each as it arrives."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if executor == "ray":
        stream = _ray(jobs, workers)
    else:
        stream = _serial(jobs) if workers <= 1 else _pool(jobs, workers)
    results = []
    for result in stream:
        on_result(result)
        results.append(result)
    return results
