"""What each root cause breaks now and what its owners were last told, in Table Storage under each row's ETag.

One entity per root cause: PartitionKey `root-causes`, RowKey `rc-<digest of the key>`. Columns: `Key`, `Cause`
(the cause as JSON: name, resource, summary, fix), `Members` (JSON: cluster id -> [cluster name, check], the
clusters it breaks now, kept current by each cluster's check), `Parts` (JSON: cluster id -> what it adds to the
fix), `Notified` (the same shape as `Members`: the clusters the last card
listed), `SweepId` / `SweepStarted` (the newest sweep or recheck whose card was applied), `ClaimedBy` /
`ClaimedUntil` (a delivery posting its card right now).

Each cluster's check moves only that cluster in or out of the rows (a cluster is the only writer of its own
membership; concurrent writers of one row retry on the ETag). Cards are decided apart (`publish/teams.py`
`notify_root_causes`): when a sweep closes, or once every recheck of one resource change has run, for every row
whose members differ from what was notified. So a cause of forty clusters is one card, however its clusters'
checks interleave. A cluster in any root cause also has a row of its own (`root-cause-members` / cluster key,
`CheckedAt`), written by each of its checks (one writer per row: the shared cause rows are written only when
what they hold changes); when a sweep closes, a member no check of it confirmed (a deleted cluster, one out of
scope) leaves (`prune`), and its sources leave the fix.
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

from model.arm_ids import parse_cluster_id, table_key
from model.estate import AffectedCluster, EstateCause, largest_first
from model.etag_retry import retry_on_conflict
from model.finding import ClusterResult, Status
from model.root_cause import CauseKind, RootCause
from model.snapshot import Cluster
from publish.notify_state import NEVER, StateConflict, SweepRef

PARTITION = "root-causes"
MEMBERS = "root-cause-members"  # one row per cluster in any root cause: when its check last confirmed it
Members = Mapping[str, tuple[str, str]]  # lower-cased cluster id -> (cluster name, check)


def row_key(key: str) -> str:
    return "rc-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def member_part(cause: RootCause, status: Status) -> dict[str, Any]:
    """What one cluster adds to its cause's fix (its flows, its sources, its commands), and whether it fails or
    is at risk: the row keeps one per member, so a spoke that leaves takes its sources out of the fix."""
    return {
        "status": status.value,
        "fixes": list(cause.fixes),
        "items": list(cause.items),
        "sources": list(cause.sources),
    }


def cause_of(document: Mapping[str, Any]) -> RootCause:
    """The cause a row's `Cause` column holds (its own fields; the members' parts are joined apart)."""
    return RootCause(
        CauseKind(str(document["kind"])),
        str(document.get("resourceId") or ""),
        str(document.get("part") or ""),
        str(document.get("summary") or ""),
        related=tuple((str(name), str(value)) for name, value in dict(document.get("related") or {}).items()),
        owners=tuple(str(owner) for owner in document.get("owners") or ()),
    )


def joined_cause(cause: RootCause, parts: Mapping[str, Mapping[str, Any]]) -> RootCause:
    """`cause` as the latest check named it, with the items, sources and fixes of every member (`parts`, by
    cluster id), so its one fix admits every spoke it breaks now, as the report's estate view does for one run,
    and none that left."""
    joined = replace(cause, fixes=(), items=(), sources=())
    for cluster in sorted(parts):
        part = parts[cluster]
        joined = joined.joined(
            replace(
                cause,
                fixes=tuple(str(fix) for fix in part.get("fixes", ())),
                items=tuple(str(item) for item in part.get("items", ())),
                sources=tuple(str(source) for source in part.get("sources", ())),
            )
        )
    return joined


def cause_document(cause: RootCause, parts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The cause as its row keeps it (`joined_cause`), with what the card shows."""
    joined = joined_cause(cause, parts)
    return {
        **joined.to_dict(),
        "fixTemplates": list(joined.fixes),
        "name": joined.name,
        "subscription": joined.subscription,
    }


@dataclass(frozen=True)
class CauseRow:
    key: str
    cause: Mapping[str, Any]
    members: Members = field(default_factory=dict)
    notified: Members = field(default_factory=dict)
    parts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # member -> member_part
    sweep: SweepRef | None = None
    claimed_by: str = ""
    claimed_until: datetime = NEVER
    etag: str | None = None

    def is_claimed(self, now: datetime) -> bool:
        return bool(self.claimed_by) and now < self.claimed_until


def _cluster(cluster_id: str, name: str) -> Cluster:
    try:
        subscription, group, _ = parse_cluster_id(cluster_id)
    except ValueError:
        subscription, group = "", ""
    return Cluster(id=cluster_id, name=name, subscription=subscription, resource_group=group, location="")


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
        card keeps such a check's last state. A cluster in any cause gets its own row stamped with this check's time
        (`prune` drops what no check of a whole sweep confirmed); the cause rows, which many clusters' checks
        share, are written only when what they hold changes."""
        cluster_id = result.cluster.id.lower()
        now = datetime.now(UTC)
        now_in: dict[str, tuple[RootCause, str, Status]] = {}
        kept_checks = {f.check for f in result.findings if f.status is Status.ERROR or f.muted}
        for finding in result.findings:
            if finding.status in (Status.FAIL, Status.WARN) and not finding.muted:
                for cause in finding.root_causes:
                    known = now_in.get(cause.key)
                    if known is None:
                        now_in[cause.key] = (cause, finding.check, finding.status)
                    else:  # the same resource at fault for two checks: one member, failing if either fails
                        status = Status.FAIL if Status.FAIL in (known[2], finding.status) else Status.WARN
                        now_in[cause.key] = (known[0].joined(cause), known[1], status)
        changed = []
        member_of: list[str] = []
        rows = {row.key: row for row in self.rows()}
        for key in sorted(set(now_in) | {key for key, row in rows.items() if cluster_id in row.members}):
            move = functools.partial(self._move_cluster, key, result.cluster, now_in.get(key), kept_checks)
            moved, member = retry_on_conflict(move, f"root cause {key}")
            if moved:
                changed.append(key)
            if member:
                member_of.append(key)
        member_row = {"PartitionKey": MEMBERS, "RowKey": table_key(cluster_id)}
        if member_of:
            self._table.upsert_entity(
                {**member_row, "ClusterId": cluster_id, "CheckedAt": now}, mode=UpdateMode.REPLACE
            )
        else:
            self._table.delete_entity(MEMBERS, member_row["RowKey"])  # no error when there is none
        return changed

    def _move_cluster(
        self, key: str, cluster: Cluster, placed: tuple[RootCause, str, Status] | None, kept_checks: set[str]
    ) -> tuple[bool, bool]:
        """One try at moving the cluster into the root cause `key` (`placed`: the cause, the check that blames
        it and its status) or out of it; (its members changed, the cluster is a member now). The row is written
        only when its members or their parts change. StateConflict when another writer came first."""
        cluster_id = cluster.id.lower()
        row = self.read(key)
        if row is None and placed is None:
            return False, False  # the row went meanwhile: nothing to leave
        members = dict(row.members) if row else {}
        parts = dict(row.parts) if row else {}
        if placed:
            members[cluster_id] = (cluster.name, placed[1])
            parts[cluster_id] = member_part(placed[0], placed[2])
        elif cluster_id in members and members[cluster_id][1] not in kept_checks:
            del members[cluster_id]
            parts.pop(cluster_id, None)
        if row is not None and members == dict(row.members) and parts == dict(row.parts):
            return False, cluster_id in members
        base = placed[0] if placed else cause_of(row.cause if row else {})
        self._write(key, cause_document(base, parts), members, parts, row)
        return row is None or members != dict(row.members), cluster_id in members

    def prune(self, checked_since: datetime) -> list[str]:
        """A sweep closed: members no check confirmed since `checked_since` (the sweep's start: every cluster of
        the scope, even one whose check failed, was checked since) are clusters deleted or out of scope; they
        leave, and their sources leave the fix. Returns the keys whose members changed. (One query of the
        members' own rows finds them: usually none.)"""
        stale = set()
        for entity in self._table.query_entities(
            "PartitionKey eq @partition and CheckedAt lt @since",
            parameters={"partition": MEMBERS, "since": checked_since},
        ):
            try:  # under the ETag read: a cluster checked meanwhile stays
                self._table.delete_entity(
                    MEMBERS,
                    entity["RowKey"],
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                continue
            stale.add(str(entity["ClusterId"]))
        changed = []
        for row in self.rows() if stale else []:
            if stale & set(row.members) and retry_on_conflict(
                functools.partial(self._drop_members, row.key, stale), f"root cause {row.key}"
            ):
                changed.append(row.key)
        return changed

    def _drop_members(self, key: str, gone: set[str]) -> bool:
        """One try at taking `gone` out of the root cause `key`; True when any was in it."""
        row = self.read(key)
        if row is None or not gone & set(row.members):
            return False
        members = {cluster: pair for cluster, pair in row.members.items() if cluster not in gone}
        parts = {cluster: part for cluster, part in row.parts.items() if cluster not in gone}
        self._write(key, cause_document(cause_of(row.cause), parts), members, parts, row)
        return True

    def estate_causes(self) -> list[EstateCause]:
        """The root causes that break clusters now, as a sweep's report groups them (largest first): what the
        Function app's events say when a sweep closes."""
        groups = []
        for row in self.rows():
            if not row.members:
                continue
            cause = joined_cause(cause_of(row.cause), row.parts)
            affected = tuple(
                AffectedCluster(
                    _cluster(cluster_id, name),
                    (),
                    check,
                    Status.WARN if row.parts.get(cluster_id, {}).get("status") == Status.WARN.value else Status.FAIL,
                )
                for cluster_id, (name, check) in sorted(row.members.items())
            )
            groups.append(EstateCause(cause, affected))
        return largest_first(groups)

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
        return self._write(row.key, row.cause, row.members, row.parts, row, notified, sweep, claimed_by, claimed_until)

    def _write(
        self,
        key: str,
        cause: Mapping[str, Any],
        members: Members,
        parts: Mapping[str, Mapping[str, Any]],
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
            "Parts": json.dumps(dict(sorted(parts.items()))),
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
            key,
            dict(cause),
            dict(members),
            dict(notified),
            dict(parts),
            sweep,
            claimed_by,
            claimed_until,
            metadata["etag"],
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
            parts=json.loads(entity.get("Parts") or "{}"),
            sweep=sweep,
            claimed_by=str(entity.get("ClaimedBy") or ""),
            claimed_until=until if isinstance(until, datetime) else NEVER,
            etag=entity.metadata["etag"],  # type: ignore[attr-defined]
        )
