"""Worker processes started together: what the throughput benchmarks share."""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Sequence


def processes_run(tag: str, target: Callable, worker_args: Sequence[tuple], *, seconds: float) -> list:
    """Run ``target(*args, barrier, results)`` in one spawned process per item of
    ``worker_args`` (each opens its own database connection), released together
    by a barrier; return what each put on ``results``.

    Kills them all and raises when one exits with an error or none has reported
    within ``seconds`` + 10 minutes.
    """
    from django.db import connections

    connections.close_all()  # nothing shared with the children
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(worker_args))
    results = context.Queue()
    processes = [context.Process(target=target, args=(*args, barrier, results)) for args in worker_args]
    for process in processes:
        process.start()
    done = []
    give_up = time.monotonic() + seconds + 600
    while len(done) < len(processes):
        try:
            done.append(results.get(timeout=1))
        except queue.Empty:
            failed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if failed or time.monotonic() > give_up:
                for process in processes:
                    process.kill()
                raise RuntimeError(f"{tag}: a worker failed (exit codes {failed}) or hung") from None
    for process in processes:
        process.join(timeout=60)
    return done
