"""Debounced rechecks in storage: a claim row per cluster in the app's state table (`rechecks` / cluster key,
with a token and the changes it answers) and one delayed message per claim on the sweep's queue.

The first change to affect a cluster claims a row and queues a recheck message invisible for
AKS_REACH_RECHECK_DELAY_SECONDS; changes arriving meanwhile are added to the row under its ETag and queue
nothing, so a deployment's many writes make one recheck. The worker checks the cluster, then deletes the row
under the ETag it read: if changes came in while it checked, the delete fails, and the row gets a new token
and message for those changes alone. A message whose token is not the row's is a redelivery: nothing to do.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, UpdateMode
from azure.storage.queue import QueueClient

from collect.documents import DocumentError, load_json
from model.arm_ids import parse_cluster_id, table_key
from model.etag_retry import Conflict, retry_on_conflict
from sweep.app.messages import MAX_MESSAGE_BYTES, MessageError
from sweep.rechecks.events import ResourceChange

PARTITION = "rechecks"
KIND = "recheck"
MAX_CHANGES = 20  # kept per pending recheck (the latest); a deployment may write hundreds of resources
# A claim row whose message never arrived (queueing failed after the row was written) is taken over after
# the delay plus the Functions timeout (host.json functionTimeout, 10 minutes).
ORPHANED_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class RecheckMessage:
    cluster_id: str
    token: str

    def to_json(self) -> str:
        return json.dumps({"version": 1, "kind": KIND, "clusterId": self.cluster_id, "token": self.token})

    @staticmethod
    def matches(body: str | bytes) -> bool:
        """A recheck's message (the sweep's own messages have no "kind")."""
        if len(body) > MAX_MESSAGE_BYTES:
            return False
        try:
            document = load_json(body)
        except DocumentError:
            return False
        return isinstance(document, dict) and document.get("kind") == KIND

    @classmethod
    def parse(cls, body: str | bytes) -> RecheckMessage:
        """A message that `matches`; MessageError when its cluster id or token is not one."""
        document = load_json(body)
        cluster_id, token = document.get("clusterId"), document.get("token")
        try:
            parse_cluster_id(str(cluster_id))
            uuid.UUID(str(token))
        except ValueError as exc:
            raise MessageError(f"recheck message: {exc}") from None
        return cls(str(cluster_id), str(token))


@dataclass(frozen=True)
class Pending:
    """A claimed recheck as the worker read it: the changes it answers, and the row's ETag at that time."""

    cluster_id: str
    token: str
    changes: tuple[ResourceChange, ...]
    etag: str


def _changes(row: TableEntity) -> tuple[ResourceChange, ...]:
    return tuple(ResourceChange.from_json(item) for item in json.loads(row.get("Changes") or "[]"))


def _encoded(changes: Sequence[ResourceChange]) -> str:
    return json.dumps([change.to_json() for change in list(changes)[-MAX_CHANGES:]])  # names: the card is built from it


class PendingRechecks:
    """Claim rows in the app's state table and delayed messages on the sweep's queue."""

    def __init__(self, table: TableClient, queue: QueueClient, delay_seconds: float) -> None:
        self._table = table
        self._queue = queue
        self.delay_seconds = delay_seconds

    def schedule(self, cluster_id: str, change: ResourceChange) -> bool:
        """Adds the change to the cluster's pending recheck, or claims a new one; True when a message was queued."""
        key = table_key(cluster_id)

        def schedule_once() -> bool:
            try:
                row: TableEntity | None = self._table.get_entity(PARTITION, key)
            except ResourceNotFoundError:
                row = None
            now = datetime.now(UTC)
            if row is None or row["ScheduledAt"] < now - ORPHANED_AFTER - timedelta(seconds=self.delay_seconds):
                if self._claim(cluster_id, [change], row, now):
                    return True
                raise Conflict(key)
            changes = _changes(row)
            if any(known.event_id == change.event_id for known in changes):
                return False  # Event Grid delivered this event again
            row["Changes"] = _encoded([*changes, change])
            try:
                self._table.update_entity(
                    row, mode=UpdateMode.MERGE, etag=row.metadata["etag"], match_condition=MatchConditions.IfNotModified
                )
            except ResourceModifiedError:
                raise Conflict(key) from None
            return False

        return retry_on_conflict(schedule_once, f"{cluster_id}: scheduling a recheck")

    def _claim(
        self, cluster_id: str, changes: Sequence[ResourceChange], row: TableEntity | None, now: datetime
    ) -> bool:
        """A new token for the cluster and its message; False when another writer got there first."""
        token = str(uuid.uuid4())
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": table_key(cluster_id),
            "ClusterId": cluster_id,
            "Token": token,
            "Changes": _encoded(changes),
            "ScheduledAt": now,
        }
        try:
            if row is None:
                self._table.create_entity(entity)
            else:
                self._table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=row.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceExistsError, ResourceModifiedError):
            return False
        try:
            self._queue.send_message(
                RecheckMessage(cluster_id, token).to_json(), visibility_timeout=math.ceil(self.delay_seconds)
            )
        except AzureError:
            self._table.delete_entity(PARTITION, table_key(cluster_id))  # no message: the next event claims anew
            raise
        return True

    def claimed(self, message: RecheckMessage) -> Pending | None:
        """The pending recheck this message is for; None when it was handled already (a redelivery)."""
        try:
            row = self._table.get_entity(PARTITION, table_key(message.cluster_id))
        except ResourceNotFoundError:
            return None
        if row["Token"] != message.token:
            return None
        return Pending(message.cluster_id, message.token, _changes(row), row.metadata["etag"])

    def finish(self, pending: Pending) -> bool:
        """Ends a recheck; True when changes that came in meanwhile were given a recheck of their own."""
        key = table_key(pending.cluster_id)
        handled = {change.event_id for change in pending.changes}
        etag = pending.etag

        def finish_once() -> bool:
            nonlocal etag
            try:
                self._table.delete_entity(PARTITION, key, etag=etag, match_condition=MatchConditions.IfNotModified)
                return False
            except ResourceModifiedError:
                pass
            try:
                row = self._table.get_entity(PARTITION, key)
            except ResourceNotFoundError:
                return False
            if row["Token"] != pending.token:
                return False  # taken over as orphaned: its new message rechecks
            later = [change for change in _changes(row) if change.event_id not in handled]
            if not later:
                etag = row.metadata["etag"]
                raise Conflict(key)
            if self._claim(pending.cluster_id, later, row, datetime.now(UTC)):
                return True
            raise Conflict(key)

        return retry_on_conflict(finish_once, f"{pending.cluster_id}: finishing its recheck")

    def drop(self, message: RecheckMessage) -> None:
        """A recheck that failed every retry: its claim goes, so the next change claims a new one."""
        pending = self.claimed(message)
        if pending is not None:
            self.finish(pending)
