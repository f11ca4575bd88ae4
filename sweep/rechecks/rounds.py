"""One row per delivered resource change (Event Grid event): the clusters its rechecks still wait for, and the
root causes they moved. It serves two ends.

- Exactly once per event: Event Grid delivers at least once and retries an event it thinks failed (after 10 s,
  30 s, 1 min, ... within the event subscription's time to live). An event id whose row exists and was
  scheduled is a redelivery and is dropped, even after its rechecks finished; rows are kept for
  AKS_REACH_EVENT_RETRY_MINUTES (at least the event's time to live) and purged when a sweep closes.
- One root-cause card per change: a write to a hub's rule collection group rechecks every spoke behind it, each
  on its own message. Each recheck adds the root causes it moved to the rounds of the changes it answered, and
  the recheck that empties a round (the change's last cluster) sends the cards of all of them at once: a cause
  that broke two spokes opens once, with both, not "opened" then "grown". A round that never completes (a
  recheck that died every delivery) leaves its causes to the next sweep's close, which sends every change.

Rows, in the app's state table: PartitionKey `change-events`, RowKey `ev-<digest of the event id>`. Columns:
`Change` (the change as JSON, caller by name: the card is built from it), `Waiting` (JSON list of cluster ids
whose recheck has not run), `Keys` (JSON list of root-cause keys moved), `Scheduled` (every recheck queued),
`Done` (its cards were sent), `ExpiresAt`. Every write is conditional on the row's ETag.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, UpdateMode

from sweep.rechecks.events import ResourceChange

PARTITION = "change-events"
MAX_ATTEMPTS = 50  # ETag races between the rechecks of one change; each retry re-reads the row


def row_key(event_id: str) -> str:
    return "ev-" + hashlib.sha256(event_id.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class CompletedRound:
    """A change whose every recheck ran: the root causes they moved, to be decided at once."""

    change: ResourceChange
    keys: tuple[str, ...]


class ChangeRounds:
    def __init__(self, table: TableClient, retention: timedelta) -> None:
        """`table` exists already (the caller creates it); `retention`: how long a delivered event id is known."""
        self._table = table
        self._retention = retention

    def open(self, change: ResourceChange, clusters: Iterable[str]) -> bool:
        """Records the event before its rechecks are queued; False when it was delivered and scheduled before
        (within the retention). A row left unscheduled (the delivery that wrote it failed before queueing
        everything) is taken over: scheduling is idempotent per cluster and event id."""
        now = datetime.now(UTC)
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": row_key(change.event_id),
            "Change": json.dumps(change.to_json()),
            "Waiting": json.dumps(sorted({cluster.lower() for cluster in clusters})),
            "Keys": "[]",
            "Scheduled": False,
            "Done": False,
            "ExpiresAt": now + self._retention,
        }
        try:
            self._table.create_entity(entity)
            return True
        except ResourceExistsError:
            pass
        row = self._table.get_entity(PARTITION, row_key(change.event_id))
        if row.get("Scheduled") and row["ExpiresAt"] > now:
            return False
        self._table.update_entity(
            entity, mode=UpdateMode.REPLACE, etag=row.metadata["etag"], match_condition=MatchConditions.IfNotModified
        )
        return True

    def scheduled(self, change: ResourceChange) -> CompletedRound | None:
        """Every recheck of the change is queued: from now on a redelivery is dropped. Returns the round when
        its rechecks all ran already (faster than the queueing of the last one)."""

        def step(row: TableEntity) -> tuple[dict[str, Any] | None, CompletedRound | None]:
            keys = tuple(json.loads(row.get("Keys") or "[]"))
            done = not json.loads(row.get("Waiting") or "[]") and bool(keys)
            return {"Scheduled": True, "Done": done}, CompletedRound(change, keys) if done else None

        return self._settle(change.event_id, step)

    def abandon(self, change: ResourceChange) -> None:
        """Queueing failed: the row goes, so Event Grid's retry of the event is taken as a first delivery."""
        self._table.delete_entity(PARTITION, row_key(change.event_id))

    def complete(
        self, cluster_id: str, changes: Sequence[ResourceChange], keys_by_event: Mapping[str, Sequence[str]]
    ) -> list[CompletedRound]:
        """A recheck of `cluster_id` answering `changes` ran and moved the root causes `keys_by_event` gives
        (each key under the change it is blamed on). Returns the rounds this recheck completed."""
        cluster = cluster_id.lower()
        completed = []
        for change in changes:
            keys = keys_by_event.get(change.event_id, ())

            def step(
                row: TableEntity, keys: Sequence[str] = keys
            ) -> tuple[dict[str, Any] | None, CompletedRound | None]:
                before = json.loads(row.get("Waiting") or "[]")
                if row.get("Done") or cluster not in before:
                    return None, None  # done, or this cluster left the round already (a recheck run twice)
                waiting = [item for item in before if item != cluster]
                moved = tuple(dict.fromkeys([*json.loads(row.get("Keys") or "[]"), *keys]))
                done = not waiting and bool(row.get("Scheduled"))
                columns = {"Waiting": json.dumps(waiting), "Keys": json.dumps(moved), "Done": done}
                return columns, CompletedRound(
                    ResourceChange.from_json(json.loads(row["Change"])), moved
                ) if done else None

            finished = self._settle(change.event_id, step)
            if finished is not None:
                completed.append(finished)
        return completed

    def _settle(
        self, event_id: str, step: Callable[[TableEntity], tuple[dict[str, Any] | None, CompletedRound | None]]
    ) -> CompletedRound | None:
        """Applies `step` to the event's row under its ETag, re-reading on a race: `step` gives the columns to
        merge (None: nothing to write) and what to return once written."""
        for _ in range(MAX_ATTEMPTS):
            try:
                row: TableEntity = self._table.get_entity(PARTITION, row_key(event_id))
            except ResourceNotFoundError:
                return None  # purged, or delivered before rounds were kept
            columns, result = step(row)
            if columns is None:
                return None
            try:
                self._table.update_entity(
                    {"PartitionKey": PARTITION, "RowKey": row_key(event_id), **columns},
                    mode=UpdateMode.MERGE,
                    etag=row.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
            return result
        raise RuntimeError(f"event {event_id}: its row could not be updated after {MAX_ATTEMPTS} attempts")

    def purge(self, now: datetime) -> int:
        """Rows past their retention (a sweep's close calls it); how many went."""
        rows = self._table.query_entities(
            "PartitionKey eq @partition and ExpiresAt lt @now",
            parameters={"partition": PARTITION, "now": now},
            select=["PartitionKey", "RowKey"],
        )
        gone = 0
        for row in rows:
            self._table.delete_entity(PARTITION, row["RowKey"])
            gone += 1
        return gone
