"""Which clusters a resource change can affect: the reverse of every cluster's network references, in Table
Storage, refreshed by each check of a cluster (sweep, recheck or HTTP check).

A cluster's references are the ids of the network resources its collection read: the VNets of its node
and API server subnets and the VNets peered with them, the NSGs, route tables and NAT gateways of their
subnets, the firewall a default route leads to with its policy chain, rule collection groups and IP groups,
outbound public IPs, and a private cluster's DNS zone and its VNet links. A change to one of them (or to a
child: a rule, a route, a subnet, a peering) can change what the cluster's checks find.

Two rows per reference, in the app's state table: `ref-<resource key>` / `<cluster key>` (read per event:
one partition query gives every cluster of a resource), and `refs-<cluster key>` / `<resource key>` (read
per check: the cluster's previous references, to write only what changed and drop what went away).
"""

from __future__ import annotations

from collections.abc import Iterable

from azure.data.tables import TableClient, UpdateMode

from model.arm_ids import table_key

BATCH = 100  # the service's limit per transaction


def _resource_partition(resource_id: str) -> str:
    return f"ref-{table_key(resource_id)}"


def _cluster_partition(cluster_id: str) -> str:
    return f"refs-{table_key(cluster_id)}"


class ReferenceIndex:
    def __init__(self, table: TableClient) -> None:
        """`table` exists already (the caller creates it)."""
        self._table = table

    def record(self, cluster_id: str, resource_ids: Iterable[str]) -> int:
        """Stores the cluster's current references; returns how many rows changed (0 when nothing did)."""
        cluster_key = table_key(cluster_id)
        current = {resource_id.lower() for resource_id in resource_ids if resource_id}
        previous = {
            str(row["ResourceId"])
            for row in self._table.query_entities(
                f"PartitionKey eq '{_cluster_partition(cluster_id)}'", select=["ResourceId"]
            )
        }
        for resource_id in sorted(current - previous):
            self._table.upsert_entity(
                {
                    "PartitionKey": _resource_partition(resource_id),
                    "RowKey": cluster_key,
                    "ClusterId": cluster_id,
                    "ResourceId": resource_id,
                },
                mode=UpdateMode.REPLACE,
            )
        for resource_id in sorted(previous - current):
            self._table.delete_entity(_resource_partition(resource_id), cluster_key)  # a missing row is no error
        operations = [
            ("upsert", {"PartitionKey": _cluster_partition(cluster_id), "RowKey": table_key(r), "ResourceId": r})
            for r in sorted(current - previous)
        ] + [
            ("delete", {"PartitionKey": _cluster_partition(cluster_id), "RowKey": table_key(r)})
            for r in sorted(previous - current)
        ]
        for start in range(0, len(operations), BATCH):  # the cluster's own rows last: a retry redoes the rest
            self._table.submit_transaction(operations[start : start + BATCH])
        return len(operations)

    def clusters_for(self, resource_id: str) -> set[str]:
        """The clusters whose last check referenced this resource."""
        rows = self._table.query_entities(f"PartitionKey eq '{_resource_partition(resource_id)}'", select=["ClusterId"])
        return {str(row["ClusterId"]) for row in rows}

    def forget(self, cluster_id: str) -> None:
        """A deleted cluster: its references go, so later changes do not recheck it."""
        self.record(cluster_id, ())
