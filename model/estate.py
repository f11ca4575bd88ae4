"""The estate view: a run's findings grouped by their root cause, largest first.

Each failing or warning finding no exemption mutes adds its cluster to the group of every root cause it names
(`Finding.root_causes`). A group is what one team fixes once: one resource, the union of what it lacks for
all its clusters, one command, every cluster it breaks and the subscriptions they sit in.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from model.finding import ClusterResult, Finding, Status
from model.root_cause import RootCause
from model.snapshot import Cluster


@dataclass(frozen=True)
class AffectedCluster:
    cluster: Cluster
    owners: tuple[str, ...]
    check: str
    status: Status


@dataclass(frozen=True)
class EstateCause:
    """One root cause of the run: the cause as the first affected cluster (by id) names it, with the union of
    its `items` over every cluster, and the clusters it breaks (by id, each once, with the check that saw it)."""

    cause: RootCause
    affected: tuple[AffectedCluster, ...]

    @property
    def key(self) -> str:
        return self.cause.key

    @property
    def status(self) -> Status:
        """`fail` when it fails any cluster, else `warn`."""
        return Status.FAIL if any(a.status is Status.FAIL for a in self.affected) else Status.WARN

    @property
    def checks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.check for a in self.affected))

    @property
    def clusters(self) -> tuple[Cluster, ...]:
        return tuple(a.cluster for a in self.affected)

    @property
    def subscriptions(self) -> tuple[str, ...]:
        return tuple(sorted({a.cluster.subscription.lower() for a in self.affected if a.cluster.subscription}))

    def reach(self) -> str:
        """'breaks 3 clusters in 2 subscriptions' (warn: 'risks')."""
        clusters, subscriptions = len(self.affected), len(self.subscriptions)
        verb = "breaks" if self.status is Status.FAIL else "risks"
        where = f" in {subscriptions} subscription{'' if subscriptions == 1 else 's'}" if subscriptions else ""
        return f"{verb} {clusters} cluster{'' if clusters == 1 else 's'}{where}"

    def to_dict(self) -> dict[str, object]:
        return {
            **self.cause.to_dict(),
            "name": self.cause.name,
            "status": self.status.value,
            "checks": list(self.checks),
            "clusters": [
                {"id": a.cluster.id, "name": a.cluster.name, "subscription": a.cluster.subscription, "check": a.check}
                for a in self.affected
            ],
            "subscriptions": list(self.subscriptions),
        }


def counted(finding: Finding) -> bool:
    """A finding that puts its cluster into its root causes' groups."""
    return finding.status in (Status.FAIL, Status.WARN) and not finding.muted and bool(finding.root_causes)


def estate_causes(results: Iterable[ClusterResult]) -> list[EstateCause]:
    """Every root cause of the run, largest first (clusters affected, failing before warning, then key). One
    pass over `results`, keeping only what the groups need (a live sweep's results stay packed)."""
    members: dict[str, dict[str, tuple[RootCause, AffectedCluster]]] = {}
    for result in results:
        for finding in result.findings:
            if not counted(finding):
                continue
            for cause in finding.root_causes:
                clusters = members.setdefault(cause.key, {})
                known = clusters.get(result.cluster.id.lower())
                if known is None or (known[1].status is Status.WARN and finding.status is Status.FAIL):
                    affected = AffectedCluster(result.cluster, result.owners, finding.check, finding.status)
                    clusters[result.cluster.id.lower()] = (cause, affected)
    groups = [_group([clusters[cluster_id] for cluster_id in sorted(clusters)]) for clusters in members.values()]
    return sorted(groups, key=lambda g: (-len(g.affected), g.status is not Status.FAIL, g.key))


def _group(pairs: Sequence[tuple[RootCause, AffectedCluster]]) -> EstateCause:
    cause = functools.reduce(RootCause.joined, (cause for cause, _ in pairs))
    return EstateCause(cause, tuple(affected for _, affected in pairs))


def causes_of(result: ClusterResult, groups: Sequence[EstateCause]) -> dict[str, EstateCause]:
    """The groups a cluster's findings point at, by key."""
    keys = {cause.key for finding in result.findings if counted(finding) for cause in finding.root_causes}
    return {group.key: group for group in groups if group.key in keys}
