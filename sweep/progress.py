"""A fanned-out sweep's bookkeeping in Table Storage, so its summary event is sent exactly once.

The timer opens a sweep with the number of clusters it enqueued. Each worker (or the poison handler)
records its cluster once: a marker row per cluster makes a retried message count once, and the sweep's
counter row is updated with optimistic concurrency (ETag). The update that brings `done` to `expected`
closes the sweep and returns its totals: that worker, and only that one, publishes the summary.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from azure.data.tables import TableClient, UpdateMode

from model.arm_ids import table_key
from model.finding import Status

SWEEPS_PARTITION = "sweeps"
COUNTS = ("clusters", *(status.value for status in Status))
MAX_UPDATE_ATTEMPTS = 50  # concurrent workers race on one row; each retry re-reads it


@dataclass(frozen=True)
class SweepTotals:
    sweep_id: str
    expected: int
    counts: Mapping[str, int]


class SweepProgress:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def open(self, sweep_id: str, expected: int) -> None:
        self._table.create_entity(
            {
                "PartitionKey": SWEEPS_PARTITION,
                "RowKey": sweep_id,
                "expected": expected,
                "done": 0,
                "closed": False,
                **dict.fromkeys(COUNTS, 0),
            }
        )

    def record(self, sweep_id: str, cluster_id: str, counts: Mapping[str, int]) -> SweepTotals | None:
        """Counts one cluster's findings into the sweep; the totals when this cluster closed the sweep."""
        marker = {"PartitionKey": f"sweep-{sweep_id}", "RowKey": table_key(cluster_id)}
        row = self._table.get_entity(SWEEPS_PARTITION, sweep_id)
        if row["closed"]:
            return None  # redelivered after the sweep closed (its markers are gone): counted already
        try:
            self._table.create_entity(marker)
        except ResourceExistsError:
            return None  # a retried message: this cluster is counted already
        for _ in range(MAX_UPDATE_ATTEMPTS):
            if row["closed"]:  # closed meanwhile, by this cluster's earlier delivery
                self._table.delete_entity(marker["PartitionKey"], marker["RowKey"])
                return None
            updated = _added(row, counts)
            try:
                self._table.update_entity(
                    updated,
                    mode=UpdateMode.REPLACE,
                    etag=row.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                time.sleep(random.uniform(0.01, 0.1))  # another worker won the race: re-read and add again
                row = self._table.get_entity(SWEEPS_PARTITION, sweep_id)
                continue
            if updated["closed"]:
                self._forget_markers(sweep_id)
                return SweepTotals(sweep_id, int(updated["expected"]), {name: int(updated[name]) for name in COUNTS})
            return None
        raise RuntimeError(f"sweep {sweep_id}: could not record {cluster_id} after {MAX_UPDATE_ATTEMPTS} attempts")

    def _forget_markers(self, sweep_id: str) -> None:
        partition = f"sweep-{sweep_id}"
        markers = self._table.query_entities(f"PartitionKey eq '{partition}'", select=["PartitionKey", "RowKey"])
        batch: list[tuple[str, Any]] = []
        for marker in markers:
            batch.append(("delete", marker))
            if len(batch) == 100:  # the service's limit per transaction
                self._table.submit_transaction(batch)
                batch = []
        if batch:
            self._table.submit_transaction(batch)


def _added(row: Mapping[str, Any], counts: Mapping[str, int]) -> dict[str, Any]:
    updated = {key: row[key] for key in ("PartitionKey", "RowKey", "expected", "done", "closed", *COUNTS)}
    updated["done"] = int(row["done"]) + 1
    updated["clusters"] = int(row["clusters"]) + 1
    for name in COUNTS[1:]:
        updated[name] = int(row[name]) + int(counts.get(name, 0))
    updated["closed"] = updated["done"] >= int(row["expected"])
    return updated
