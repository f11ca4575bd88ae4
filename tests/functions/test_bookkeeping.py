"""A sweep's bookkeeping under concurrent workers, on Azurite with the real TableClient: every enqueued
cluster is counted once, nothing else counts, and exactly one worker gets the totals that close the sweep."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableClient, TableServiceClient
from hypothesis import given
from hypothesis import strategies as st

from model.arm_ids import table_key
from sweep.app.bookkeeping import SweepBookkeeping, SweepTotals, new_sweep_id, shard_of, sweep_started

pytestmark = pytest.mark.azurite
COUNTS = {"pass": 7, "fail": 1, "warn": 0, "skipped": 0, "error": 0, "muted": 1}


def cluster_id(index: int) -> str:
    return (
        "/subscriptions/3f2c9a8e-5b1d-4c7a-9e6f-2a1b0c9d8e7f/resourceGroups/rg"
        f"/providers/Microsoft.ContainerService/managedClusters/aks-{index}"
    )


@pytest.fixture
def table(azurite: Any) -> TableClient:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    return service.create_table(f"progress{uuid.uuid4().hex[:8]}")


@pytest.fixture
def progress(table: TableClient) -> SweepBookkeeping:
    return SweepBookkeeping(table)


def deliver(progress: SweepBookkeeping, sweep_id: str, cluster: str) -> SweepTotals | None:
    """What a worker does with the bookkeeping: count its cluster, then try to close the sweep."""
    progress.record(sweep_id, cluster, COUNTS)
    return progress.settle(sweep_id, closer=cluster.lower())


def test_concurrent_workers_count_every_cluster_once_and_one_closes(progress: SweepBookkeeping) -> None:
    clusters = 150  # more than one transaction of pending rows
    sweep_id = new_sweep_id(datetime.now(UTC))
    progress.open(sweep_id, [cluster_id(i) for i in range(clusters)])
    deliveries = [cluster_id(i) for i in range(clusters)] + [cluster_id(i) for i in range(0, clusters, 7)]
    with ThreadPoolExecutor(max_workers=8) as pool:  # redeliveries race with first deliveries
        outcomes = list(pool.map(lambda c: deliver(progress, sweep_id, c), deliveries))
    closing = [(cluster, totals) for cluster, totals in zip(deliveries, outcomes, strict=True) if totals]
    # One closer; only a delivery of the same message, running at the same time, may get its totals too
    # (the closer's redelivery must be able to send a summary its first delivery did not).
    assert len({cluster for cluster, _ in closing}) == 1
    expected = {"clusters": clusters, **{k: v * clusters for k, v in COUNTS.items()}}
    assert all(dict(totals.counts) == expected for _, totals in closing)
    progress.finish(sweep_id)
    assert progress.open_sweeps() == [] and progress.missing(sweep_id) == []
    assert deliver(progress, sweep_id, cluster_id(3)) is None  # redelivered after the sweep finished


def test_workers_counting_in_one_shard_at_once_retry_on_its_etag_and_count_each_cluster_once(
    progress: SweepBookkeeping,
) -> None:
    same_shard = [c for c in map(cluster_id, range(5000)) if shard_of(table_key(c)) == 0][:30]
    others = [cluster_id(i) for i in range(5000, 5010)]
    sweep_id = new_sweep_id(datetime.now(UTC))
    progress.open(sweep_id, same_shard + others)
    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(lambda c: deliver(progress, sweep_id, c), same_shard + same_shard + others))
    deliveries = same_shard + same_shard + others
    closing = [(cluster, totals) for cluster, totals in zip(deliveries, outcomes, strict=True) if totals]
    assert len({cluster for cluster, _ in closing}) == 1  # (and maybe that cluster's concurrent redelivery)
    assert all(dict(t.counts) == {"clusters": 40, **{k: v * 40 for k, v in COUNTS.items()}} for _, t in closing)
    assert progress.missing(sweep_id) == []


def test_a_shard_of_more_clusters_than_one_transaction_holds_counts_them_all(progress: SweepBookkeeping) -> None:
    crowded = [c for c in map(cluster_id, range(30000)) if shard_of(table_key(c)) == 7][:150]
    assert len(crowded) == 150  # its pending rows take two transactions, each carrying the shard's count
    sweep_id = new_sweep_id(datetime.now(UTC))
    progress.open(sweep_id, crowded)
    assert len(progress.missing(sweep_id)) == 150
    outcomes = [deliver(progress, sweep_id, c) for c in crowded]
    assert outcomes[:-1] == [None] * 149 and outcomes[-1] is not None
    assert outcomes[-1].counts["clusters"] == 150


def test_a_sweep_whose_timer_stopped_while_opening_it_closes_with_the_clusters_it_recorded(
    progress: SweepBookkeeping, table: TableClient
) -> None:
    """The open row lists every shard, but the timer stopped before writing some of them: their clusters were
    never enqueued, so the sweep closes without them."""
    clusters = [cluster_id(i) for i in range(150)]
    sweep_id = new_sweep_id(datetime.now(UTC))
    progress.open(sweep_id, clusters)
    lost = shard_of(table_key(clusters[0]))  # what a timer leaves when it stops before writing this shard
    for row in list(table.query_entities(f"PartitionKey eq 'sweep-{sweep_id}-{lost:02d}'")):
        table.delete_entity(row["PartitionKey"], row["RowKey"])
    recorded = [c for c in clusters if shard_of(table_key(c)) != lost]
    assert {pending.cluster_id for pending in progress.missing(sweep_id)} == set(recorded)
    assert progress.record(sweep_id, clusters[0], COUNTS) is False
    outcomes = [deliver(progress, sweep_id, c) for c in recorded]
    assert outcomes[-1] is not None and outcomes[-1].counts["clusters"] == len(recorded)


def test_only_clusters_the_timer_enqueued_count(progress: SweepBookkeeping) -> None:
    sweep_id = new_sweep_id(datetime.now(UTC))
    progress.open(sweep_id, [cluster_id(1), cluster_id(2)])
    assert progress.record(sweep_id, cluster_id(99), COUNTS) is False  # a made-up cluster of an open sweep
    assert progress.settle(sweep_id, cluster_id(99).lower()) is None
    assert progress.record(str(uuid.uuid4()), cluster_id(1), COUNTS) is False  # a sweep never opened
    assert progress.record(sweep_id, cluster_id(1).upper(), COUNTS) is True  # ARM ids are case-insensitive
    assert progress.record(sweep_id, cluster_id(1), COUNTS) is False  # counted already
    assert [pending.cluster_id for pending in progress.missing(sweep_id)] == [cluster_id(2)]


def test_a_failed_delivery_leaves_its_attempts_and_first_error_line_for_the_poison_handler(
    progress: SweepBookkeeping,
) -> None:
    sweep_id = new_sweep_id(datetime.now(UTC))
    progress.open(sweep_id, [cluster_id(1)])
    progress.record_failure(sweep_id, cluster_id(1), 2, "TimeoutError: no answer\nTraceback ...")
    progress.record_failure(sweep_id, cluster_id(1), 3, "HttpResponseError: (ServerBusy) busy\nmore")
    pending = progress.pending(sweep_id, cluster_id(1))
    assert pending is not None and (pending.attempts, pending.last_error) == (3, "HttpResponseError: (ServerBusy) busy")
    progress.record(sweep_id, cluster_id(1), COUNTS)
    progress.record_failure(sweep_id, cluster_id(1), 4, "late")  # after the count: does not bring the row back
    assert progress.pending(sweep_id, cluster_id(1)) is None


def test_an_empty_sweep_closes_at_once_and_open_sweeps_sort_oldest_first(progress: SweepBookkeeping) -> None:
    now = datetime.now(UTC)
    older, newer = new_sweep_id(now - timedelta(hours=1)), new_sweep_id(now)
    progress.open(newer, [cluster_id(1)])
    progress.open(older, [])
    assert [sweep.sweep_id for sweep in progress.open_sweeps()] == [older, newer]
    totals = progress.settle(older, "timer")
    assert totals is not None and totals.counts["clusters"] == 0
    assert progress.open_sweeps()[0].closed_by == "timer"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_sweep_ids_tell_when_they_started_and_sort_in_that_order(when: datetime) -> None:
    first, second = new_sweep_id(when), new_sweep_id(when + timedelta(milliseconds=1))
    assert abs(sweep_started(first) - when) < timedelta(milliseconds=1) and first < second
    assert uuid.UUID(first).version == 7 and uuid.UUID(first).variant == uuid.RFC_4122


def test_a_sweep_id_that_is_not_time_ordered_is_refused() -> None:
    with pytest.raises(ValueError, match="not a time-ordered"):
        sweep_started(str(uuid.uuid4()))
