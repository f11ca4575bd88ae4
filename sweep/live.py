"""`python -m sweep` without --snapshot: collect the scope live, evaluate, and optionally save a snapshot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from azure.core.credentials import TokenCredential

from checks.finding import Check
from collect.live.clients import LiveClients
from collect.live.estate import CollectionFailure, Scope, sweep
from collect.raw import RawCluster
from collect.snapshot_folder import write_cluster
from model.finding import ClusterResult
from sweep.context import layered, settings_layer
from sweep.evaluate import evaluate_raw, unreachable_result
from sweep.probe_timing import probe_is_slow, settle_probe
from sweep.settings import Settings


def run_live(
    scope: Scope,
    context: dict[str, Any],
    settings: Settings,
    credential: TokenCredential,
    selected: Sequence[Check],
    save_to: Path | None = None,
    connection_verify: str | bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[ClusterResult]:
    clients = live_clients(settings, credential, connection_verify)
    results: list[ClusterResult] = []
    context = layered(settings_layer(settings), context)  # --context replaces AKS_REACH_CLIENTS
    stream = sweep(
        clients, scope, context, settings.concurrency, settings.probe_timeout_seconds, on_progress, settings.clients_tag
    )
    slow: list[RawCluster] = []  # probes timed amid the concurrent collection: measured again once it is over

    def finish(collected: RawCluster) -> None:
        if save_to is not None:
            write_cluster(collected, save_to / collected.cluster["name"])
        results.append(evaluate_raw(collected, settings, selected))

    for collected in stream:
        if isinstance(collected, CollectionFailure):
            results.append(unreachable_result(collected.cluster_id, collected.message, selected, collected.location))
        elif probe_is_slow(collected, settings):
            slow.append(collected)
        else:
            finish(collected)
    for collected in slow:  # the sweep is quiet now: one probe at a time
        settle_probe(collected, settings)
        finish(collected)
    return sorted(results, key=lambda result: result.cluster.id.lower())


def live_clients(settings: Settings, credential: TokenCredential, connection_verify: str | bool = True) -> LiveClients:
    return LiveClients(
        credential,
        arm_endpoint=settings.arm_endpoint,
        logs_endpoint=settings.logs_endpoint,
        timeout_seconds=settings.request_timeout_seconds,
        connection_verify=connection_verify,
        concurrency=settings.concurrency,
        read_secrets=settings.read_secrets,
    )
