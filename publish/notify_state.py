"""What Teams last heard about each cluster: its last *notified* set of failing check ids, in Table Storage.

One entity per cluster: PartitionKey = subscription id (lower case), RowKey = `<resource group>.<name>`
(lower case; Table Storage forbids '/', '\\', '#', '?' and control characters in keys, and AKS names
have no '.', so the split is unambiguous). An id that is not an AKS id gets a hash instead. The table
is the Function app's state table (created by `sweep.storage.table_client`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from collect.arm import parse_cluster_id
from collect.model import Cluster

FORBIDDEN_KEY_CHARACTERS = frozenset("/\\#?")
UNKNOWN_SUBSCRIPTION = "unknown-subscription"


def partition_key(cluster: Cluster) -> str:
    return cluster.subscription.lower() or UNKNOWN_SUBSCRIPTION


def row_key(cluster: Cluster) -> str:
    try:
        _, group, name = parse_cluster_id(cluster.id)
    except ValueError:
        # Not an AKS id (a cluster whose input could not be read): a stable key that cannot hold bad characters.
        return "id-" + hashlib.sha256(cluster.id.lower().encode()).hexdigest()
    key = f"{group}.{name}".lower()
    if any(character in FORBIDDEN_KEY_CHARACTERS or ord(character) < 0x20 for character in key):
        return "id-" + hashlib.sha256(cluster.id.lower().encode()).hexdigest()
    return key


class NotificationState:
    """Reads and writes each cluster's last notified failing checks through a real `TableClient`."""

    def __init__(self, table: TableClient) -> None:
        """`table` exists already (`sweep.storage.table_client` creates it)."""
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
