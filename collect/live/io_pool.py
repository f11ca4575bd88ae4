"""The run's shared thread pool for the I/O of the clusters in flight: a cluster's Kubernetes reads beyond
its own thread, its audit rows and its network walk run there while the cluster's thread reads Kubernetes.
Its threads start on demand; `LiveClients` makes one per run, sized by the clusters collected at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

IO_THREADS_PER_CLUSTER = 4  # threads per cluster collected at once

T = TypeVar("T")
P = ParamSpec("P")


class IoPool:
    def __init__(self, concurrency: int) -> None:
        """`concurrency`: clusters collected at once."""
        self._executor = ThreadPoolExecutor(
            max_workers=max(4, IO_THREADS_PER_CLUSTER * concurrency), thread_name_prefix="aks-reach-io"
        )

    def submit(self, task: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self._executor.submit(task, *args, **kwargs)

    def in_parallel(self, tasks: Sequence[Callable[[], T]], width: int) -> list[T]:
        """Runs the tasks, at most `width` at once (the caller's thread is one of them); results in order.
        When the executor is busy the caller runs what its helpers have not started: it never waits idle."""
        results: list[Any] = [None] * len(tasks)
        indexes = iter(range(len(tasks)))
        lock = threading.Lock()

        def drain() -> None:
            while True:
                with lock:
                    index = next(indexes, None)
                if index is None:
                    return
                results[index] = tasks[index]()

        helpers = [self._executor.submit(drain) for _ in range(min(width, len(tasks)) - 1)]
        drain()
        for helper in helpers:
            helper.result()
        return results
