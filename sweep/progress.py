"""A fanned-out sweep's bookkeeping in Table Storage: each enqueued cluster counted exactly once, the summary
sent once the last one is counted, and a sweep that stalls closed by the next timer run.

Rows, in the Function app's state table (docs/function-app.md draws the lifecycle):

- `open-sweeps` / `<sweep id>`: one row per sweep not yet finished: `clusters` (how many the timer planned),
  `fannedOut` (every message sent), and once closed `closedBy` and the totals. The sweep id is a version 7 UUID: it sorts, and tells, when the
  sweep started.
- `sweep-<sweep id>` / `pending-<cluster key>`: written by the timer for every cluster it will enqueue, before
  any message is sent. A worker that fails records its attempts and last error here (the poison handler
  and the overdue close read them).
- `sweep-<sweep id>` / `done-<cluster key>`: the cluster's finding counts.

Counting a cluster is one entity-group transaction in the sweep's partition: delete its `pending-` row and
create its `done-` row. Either both happen or neither, whatever fails: a redelivered message finds no
`pending-` row and counts nothing; a cluster id the timer did not enqueue has none either, so it can neither
count nor close the sweep. No row is shared by the workers (no counter under ETag contention): a sweep is
complete when its partition holds no `pending-` row, a one-row range query. Closing is one conditional
update of the open row (ETag), so exactly one caller gets the totals; it sends the summary, then `finish`
removes the sweep's rows. A caller that closed the sweep but failed before `finish` (its message is
redelivered) or the timer (past the deadline) sends the summary again: at least once, deduplicated by
`sweepId`.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from model.arm_ids import table_key
from model.finding import Status

log = logging.getLogger(__name__)

OPEN_SWEEPS = "open-sweeps"
PENDING = "pending-"
DONE = "done-"
COUNTS = ("clusters", *(status.value for status in Status), "muted")  # the keys of json_report.summary
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


def _partition(sweep_id: str) -> str:
    return f"sweep-{sweep_id}"


def _between(prefix: str) -> str:
    """Row keys starting with `prefix` (which ends in '-'; '.' is the character after it)."""
    return f"RowKey ge '{prefix}' and RowKey lt '{prefix[:-1]}.'"


class SweepProgress:
    """Each method is one cheap step of the lifecycle; none holds state between calls (any worker or timer
    instance may take the next step)."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def open(self, sweep_id: str, cluster_ids: Iterable[str]) -> None:
        """The timer, before it sends any message: the open row, then one pending row per cluster (in
        transactions of 100). A timer that dies half-way leaves an open sweep the next run closes."""
        planned = list(cluster_ids)
        self._table.create_entity(
            {
                "PartitionKey": OPEN_SWEEPS,
                "RowKey": sweep_id,
                "clusters": len(planned),
                "fannedOut": False,
                "closedBy": "",
            }
        )
        rows = [
            {"PartitionKey": _partition(sweep_id), "RowKey": PENDING + table_key(c), "clusterId": c, "attempts": 0}
            for c in planned
        ]
        for start in range(0, len(rows), TRANSACTION_LIMIT):
            self._table.submit_transaction([("upsert", row) for row in rows[start : start + TRANSACTION_LIMIT]])

    def fanned_out(self, sweep_id: str) -> None:
        """The timer sent every message of the sweep (or gave the clusters it could not send their results)."""
        row = {"PartitionKey": OPEN_SWEEPS, "RowKey": sweep_id, "fannedOut": True}
        with contextlib.suppress(ResourceNotFoundError):  # closed and finished already (an empty sweep)
            self._table.update_entity(row, mode=UpdateMode.MERGE)

    def pending(self, sweep_id: str, cluster_id: str) -> PendingCluster | None:
        """The cluster's pending row; None when it is counted already, was never enqueued, or the sweep is gone."""
        try:
            row = self._table.get_entity(_partition(sweep_id), PENDING + table_key(cluster_id))
        except ResourceNotFoundError:
            return None
        return _pending(row)

    def record_failure(self, sweep_id: str, cluster_id: str, attempts: int, error: str) -> None:
        """A delivery that failed: how many attempts so far and the error's first line, for the poison handler."""
        first_line = (error.strip().splitlines() or [""])[0][:ERROR_LIMIT]
        row = {"PartitionKey": _partition(sweep_id), "RowKey": PENDING + table_key(cluster_id)}
        with contextlib.suppress(ResourceNotFoundError):  # a merge needs the row: a counted cluster stays counted
            self._table.update_entity({**row, "attempts": attempts, "lastError": first_line}, mode=UpdateMode.MERGE)

    def record(self, sweep_id: str, cluster_id: str, counts: Mapping[str, int]) -> bool:
        """Counts one cluster's findings into its sweep; False when it was not pending (counted already, never
        enqueued, or the sweep closed). Other storage errors raise: the message is retried and counts then."""
        key = table_key(cluster_id)
        done = {"PartitionKey": _partition(sweep_id), "RowKey": DONE + key, "clusterId": cluster_id}
        done.update({name: int(counts.get(name, 0)) for name in COUNTS[1:]})
        operations: list[tuple[str, Any]] = [
            ("delete", {"PartitionKey": _partition(sweep_id), "RowKey": PENDING + key}),
            ("create", done),
        ]
        try:
            self._table.submit_transaction(operations)
        except TableTransactionError as error:
            if error.status_code in (404, 409):  # no pending row, or a done row already: nothing changed
                return False
            raise
        return True

    def settle(self, sweep_id: str, closer: str) -> SweepTotals | None:
        """Closes the sweep when no cluster is pending; the totals to send when `closer` closed it (or had
        closed it and may not have sent them yet), None otherwise."""
        if self._first(_partition(sweep_id), PENDING) is not None:
            return None
        try:
            row = self._table.get_entity(OPEN_SWEEPS, sweep_id)
        except ResourceNotFoundError:
            return None  # finished, or never opened
        if row.get("closedBy"):
            return self.closed_totals(sweep_id) if row["closedBy"] == closer else None
        counts = dict.fromkeys(COUNTS, 0)
        for done in self._rows(_partition(sweep_id), DONE, select=list(COUNTS[1:])):
            counts["clusters"] += 1
            for name in COUNTS[1:]:
                counts[name] += int(done.get(name) or 0)
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
        """After the summary was sent: the sweep's cluster rows, then its open row."""
        rows = self._rows(_partition(sweep_id), "", select=["PartitionKey", "RowKey"])
        batch: list[tuple[str, Any]] = []
        for row in rows:
            batch.append(("delete", row))
            if len(batch) == TRANSACTION_LIMIT:
                self._table.submit_transaction(batch)
                batch = []
        if batch:
            self._table.submit_transaction(batch)
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
        """The clusters of a sweep not counted yet."""
        return [_pending(row) for row in self._rows(_partition(sweep_id), PENDING)]

    def _first(self, partition: str, prefix: str) -> dict[str, Any] | None:
        rows = self._table.query_entities(
            f"PartitionKey eq '{partition}' and {_between(prefix)}", results_per_page=1, select=["RowKey"]
        )
        return next(iter(rows), None)

    def _rows(self, partition: str, prefix: str, select: list[str] | None = None) -> Iterable[Any]:
        query = f"PartitionKey eq '{partition}'" + (f" and {_between(prefix)}" if prefix else "")
        return self._table.query_entities(query, select=select)


def _pending(row: Mapping[str, Any]) -> PendingCluster:
    return PendingCluster(str(row["clusterId"]), int(row.get("attempts") or 0), str(row.get("lastError") or ""))
