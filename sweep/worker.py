"""The queue worker's half of a sweep: check one cluster, publish its findings, count it into its sweep.

A message whose check keeps raising lands on the poison queue after host.json's maxDequeueCount;
`record_poison` still publishes that cluster's `error` result, so no cluster drops out of a sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from azure.core.exceptions import AzureError

from collect.live.estate import ClusterNotFound, CollectionFailure, collect_one
from model.finding import ClusterResult
from publish.json_report import summary
from sweep.evaluate import evaluate_raw, unreachable_result
from sweep.messages import ClusterMessage, MessageError
from sweep.runtime import Runtime

log = logging.getLogger(__name__)


def check_cluster(runtime: Runtime, cluster_id: str, extra_clients: Sequence[dict[str, Any]] = ()) -> ClusterResult:
    """One cluster's result; ClusterNotFound when it does not exist or the identity cannot read it."""
    settings = runtime.settings
    context = {**runtime.context, "clients": [*runtime.context.get("clients", []), *extra_clients]}
    collected = collect_one(runtime.clients, cluster_id, context, settings.probe_timeout_seconds, settings.clients_tag)
    if isinstance(collected, CollectionFailure):
        return unreachable_result(collected.cluster_id, collected.message)
    remember_references(runtime, cluster_id, collected.network)
    return evaluate_raw(collected, settings)


def remember_references(runtime: Runtime, cluster_id: str, network: Sequence[dict[str, Any]] | None) -> None:
    """Refreshes the cluster's row set in the change index (sweep/change_index.py); a failed network read keeps
    the previous references, and a failed write only costs change-driven rechecks until the next check."""
    if runtime.references is None or network is None:
        return
    try:
        runtime.references.record(cluster_id, [str(resource.get("id") or "") for resource in network])
    except AzureError as exc:
        log.warning("%s: change index not updated: %s", cluster_id, str(exc).splitlines()[0][:300])


def handle_message(runtime: Runtime, body: str | bytes) -> ClusterResult | None:
    """The worker trigger. An unreadable message is logged and dropped (retrying cannot fix it)."""
    try:
        message = ClusterMessage.parse(body)
    except MessageError as exc:
        return unreadable_message(runtime, exc)
    try:
        result = check_cluster(runtime, message.cluster_id)
    except ClusterNotFound as exc:
        result = unreachable_result(message.cluster_id, str(exc))
    publish(runtime, result, message.sweep_id)
    return result


def record_poison(runtime: Runtime, body: str | bytes, dequeue_count: int | None) -> ClusterResult | None:
    """The poison-queue trigger: the cluster's check failed every retry; its findings say so."""
    try:
        message = ClusterMessage.parse(body)
    except MessageError as exc:
        return unreadable_message(runtime, exc)
    attempts = f" {dequeue_count} times" if dequeue_count else ""
    reason = f"the check of this cluster failed{attempts} (poison message); see the function app's logs"
    result = unreachable_result(message.cluster_id, reason)
    publish(runtime, result, message.sweep_id)
    return result


def unreadable_message(runtime: Runtime, error: MessageError) -> ClusterResult | None:
    """A message that cannot be parsed: its cluster's `error` result when its text still names the cluster
    and its sweep (so the sweep closes), else one log line; retrying cannot fix it either way."""
    if error.sweep_id is None or error.cluster_id is None:
        log.error("%s; message dropped", error)
        return None
    log.error("%s; recorded as the error result of %s", error, error.cluster_id)
    result = unreachable_result(error.cluster_id, str(error))
    publish(runtime, result, error.sweep_id)
    return result


def publish(runtime: Runtime, result: ClusterResult, sweep_id: str) -> None:
    """Events, Teams cards, then the sweep count: the cluster that completes the sweep sends its summary."""
    if runtime.events:
        runtime.events.publish_result(result, sweep_id)
    if runtime.notify:
        runtime.notify([result])  # logs each cluster's outcome itself
    totals = runtime.progress.record(sweep_id, result.cluster.id, summary([result]))
    if totals and runtime.events:
        runtime.events.publish_sweep(totals.counts, sweep_id)
        log.info("sweep %s closed: %s", sweep_id, dict(totals.counts))
    runtime.flush()
