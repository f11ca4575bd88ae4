"""What Teams last heard about each cluster, in Table Storage, written only under the row's ETag.

One entity per cluster: PartitionKey = subscription id (lower case), RowKey = `model.arm_ids.table_key`
of the cluster id. The table is the Function app's state table, handed in by the caller. Columns:
`Failing` (JSON list of the check ids last notified as failing), `SweepId` / `SweepStarted` (the newest
sweep whose result was applied: an older sweep's result never changes the row), `ClaimedBy` /
`ClaimedUntil` (a delivery that is posting a card right now: others leave the cluster alone until it
saves or the claim lapses).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from model.arm_ids import table_key
from model.etag_retry import Conflict
from model.snapshot import Cluster

UNKNOWN_SUBSCRIPTION = "unknown-subscription"
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # "no claim" (Table Storage dates start in 1601)


def partition_key(cluster: Cluster) -> str:
    return cluster.subscription.lower() or UNKNOWN_SUBSCRIPTION


def row_key(cluster: Cluster) -> str:
    return table_key(cluster.id)


@dataclass(frozen=True)
class SweepRef:
    """The sweep a result belongs to; sweeps order by start time, then id."""

    sweep_id: str
    started: datetime

    def newer_than(self, other: SweepRef) -> bool:
        return (self.started, self.sweep_id) > (other.started, other.sweep_id)


@dataclass(frozen=True)
class Notified:
    """One cluster's row as read: what Teams was told, by which sweep, and whether a delivery is posting."""

    failing: frozenset[str] = frozenset()
    sweep: SweepRef | None = None
    claimed_by: str = ""
    claimed_until: datetime = NEVER
    etag: str | None = None  # None: no row yet

    def is_claimed(self, now: datetime) -> bool:
        return bool(self.claimed_by) and now < self.claimed_until


class StateConflict(Conflict):
    """Another delivery changed the row since it was read: read it again and decide again."""


class NotificationState:
    """Reads and conditionally writes each cluster's row through a real `TableClient`."""

    def __init__(self, table: TableClient) -> None:
        """`table` exists already (the caller creates it)."""
        self._table = table

    @property
    def table_name(self) -> str:
        return self._table.table_name

    def read(self, cluster: Cluster) -> Notified:
        try:
            entity = self._table.get_entity(partition_key(cluster), row_key(cluster))
        except ResourceNotFoundError:
            return Notified()
        sweep = None
        if entity.get("SweepId") and isinstance(entity.get("SweepStarted"), datetime):
            sweep = SweepRef(str(entity["SweepId"]), entity["SweepStarted"])
        until = entity.get("ClaimedUntil")
        return Notified(
            failing=frozenset(json.loads(entity.get("Failing") or "[]")),
            sweep=sweep,
            claimed_by=str(entity.get("ClaimedBy") or ""),
            claimed_until=until if isinstance(until, datetime) else NEVER,
            etag=entity.metadata["etag"],
        )

    def last_failing(self, cluster: Cluster) -> frozenset[str]:
        """The failing checks Teams was last told about; empty for a cluster never notified."""
        return self.read(cluster).failing

    def write(
        self,
        cluster: Cluster,
        previous: Notified,
        failing: Iterable[str],
        sweep: SweepRef | None,
        claimed_by: str = "",
        claimed_until: datetime = NEVER,
    ) -> Notified:
        """Replaces the row read as `previous` (creates it when there was none); StateConflict when another
        delivery wrote it in between."""
        failing = frozenset(failing)
        entity = {
            "PartitionKey": partition_key(cluster),
            "RowKey": row_key(cluster),
            "ClusterId": cluster.id,
            "Failing": json.dumps(sorted(failing)),
            "SweepId": sweep.sweep_id if sweep else "",
            "SweepStarted": sweep.started if sweep else NEVER,
            "ClaimedBy": claimed_by,
            "ClaimedUntil": claimed_until,
            "NotifiedAt": datetime.now(UTC),
        }
        try:
            if previous.etag is None:
                metadata = self._table.create_entity(entity)
            else:
                metadata = self._table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=previous.etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as error:
            raise StateConflict(f"{cluster.name}: {type(error).__name__}") from None
        return Notified(failing, sweep, claimed_by, claimed_until, metadata["etag"])
