"""What Teams last heard about each cluster: its last *notified* set of failing check ids, in Table Storage.

One entity per cluster: PartitionKey = subscription id (lower case), RowKey = `<resource group>.<name>`
(lower case; Table Storage forbids '/', '\\', '#', '?' and control characters in keys, and AKS names
have no '.', so the split is unambiguous). An id that is not an AKS id gets a hash instead. The table
is created on first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import AzureNamedKeyCredential, TokenCredential
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
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
        self._table = table
        self._table_ready = False
        self._lock = threading.Lock()

    @classmethod
    def from_connection_string(cls, connection: str, table_name: str, **client_options: Any) -> NotificationState:
        """Azurite and local runs: `AzureWebJobsStorage` as a connection string."""
        return cls(TableClient.from_connection_string(connection, table_name, **client_options))

    @classmethod
    def from_endpoint(
        cls,
        endpoint: str,
        table_name: str,
        credential: TokenCredential | AzureNamedKeyCredential,
        **client_options: Any,
    ) -> NotificationState:
        """Azure: the table service URI with the managed identity (or an account key credential)."""
        return cls(TableClient(endpoint, table_name, credential=credential, **client_options))

    @property
    def table_name(self) -> str:
        return self._table.table_name

    def _ensure_table(self) -> None:
        with self._lock:
            if self._table_ready:
                return
            with contextlib.suppress(ResourceExistsError):  # another worker made it first
                self._table.create_table()
            self._table_ready = True

    def last_failing(self, cluster: Cluster) -> frozenset[str]:
        """The failing checks Teams was last told about; empty for a cluster never notified."""
        self._ensure_table()
        try:
            entity = self._table.get_entity(partition_key(cluster), row_key(cluster))
        except ResourceNotFoundError:
            return frozenset()
        return frozenset(json.loads(entity.get("Failing") or "[]"))

    def save(self, cluster: Cluster, failing: Iterable[str]) -> None:
        """Records what Teams has now been told (called only after every webhook accepted the card)."""
        self._ensure_table()
        entity = {
            "PartitionKey": partition_key(cluster),
            "RowKey": row_key(cluster),
            "ClusterId": cluster.id,
            "Failing": json.dumps(sorted(failing)),
            "NotifiedAt": datetime.now(UTC),
        }
        self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def close(self) -> None:
        self._table.close()
