"""A sweep's bookkeeping under concurrent workers, on Azurite with the real TableClient: every cluster is
counted once, and exactly one worker gets the totals that close the sweep."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from sweep.progress import SweepProgress

pytestmark = pytest.mark.azurite


def cluster_id(index: int) -> str:
    return (
        "/subscriptions/3f2c9a8e-5b1d-4c7a-9e6f-2a1b0c9d8e7f/resourceGroups/rg"
        f"/providers/Microsoft.ContainerService/managedClusters/aks-{index}"
    )


def test_concurrent_workers_close_the_sweep_exactly_once(azurite: Any) -> None:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    table = service.create_table(f"progress{uuid.uuid4().hex[:8]}")
    progress = SweepProgress(table)
    sweep_id = str(uuid.uuid4())
    clusters = 24
    progress.open(sweep_id, clusters)
    counts = {"pass": 7, "fail": 1, "warn": 0, "skipped": 1, "error": 0}
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda i: progress.record(sweep_id, cluster_id(i), counts), range(clusters)))
    closing = [totals for totals in outcomes if totals is not None]
    assert len(closing) == 1
    assert dict(closing[0].counts) == {"clusters": clusters, **{k: v * clusters for k, v in counts.items()}}
    # A message redelivered after the sweep closed is neither counted nor closes it again.
    assert progress.record(sweep_id, cluster_id(3), counts) is None
    row = table.get_entity("sweeps", sweep_id)
    assert row["done"] == clusters and row["closed"] is True
    assert list(table.query_entities(f"PartitionKey eq 'sweep-{sweep_id}'")) == []  # markers cleaned up
