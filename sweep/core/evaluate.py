"""One cluster from raw inputs to its result: parse, run every check, never raise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from checks.check import Check
from checks.engine import error_findings, evaluate_cluster
from checks.registry import CHECKS
from collect.parse import SnapshotError, cluster_identity, parse_cluster, resource_owners
from collect.raw import RawCluster
from model.arm_ids import parse_cluster_id
from model.finding import ClusterResult
from model.root_cause import with_owners
from model.snapshot import Cluster
from sweep.core.settings import Settings


def evaluate_raw(raw: RawCluster, settings: Settings, checks: Sequence[Check] = CHECKS) -> ClusterResult:
    """Findings for one cluster; unreadable input gives every check an `error` finding naming the problem."""
    try:
        snapshot = parse_cluster(raw, owner_tag=settings.owner_tag)
    except SnapshotError as exc:
        cluster_id, location = cluster_identity(raw.cluster)
        result = unreachable_result(cluster_id or "unknown cluster", str(exc), checks, location)
        return replace(result, input_error=str(exc))
    findings = evaluate_cluster(snapshot, checks, settings.limits)
    owners = resource_owners(raw.network, settings.owner_tag)  # the resources at fault are other teams'
    if owners:
        findings = [
            replace(finding, root_causes=tuple(with_owners(cause, owners) for cause in finding.root_causes))
            for finding in findings
        ]
    return ClusterResult(cluster=snapshot.cluster, owners=snapshot.owners, findings=tuple(findings))


def unreachable_result(
    cluster_id: str, message: str, checks: Sequence[Check] = CHECKS, location: str = ""
) -> ClusterResult:
    """A cluster that could not be collected or read at all: all its findings are `error`."""
    cluster = replace(cluster_stub(cluster_id), location=location)
    return ClusterResult(cluster=cluster, owners=(), findings=tuple(error_findings(checks, message)))


def cluster_stub(cluster_id: str) -> Cluster:
    """What an id alone says about a cluster (an id that is not an AKS id keeps its text as the name)."""
    try:
        subscription, group, name = parse_cluster_id(cluster_id)
    except ValueError:
        return Cluster(
            id=cluster_id,
            name=cluster_id.rstrip("/").rsplit("/", 1)[-1],
            subscription="",
            resource_group="",
            location="",
        )
    return Cluster(id=cluster_id, name=name, subscription=subscription, resource_group=group, location="")
