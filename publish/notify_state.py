"""What Teams last heard about each cluster: its last *notified* set of failing check ids, in Table Storage.

One entity per cluster: PartitionKey = subscription id (lower case), RowKey = `model.arm_ids.table_key`
of the cluster id. The table is the Function app's state table, handed in by the caller.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from model.arm_ids import table_key
from model.snapshot import Cluster

UNKNOWN_SUBSCRIPTION = "unknown-subscription"


def partition_key(cluster: Cluster) -> str:
    return cluster.subscription.lower() or UNKNOWN_SUBSCRIPTION


def row_key(cluster: Cluster) -> str:
    return table_key(cluster.id)


class NotificationState:
    """Reads and writes each cluster's last notified failing checks through a real `TableClient`."""

    def __init__(self, table: TableClient) -> None:
        """`table` exists already (the caller creates it)."""
        self._table = table

    @property
    def table_name(self) -> str:
        return self._table.table_name

    def last_failing(self, cluster: Cluster) -> frozenset[str]:
        """The failing checks Teams was last told about; empty for a cluster never notified."""
        try:
            entity = self._table.get_entity(partition_key(cluster), row_key(cluster))
        except ResourceNotFoundError:
            return frozenset()
        return frozenset(json.loads(entity.get("Failing") or "[]"))

    def save(self, cluster: Cluster, failing: Iterable[str]) -> None:
        """Records what Teams has now been told (called only after every webhook accepted the card)."""
        entity = {
            "PartitionKey": partition_key(cluster),
            "RowKey": row_key(cluster),
            "ClusterId": cluster.id,
            "Failing": json.dumps(sorted(failing)),
            "NotifiedAt": datetime.now(UTC),
        }
        self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
