"""What each root cause breaks now and what its owners were last told, in Table Storage under each row's ETag.

One entity per root cause: PartitionKey `root-causes`, RowKey `rc-<digest of the key>`. Columns: `Key`, `Cause`
(the cause as JSON: name, resource, summary, fix), `Members` (JSON: cluster id -> [cluster name, check], the
clusters it breaks now, kept current by each cluster's check), `Notified` (the same shape: the clusters the last
card listed), `SweepId` / `SweepStarted` (the newest sweep or recheck whose card was applied), `ClaimedBy` /
`ClaimedUntil` (a delivery posting its card right now).

Each cluster's check moves only that cluster in or out of the rows (a cluster is the only writer of its own
membership; concurrent writers of one row retry on the ETag). Cards are decided apart (`publish/teams.py`
`notify_root_causes`): when a sweep closes, or at once after a recheck, for every row whose members differ from
what was notified. So a cause of forty clusters is one card, however its clusters' checks interleave.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from model.etag_retry import retry_on_conflict
from model.finding import ClusterResult, Status
from model.root_cause import RootCause
from model.snapshot import Cluster
from publish.notify_state import NEVER, StateConflict, SweepRef

PARTITION = "root-causes"
Members = Mapping[str, tuple[str, str]]  # lower-cased cluster id -> (cluster name, check)


def row_key(key: str) -> str:
    return "rc-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def cause_document(cause: RootCause, stored: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The cause as its row keeps it, joined with what the row had (`stored`): the fix admits the sources of
    every cluster that reported it, as the report's estate view does for one run."""
    if stored:
        fixes = tuple(str(fix) for fix in stored.get("fixTemplates", []))
        items = tuple(str(item) for item in stored.get("items", []))
        sources = tuple(str(source) for source in stored.get("sources", []))
        cause = replace(cause, fixes=fixes, items=items, sources=sources).joined(cause)
    return {
        **cause.to_dict(),
        "fixTemplates": list(cause.fixes),
        "name": cause.name,
        "subscription": cause.subscription,
    }


@dataclass(frozen=True)
class CauseRow:
    key: str
    cause: Mapping[str, Any]
    members: Members = field(default_factory=dict)
    notified: Members = field(default_factory=dict)
    sweep: SweepRef | None = None
    claimed_by: str = ""
    claimed_until: datetime = NEVER
    etag: str | None = None

    def is_claimed(self, now: datetime) -> bool:
        return bool(self.claimed_by) and now < self.claimed_until


def _members(text: Any) -> dict[str, tuple[str, str]]:
    return {cluster: (str(pair[0]), str(pair[1])) for cluster, pair in json.loads(text or "{}").items()}


class RootCauseState:
    """Reads and conditionally writes the root-cause rows through a real `TableClient`."""

    def __init__(self, table: TableClient) -> None:
        """`table` exists already (the caller creates it: the app's state table)."""
        self._table = table

    def rows(self) -> list[CauseRow]:
        """Every root cause known (one partition: a few rows per estate, not one per cluster)."""
        return [self._row(entity) for entity in self._table.query_entities(f"PartitionKey eq '{PARTITION}'")]

    def read(self, key: str) -> CauseRow | None:
        try:
            return self._row(self._table.get_entity(PARTITION, row_key(key)))
        except ResourceNotFoundError:
            return None

    def record_cluster(self, result: ClusterResult) -> list[str]:
        """Moves one checked cluster in or out of every root cause; returns the keys whose members changed. A
        finding that is `error` (not judged) or muted keeps the cluster where it was for its check, as a cluster
        card keeps such a check's last state."""
        cluster_id = result.cluster.id.lower()
        now_in: dict[str, tuple[RootCause, str]] = {}
        kept_checks = {f.check for f in result.findings if f.status is Status.ERROR or f.muted}
        for finding in result.findings:
            if finding.status in (Status.FAIL, Status.WARN) and not finding.muted:
                for cause in finding.root_causes:
                    now_in.setdefault(cause.key, (cause, finding.check))
        changed = []
        rows = {row.key: row for row in self.rows()}
        for key in sorted(set(now_in) | {key for key, row in rows.items() if cluster_id in row.members}):
            move = functools.partial(self._move_cluster, key, result.cluster, now_in.get(key), kept_checks)
            if retry_on_conflict(move, f"root cause {key}"):
                changed.append(key)
        return changed

    def _move_cluster(
        self, key: str, cluster: Cluster, placed: tuple[RootCause, str] | None, kept_checks: set[str]
    ) -> bool:
        """One try at moving the cluster into the root cause `key` (`placed`: the cause, and the check that
        blames it) or out of it; True when its members changed. StateConflict when another writer came first."""
        cluster_id = cluster.id.lower()
        row = self.read(key)
        members = dict(row.members) if row else {}
        if placed:
            members[cluster_id] = (cluster.name, placed[1])
        elif cluster_id in members and members[cluster_id][1] not in kept_checks:
            del members[cluster_id]
        if row is not None and members == dict(row.members):
            return False
        stored = row.cause if row else None
        cause = cause_document(placed[0], stored) if placed else (stored or {})
        self._write(key, cause, members, row)
        return True

    def write(
        self,
        row: CauseRow,
        notified: Members,
        sweep: SweepRef | None,
        claimed_by: str = "",
        claimed_until: datetime = NEVER,
    ) -> CauseRow:
        """The row read as `row` with what was notified, by which sweep, and the claim; StateConflict when
        another writer changed it in between."""
        return self._write(row.key, row.cause, row.members, row, notified, sweep, claimed_by, claimed_until)

    def _write(
        self,
        key: str,
        cause: Mapping[str, Any],
        members: Members,
        previous: CauseRow | None,
        notified: Members | None = None,
        sweep: SweepRef | None = None,
        claimed_by: str = "",
        claimed_until: datetime = NEVER,
    ) -> CauseRow:
        if notified is None and previous is not None:  # a membership change keeps the notification columns
            notified, sweep = previous.notified, previous.sweep
            claimed_by, claimed_until = previous.claimed_by, previous.claimed_until
        notified = notified or {}
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": row_key(key),
            "Key": key,
            "Cause": json.dumps(dict(cause)),
            "Members": json.dumps({k: list(v) for k, v in sorted(members.items())}),
            "Notified": json.dumps({k: list(v) for k, v in sorted(notified.items())}),
            "SweepId": sweep.sweep_id if sweep else "",
            "SweepStarted": sweep.started if sweep else NEVER,
            "ClaimedBy": claimed_by,
            "ClaimedUntil": claimed_until,
            "UpdatedAt": datetime.now(UTC),
        }
        try:
            if previous is None or previous.etag is None:
                metadata = self._table.create_entity(entity)
            else:
                metadata = self._table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=previous.etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as error:
            raise StateConflict(f"root cause {key}: {type(error).__name__}") from None
        return CauseRow(
            key, dict(cause), dict(members), dict(notified), sweep, claimed_by, claimed_until, metadata["etag"]
        )

    @staticmethod
    def _row(entity: Mapping[str, Any]) -> CauseRow:
        sweep = None
        if entity.get("SweepId") and isinstance(entity.get("SweepStarted"), datetime):
            sweep = SweepRef(str(entity["SweepId"]), entity["SweepStarted"])
        until = entity.get("ClaimedUntil")
        return CauseRow(
            key=str(entity["Key"]),
            cause=json.loads(entity.get("Cause") or "{}"),
            members=_members(entity.get("Members")),
            notified=_members(entity.get("Notified")),
            sweep=sweep,
            claimed_by=str(entity.get("ClaimedBy") or ""),
            claimed_until=until if isinstance(until, datetime) else NEVER,
            etag=entity.metadata["etag"],  # type: ignore[attr-defined]
        )
