"""`python -m sweep` without --snapshot: discover the scope's clusters, collect and evaluate them, and
optionally save a snapshot.

A large estate is shared out over processes (`AKS_REACH_PROCESSES`, sweep/cli/processes.py): the clusters,
sorted by id, are cut into contiguous shares, so each subscription's clusters stay in one process but for
at most one subscription per cut (the network inventory a process reads is its subscriptions' only, and
ARM's per-subscription buckets are paced on ARM's own headers, which every process reads). Each process
collects and evaluates its share with `AKS_REACH_CONCURRENCY / processes` clusters at once and sends each
result back as it is done, so nothing but results crosses.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from azure.core.credentials import TokenCredential

from checks.check import Check
from collect.live.clients import LiveClients
from collect.live.estate import CollectionFailure, Scope, discover_clusters, sweep
from collect.live.logs import LOGS_CONCURRENCY
from collect.raw import RawCluster
from collect.snapshot_folder import write_cluster
from model.arm_ids import last_segment, subscription_of
from model.finding import ClusterResult
from sweep.cli.packed import BlobSpool, PackedResults, pack
from sweep.cli.processes import Emit, run_in_processes
from sweep.core.clients import live_clients
from sweep.core.context import layered, settings_layer
from sweep.core.evaluate import evaluate_raw, unreachable_result
from sweep.core.probe_timing import probe_is_slow, settle_probe
from sweep.core.settings import Settings

# Below this many clusters a process more costs more (its start, its own inventory and token) than it saves.
MIN_CLUSTERS_PER_PROCESS = 200


def run_live(
    scope: Scope,
    context: dict[str, Any],
    settings: Settings,
    credential: TokenCredential,
    selected: Sequence[Check],
    save_to: Path | None = None,
    connection_verify: str | bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> PackedResults:
    """Every cluster of the scope's result, sorted by cluster id, packed (sweep/cli/packed.py)."""
    clients = live_clients(settings, credential, connection_verify)
    clusters = discover_clusters(clients, scope, slim=True)  # no process holds the rows whole
    total, processes = len(clusters), process_count(settings.processes, len(clusters))
    run = ShareRun(
        settings,
        credential,
        connection_verify,
        layered(settings_layer(settings), context),  # --context replaces AKS_REACH_CLIENTS
        tuple(selected),
        save_to,
        processes,
    )
    spool = BlobSpool()
    packed: dict[str, tuple[int, int]] = {}  # each result's span in the spool, by lower-cased cluster id
    slow: list[RawCluster] = []

    def arrived(cluster_id: str, outcome: bytes | RawCluster) -> None:
        if isinstance(outcome, RawCluster):
            slow.append(outcome)
        else:
            packed[cluster_id.lower()] = spool.add(outcome)
        if on_progress:
            on_progress(len(packed) + len(slow), total)

    if processes == 1:
        run.collect(clusters, arrived, clients)
    else:
        shares = share_out(clusters, processes)
        run = replace(run, arm_shared_by=split_subscriptions(shares))
        identities = [[(str(c["id"]), str(c.get("location") or "")) for c in share] for share in shares]
        del clusters  # each forked share process holds its own bodies: this one drops them (run_in_processes)
        ended = run_in_processes(shares, run.collect, arrived)
        reported = set(packed) | {str(raw.cluster["id"]).lower() for raw in slow}
        for index, why in sorted(ended.items()):
            for cluster_id, location in identities[index]:
                if cluster_id.lower() not in reported:
                    failure = CollectionFailure(cluster_id, f"collection failed: {why}", location)
                    arrived(cluster_id, pack(run.unreachable(failure)))
    for raw in slow:
        settle_probe(raw, settings)  # the whole sweep is quiet now: one probe at a time
        packed[str(raw.cluster["id"]).lower()] = spool.add(pack(run.finish(raw)))
    return PackedResults(spool=spool, spans=(packed[key] for key in sorted(packed)))


@dataclass(frozen=True)
class ShareRun:
    """What a process needs to collect and evaluate a share of the sweep's clusters (forked: never pickled)."""

    settings: Settings
    credential: TokenCredential
    connection_verify: str | bool
    context: dict[str, Any]
    selected: tuple[Check, ...]
    save_to: Path | None
    processes: int = 1
    arm_shared_by: dict[str, int] = field(default_factory=dict)  # subscriptions split between shares

    def collect(self, clusters: Sequence[dict[str, Any]], emit: Emit, clients: LiveClients | None = None) -> None:
        """Emits each cluster's result as it is done, packed, or its raw collection when its probe was slow."""
        concurrency = math.ceil(self.settings.concurrency / self.processes)
        clients = clients or live_clients(
            replace(self.settings, concurrency=concurrency), self.credential, self.connection_verify, self.arm_shared_by
        )
        stream = sweep(
            clients,
            clusters,
            self.context,
            concurrency,
            self.settings.probe_timeout_seconds,
            clients_tag=self.settings.clients_tag,
            logs_concurrency=LOGS_CONCURRENCY // self.processes,
        )
        for collected in stream:
            if isinstance(collected, CollectionFailure):
                emit(collected.cluster_id, pack(self.unreachable(collected)))
            elif probe_is_slow(collected, self.settings):
                emit(str(collected.cluster["id"]), collected)
            else:
                emit(str(collected.cluster["id"]), pack(self.finish(collected)))

    def finish(self, collected: RawCluster) -> ClusterResult:
        if self.save_to is not None:
            write_cluster(collected, self.save_to / snapshot_folder_name(str(collected.cluster["id"])))
        return evaluate_raw(collected, self.settings, self.selected)

    def unreachable(self, failure: CollectionFailure) -> ClusterResult:
        return unreachable_result(failure.cluster_id, failure.message, self.selected, failure.location)


def snapshot_folder_name(cluster_id: str) -> str:
    """The sub-folder of a saved cluster: its name, made safe as one path segment, and a digest of its ARM id,
    since cluster names repeat across resource groups and subscriptions (`aks-payments-prod-3b1f0c9e2d4a`)."""
    name = re.sub(r"[^a-z0-9._-]", "_", last_segment(cluster_id.strip().lower())).lstrip(".")[:80] or "cluster"
    return f"{name}-{hashlib.sha256(cluster_id.strip().lower().encode()).hexdigest()[:12]}"


def process_count(setting: int, clusters: int) -> int:
    """`AKS_REACH_PROCESSES`, or with 0 one process per core when the estate is large enough to gain (on
    Linux: share processes are forked, and macOS advises against forking, Windows cannot)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if setting > 0:
        return max(1, min(setting, clusters))
    if not sys.platform.startswith("linux"):
        return 1
    return max(1, min(os.cpu_count() or 1, clusters // MIN_CLUSTERS_PER_PROCESS))


def share_out(clusters: Sequence[dict[str, Any]], processes: int) -> list[list[dict[str, Any]]]:
    """Contiguous shares of the clusters sorted by id (so by subscription), as equal as can be."""
    ordered = sorted(clusters, key=lambda cluster: str(cluster["id"]).lower())
    size, extra = divmod(len(ordered), processes)
    shares, start = [], 0
    for index in range(processes):
        end = start + size + (1 if index < extra else 0)
        shares.append(ordered[start:end])
        start = end
    return shares


def split_subscriptions(shares: Sequence[Sequence[dict[str, Any]]]) -> dict[str, int]:
    """Subscriptions with clusters in more than one share, with how many: their processes split ARM's
    buckets for them (a cut of the sorted clusters falls inside at most one subscription)."""
    holders: dict[str, int] = {}
    for share in shares:
        for subscription in {subscription_of(str(cluster["id"])) for cluster in share}:
            holders[subscription] = holders.get(subscription, 0) + 1
    return {subscription: count for subscription, count in holders.items() if count > 1}
