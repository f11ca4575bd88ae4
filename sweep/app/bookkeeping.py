"""A fanned-out sweep's bookkeeping in Table Storage: each enqueued cluster counted exactly once, the summary
sent once the last one is counted, and a sweep that stalls closed by the next timer run.

Rows, in the Function app's state table (docs/function-app.md draws the lifecycle):

- `open-sweeps` / `<sweep id>`: one row per sweep not yet finished: `clusters` (how many the timer planned),
  `fannedOut` (every message sent), `shards` (which of the sweep's shards hold clusters), and once closed
  `closedBy` and the totals. The sweep id is a version 7 UUID: it sorts, and tells, when the sweep started.
- The sweep's clusters are spread over up to 100 shards by a digest of their key; each shard is a partition
  `sweep-<sweep id>-<nn>` holding:
  - `count`: `remaining` (clusters of the shard not counted yet), and the counted clusters' totals;
  - `pending-<cluster key>`: written by the timer for every cluster it will enqueue, before any message is
    sent. A worker that fails records its attempts and last error here (the poison handler and the overdue
    close read them).

Counting a cluster is one entity-group transaction in its shard: delete its `pending-` row and update the
shard's `count` row (one less remaining, its finding counts added) under the ETag it was read with. Either
both happen or neither, whatever fails: a redelivered message finds no `pending-` row and counts nothing; a
cluster id the timer did not enqueue has none either, so it can neither count nor close the sweep. Two
workers of one shard that count at the same moment: one transaction fails on the ETag and is retried.

A sweep is complete when every shard's `remaining` is 0. `remaining` only goes down once the timer sent the
first message, so a worker reads its own shard's row (one point read; most stop here), and only when that
is 0 the sweep's row and the other shards' rows (point reads, stopping at the first non-zero): the worker
that counts the last cluster sees every other count. Every step is a point read or a transaction in one
small partition, so its cost does not grow with the sweep (no query over the sweep's rows, no row every
worker writes: 100 shards against a few hundred messages at once keep ETag retries rare). Closing is one
conditional update of the open row (ETag), so exactly one caller gets the totals, summed from the shards'
rows; it sends the summary, then `finish` removes the sweep's rows. A caller that closed the sweep but
failed before `finish` (its message is redelivered) or the timer (past the deadline) sends the summary
again: at least once, deduplicated by `sweepId`.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from model.arm_ids import table_key
from model.etag_retry import Conflict, retry_on_conflict
from model.finding import Status

log = logging.getLogger(__name__)

OPEN_SWEEPS = "open-sweeps"
PENDING = "pending-"
COUNT = "count"  # each shard's row of remaining clusters and totals
COUNTS = ("clusters", *(status.value for status in Status), "muted")  # the keys of json_report.summary
SHARDS = 100  # partitions a sweep's clusters are spread over
TRANSACTION_LIMIT = 100  # operations per entity-group transaction (the service's limit)
ERROR_LIMIT = 500  # characters of a worker's last error kept on its pending row


@dataclass(frozen=True)
class SweepTotals:
    sweep_id: str
    counts: Mapping[str, int]


@dataclass(frozen=True)
class PendingCluster:
    """A cluster enqueued by the timer and not counted yet; `attempts` and `last_error` are what its failed
    deliveries recorded (0 and "" when none did)."""

    cluster_id: str
    attempts: int
    last_error: str


@dataclass(frozen=True)
class OpenSweep:
    sweep_id: str
    started: datetime
    clusters: int  # planned by the timer
    fanned_out: bool  # the timer sent every message (False: it is still sending, or it stopped)
    closed_by: str  # "" while open; who closed it when its summary may still be unsent


def new_sweep_id(now: datetime) -> str:
    """A version 7 UUID (RFC 9562): 48 bits of Unix milliseconds, then random bits. Ids sort as sweeps start."""
    millis = int(now.timestamp() * 1000) & ((1 << 48) - 1)
    value = millis << 80 | 0x7 << 76 | secrets.randbits(12) << 64 | 0b10 << 62 | secrets.randbits(62)
    return str(uuid.UUID(int=value))


def sweep_started(sweep_id: str) -> datetime:
    """When the sweep started, from its id; ValueError for an id that is not a version 7 UUID."""
    value = uuid.UUID(sweep_id)
    if value.version != 7:
        raise ValueError(f"sweep id {sweep_id} is not a time-ordered (version 7) UUID")
    return datetime.fromtimestamp((value.int >> 80) / 1000, UTC)


def shard_of(key: str) -> int:
    """The shard of a cluster key (`table_key`, which ends in a hex digest of the id): the same in every
    process."""
    return int(key[-8:], 16) % SHARDS


def _partition(sweep_id: str, shard: int) -> str:
    return f"sweep-{sweep_id}-{shard:02d}"


def _sweep_rows(sweep_id: str) -> str:
    """Every shard partition of the sweep ('.' is the character after '-')."""
    return f"PartitionKey ge 'sweep-{sweep_id}-' and PartitionKey lt 'sweep-{sweep_id}.'"


class SweepBookkeeping:
    """Each method is one cheap step of the lifecycle; none holds state between calls (any worker or timer
    instance may take the next step)."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def open(self, sweep_id: str, cluster_ids: Iterable[str], width: int = 1) -> None:
        """The timer, before it sends any message: the open row, then each shard's pending rows with its
        count row (99 pending rows and the count per transaction, so the count always matches the rows), up to
        `width` shards at once: a shard's transactions go in order (each sets the shard's count to the rows
        written so far), shards are independent partitions. A timer that dies half-way leaves an open sweep
        the next run closes."""
        by_shard: dict[int, dict[str, str]] = defaultdict(dict)
        for cluster_id in cluster_ids:
            key = table_key(cluster_id)
            by_shard[shard_of(key)].setdefault(key, cluster_id)
        self._table.create_entity(
            {
                "PartitionKey": OPEN_SWEEPS,
                "RowKey": sweep_id,
                "clusters": sum(len(clusters) for clusters in by_shard.values()),
                "fannedOut": False,
                "closedBy": "",
                "shards": ",".join(f"{shard:02d}" for shard in sorted(by_shard)),
            }
        )
        partitions = [(_partition(sweep_id, shard), clusters) for shard, clusters in sorted(by_shard.items())]
        with ThreadPoolExecutor(max_workers=max(1, min(width, len(partitions) or 1))) as pool:
            list(pool.map(lambda shard: self._open_shard(*shard), partitions))

    def _open_shard(self, partition: str, clusters: Mapping[str, str]) -> None:
        rows = [
            {"PartitionKey": partition, "RowKey": PENDING + key, "clusterId": c, "attempts": 0}
            for key, c in clusters.items()
        ]
        per_transaction = TRANSACTION_LIMIT - 1
        for start in range(0, len(rows), per_transaction):
            chunk = rows[start : start + per_transaction]
            count = {"PartitionKey": partition, "RowKey": COUNT, "remaining": start + len(chunk)}
            count.update(dict.fromkeys(COUNTS, 0))
            self._table.submit_transaction(
                [("upsert", count, {"mode": UpdateMode.REPLACE}), *(("upsert", row) for row in chunk)]
            )

    def fanned_out(self, sweep_id: str) -> None:
        """The timer sent every message of the sweep (or gave the clusters it could not send their results)."""
        row = {"PartitionKey": OPEN_SWEEPS, "RowKey": sweep_id, "fannedOut": True}
        with contextlib.suppress(ResourceNotFoundError):  # closed and finished already (an empty sweep)
            self._table.update_entity(row, mode=UpdateMode.MERGE)

    def pending(self, sweep_id: str, cluster_id: str) -> PendingCluster | None:
        """The cluster's pending row; None when it is counted already, was never enqueued, or the sweep is gone."""
        key = table_key(cluster_id)
        try:
            row = self._table.get_entity(_partition(sweep_id, shard_of(key)), PENDING + key)
        except ResourceNotFoundError:
            return None
        return _pending(row)

    def record_failure(self, sweep_id: str, cluster_id: str, attempts: int, error: str) -> None:
        """A delivery that failed: how many attempts so far and the error's first line, for the poison handler."""
        first_line = (error.strip().splitlines() or [""])[0][:ERROR_LIMIT]
        key = table_key(cluster_id)
        row = {"PartitionKey": _partition(sweep_id, shard_of(key)), "RowKey": PENDING + key}
        with contextlib.suppress(ResourceNotFoundError):  # a merge needs the row: a counted cluster stays counted
            self._table.update_entity({**row, "attempts": attempts, "lastError": first_line}, mode=UpdateMode.MERGE)

    def record(self, sweep_id: str, cluster_id: str, counts: Mapping[str, int]) -> bool:
        """Counts one cluster's findings into its sweep; False when it was not pending (counted already, never
        enqueued, or the sweep closed). Other storage errors raise, and so does losing every try to the shard's
        other workers (RacesLost): the message is retried and counts then."""
        key = table_key(cluster_id)
        partition = _partition(sweep_id, shard_of(key))

        def count_once() -> bool:
            try:
                shard = self._table.get_entity(partition, COUNT)
            except ResourceNotFoundError:
                return False  # no cluster of the sweep in this shard, or the sweep finished
            count = {"PartitionKey": partition, "RowKey": COUNT, "remaining": int(shard["remaining"]) - 1}
            count["clusters"] = int(shard.get("clusters") or 0) + 1
            count.update({name: int(shard.get(name) or 0) + int(counts.get(name, 0)) for name in COUNTS[1:]})
            condition = {"etag": shard.metadata["etag"], "match_condition": MatchConditions.IfNotModified}
            try:
                self._table.submit_transaction(
                    [
                        ("delete", {"PartitionKey": partition, "RowKey": PENDING + key}),
                        ("update", count, {"mode": UpdateMode.MERGE, **condition}),
                    ]
                )
            except TableTransactionError as error:
                if error.status_code == 404:  # no pending row (or the sweep finished meanwhile): nothing changed
                    return False
                if error.status_code == 412:  # another worker counted in this shard
                    log.debug("sweep %s: %s changed while counting %s; read again", sweep_id, partition, cluster_id)
                    raise Conflict(partition) from None
                raise
            return True

        return retry_on_conflict(count_once, f"sweep {sweep_id}: counting {cluster_id} into {partition}")

    def settle(self, sweep_id: str, closer: str) -> SweepTotals | None:
        """Closes the sweep when no cluster is pending; the totals to send when `closer` closed it (or had
        closed it and may not have sent them yet), None otherwise. A worker's closer is its cluster id: its
        own shard is read first, the others only when that one is complete."""
        own = shard_of(table_key(closer))
        first = self._count(sweep_id, own)
        if first is not None and int(first["remaining"]) > 0:
            return None
        try:
            row = self._table.get_entity(OPEN_SWEEPS, sweep_id)
        except ResourceNotFoundError:
            return None  # finished, or never opened
        if row.get("closedBy"):
            return self.closed_totals(sweep_id) if row["closedBy"] == closer else None
        counts = dict.fromkeys(COUNTS, 0)
        for shard in _shards(row):
            count = first if shard == own else self._count(sweep_id, shard)
            if count is None:
                continue  # its transaction never ran (the timer stopped while opening): nothing to count
            if int(count["remaining"]) > 0:
                return None
            for name in COUNTS:
                counts[name] += int(count.get(name) or 0)
        closed = {"PartitionKey": OPEN_SWEEPS, "RowKey": sweep_id, "closedBy": closer, **counts}
        try:
            self._table.update_entity(
                closed, mode=UpdateMode.MERGE, etag=row.metadata["etag"], match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return None  # another caller closed it first
        return SweepTotals(sweep_id, counts)

    def closed_totals(self, sweep_id: str) -> SweepTotals | None:
        """The totals of a closed sweep whose rows are still there (its summary may be unsent)."""
        try:
            row = self._table.get_entity(OPEN_SWEEPS, sweep_id)
        except ResourceNotFoundError:
            return None
        return (
            SweepTotals(sweep_id, {name: int(row.get(name) or 0) for name in COUNTS}) if row.get("closedBy") else None
        )

    def finish(self, sweep_id: str) -> None:
        """After the summary was sent: the sweep's shard rows (a closed sweep has no pending row left), then
        its open row."""
        by_partition: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        for row in self._table.query_entities(_sweep_rows(sweep_id), select=["PartitionKey", "RowKey"]):
            by_partition[row["PartitionKey"]].append(("delete", row))
        for operations in by_partition.values():
            for start in range(0, len(operations), TRANSACTION_LIMIT):
                self._table.submit_transaction(operations[start : start + TRANSACTION_LIMIT])
        self._table.delete_entity(OPEN_SWEEPS, sweep_id)  # no error when it is gone already

    def open_sweeps(self) -> list[OpenSweep]:
        """Every sweep not finished, oldest first."""
        found = []
        for row in self._table.query_entities(f"PartitionKey eq '{OPEN_SWEEPS}'"):
            try:
                started = sweep_started(row["RowKey"])
            except ValueError:
                log.warning("open-sweeps row %r is not a sweep id; ignored", row["RowKey"])
                continue
            found.append(
                OpenSweep(
                    row["RowKey"],
                    started,
                    int(row.get("clusters") or 0),
                    bool(row.get("fannedOut")),
                    str(row.get("closedBy") or ""),
                )
            )
        return sorted(found, key=lambda sweep: sweep.sweep_id)

    def missing(self, sweep_id: str) -> list[PendingCluster]:
        """The clusters of a sweep not counted yet (one query over its shards: for the timer, not per cluster)."""
        query = f"{_sweep_rows(sweep_id)} and RowKey ge '{PENDING}' and RowKey lt '{PENDING[:-1]}.'"
        return [_pending(row) for row in self._table.query_entities(query)]

    def _count(self, sweep_id: str, shard: int) -> dict[str, Any] | None:
        try:
            return self._table.get_entity(_partition(sweep_id, shard), COUNT)
        except ResourceNotFoundError:
            return None


def _shards(row: Mapping[str, Any]) -> list[int]:
    """The shards the open row lists as holding clusters."""
    return [int(shard) for shard in str(row.get("shards") or "").split(",") if shard]


def _pending(row: Mapping[str, Any]) -> PendingCluster:
    return PendingCluster(str(row["clusterId"]), int(row.get("attempts") or 0), str(row.get("lastError") or ""))
