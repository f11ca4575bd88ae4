"""A sweep's bookkeeping at estate scale on Azurite: how long the timer takes to open a sweep of N clusters,
how fast W concurrent workers count them (each: its shard's count row, the count transaction, then the
completion check, one point read while its shard has clusters left), and how long the close takes (summing
the shards' count rows, then removing the rows). Next to it, the baseline the
bookkeeping replaced: one counter row every worker updates under its ETag (read, add, conditional write,
again on 412), with the conflicts it costs.

    python -m bench.bookkeeping [--clusters 10000] [--workers 16] [--baseline-clusters 1000]

Azurite is one local process, so the figures say how the design scales with workers and clusters (rows
touched per cluster, conflicts), not Azure's latency. Azure Table Storage's documented target for one
partition is 2,000 entities per second; a sweep's clusters are spread over 100 partitions (shards), each
seeing about 4 entity operations a cluster of its own.
"""

from __future__ import annotations

import argparse
import logging
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from sweep.app import bookkeeping
from sweep.app.bookkeeping import SweepBookkeeping, new_sweep_id
from tests.azurite import AzuriteProcess

COUNTS = {"pass": 7, "fail": 1, "warn": 0, "skipped": 1, "error": 0}


def cluster_ids(count: int) -> list[str]:
    return [
        f"/subscriptions/{uuid.UUID(int=i % 100 + 1)}/resourceGroups/rg/providers/"
        f"Microsoft.ContainerService/managedClusters/aks-{i}"
        for i in range(count)
    ]


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


class Conflicts(logging.Handler):
    """Counts the ETag conflicts of shard count rows that SweepBookkeeping.record logs (at debug) and retries."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "changed while counting" in record.getMessage()


def pending_rows(table: TableClient, clusters: list[str], workers: int) -> dict[str, float]:
    progress = SweepBookkeeping(table)
    conflicts = Conflicts()
    progress_log = logging.getLogger(bookkeeping.__name__)
    progress_log.addHandler(conflicts)
    progress_log.setLevel(logging.DEBUG)
    sweep_id = new_sweep_id(datetime.now(UTC))
    figures = {"open_s": timed(lambda: progress.open(sweep_id, clusters))}
    closers: list[str] = []

    def deliver(cluster_id: str) -> None:
        progress.record(sweep_id, cluster_id, COUNTS)
        if progress.settle(sweep_id, cluster_id.lower()) is not None:
            closers.append(cluster_id)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        figures["count_s"] = timed(lambda: list(pool.map(deliver, clusters)))
    figures["finish_s"] = timed(lambda: progress.finish(sweep_id))
    figures["closers"] = len(closers)
    figures["conflicts"] = conflicts.count
    progress_log.removeHandler(conflicts)
    return figures


def counter_row(table: TableClient, clusters: list[str], workers: int) -> dict[str, float]:
    """The replaced design's hot path: every worker read-modify-writes one row under its ETag."""
    table.create_entity({"PartitionKey": "bench", "RowKey": "counter", "done": 0})
    conflicts = 0

    def deliver(_: str) -> None:
        nonlocal conflicts
        while True:
            row = table.get_entity("bench", "counter")
            row["done"] = int(row["done"]) + 1
            try:
                table.update_entity(
                    row,
                    mode=UpdateMode.REPLACE,
                    etag=row.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return
            except ResourceModifiedError:
                conflicts += 1
                time.sleep(random.uniform(0.01, 0.1))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        seconds = timed(lambda: list(pool.map(deliver, clusters)))
    return {"count_s": seconds, "conflicts": conflicts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=16)
    # The baseline's conflicts per cluster depend on the workers, not on N; a sample keeps the run short.
    parser.add_argument("--baseline-clusters", type=int, default=1_000)
    args = parser.parse_args()
    azurite = AzuriteProcess()
    running = azurite.start()
    try:
        service = TableServiceClient.from_connection_string(running.connection_string)
        clusters = cluster_ids(args.clusters)
        rows = pending_rows(service.create_table("benchrows"), clusters, args.workers)
        sample = clusters[: args.baseline_clusters]
        counter = counter_row(service.create_table("benchcounter"), sample, args.workers)
    finally:
        azurite.stop()
    n = args.clusters
    print(f"bookkeeping of {n:,} clusters, {args.workers} workers, on Azurite")
    print(f"  pending rows: open {rows['open_s']:.1f} s; count {rows['count_s']:.1f} s ({n / rows['count_s']:.0f}/s);")
    print(f"                finish {rows['finish_s']:.1f} s; closers {rows['closers']:.0f} (bound: 1);")
    print(
        f"                ETag conflicts of shard count rows {rows['conflicts']:,.0f} ({rows['conflicts'] / n:.2f} per cluster)"
    )
    m = min(n, args.baseline_clusters)
    print(
        f"  counter row ({m:,} clusters): count {counter['count_s']:.1f} s ({m / counter['count_s']:.0f}/s); "
        f"ETag conflicts {counter['conflicts']:,.0f} ({counter['conflicts'] / m:.2f} per cluster)"
    )


if __name__ == "__main__":
    main()
