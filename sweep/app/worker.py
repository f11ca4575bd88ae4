"""The queue worker's half of a sweep: check one cluster, publish its findings, count it into its sweep.

A message is acted on only while its cluster is pending in its sweep (sweep/app/bookkeeping.py): a redelivered
message, or one naming a cluster the timer did not enqueue, publishes nothing and counts nothing. A delivery
whose check raises records its attempt and error on the pending row, then raises so the host retries it;
after host.json's maxDequeueCount the host moves it to `<queue>-poison`, where `record_poison` publishes
the cluster's `error` result with those facts, so no cluster drops out of a sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError

from collect.live.estate import ClusterNotFound, CollectionFailure, collect_one
from collect.live.logs import AuditRows
from model.estate import EstateCause
from model.etag_retry import RacesLost
from model.finding import ClusterResult, Status
from model.text import one_line
from publish.json_report import summary
from publish.notify_state import SweepRef
from sweep.app.bookkeeping import PendingCluster, SweepTotals, sweep_started
from sweep.app.messages import ClusterMessage, MessageError
from sweep.app.runtime import Runtime
from sweep.core.evaluate import evaluate_raw, unreachable_result
from sweep.core.mutes import MuteListError
from sweep.core.probe_timing import settle_probe

log = logging.getLogger(__name__)


def check_cluster(
    runtime: Runtime, cluster_id: str, extra_clients: Sequence[dict[str, Any]] = (), audit: AuditRows | None = None
) -> ClusterResult:
    """One cluster's result; ClusterNotFound when it does not exist or the identity cannot read it. `audit`:
    the rows the timer read from the cluster's workspace (else the cluster's own Log Analytics query)."""
    settings = runtime.settings
    context = {**runtime.context, "clients": [*runtime.context.get("clients", []), *extra_clients]}
    collected = collect_one(
        runtime.clients, cluster_id, context, settings.probe_timeout_seconds, settings.clients_tag, audit
    )
    if isinstance(collected, CollectionFailure):
        return unreachable_result(collected.cluster_id, collected.message, location=collected.location)
    for plug_in in runtime.plug_ins:  # e.g. change-driven rechecks: the resources this cluster now references
        plug_in.collected(cluster_id, collected.network)
    settle_probe(collected, settings)  # other clusters of this instance may be in flight: measure again alone
    return evaluate_raw(collected, settings)


def handle_message(runtime: Runtime, body: str | bytes, dequeue_count: int | None) -> ClusterResult | None:
    """The worker trigger. An unreadable message is its cluster's error result (see `unreadable_message`)."""
    try:
        message = ClusterMessage.parse(body)
    except MessageError as exc:
        return unreadable_message(runtime, exc)
    if _still_pending(runtime, message) is None:
        return None
    try:
        result = check_cluster(runtime, message.cluster_id, audit=message.audit)
    except ClusterNotFound as exc:
        result = unreachable_result(message.cluster_id, str(exc))
    except Exception as exc:  # the host retries the message; the poison handler will tell what failed
        _record_failure(runtime, message, dequeue_count or 1, exc)
        raise
    return publish(runtime, result, message.sweep_id, message.cluster_id)


def record_poison(runtime: Runtime, body: str | bytes) -> ClusterResult | None:
    """The poison-queue trigger: the cluster's check failed every delivery; its findings say so. (The poison
    message is a new message: its own dequeue count says nothing about the attempts on the main queue.)"""
    try:
        message = ClusterMessage.parse(body)
    except MessageError as exc:
        return unreadable_message(runtime, exc)
    pending = _still_pending(runtime, message)
    if pending is None:
        return None
    result = unreachable_result(message.cluster_id, poison_reason(pending, runtime.host.max_dequeue_count))
    return publish(runtime, result, message.sweep_id, message.cluster_id)


def poison_reason(pending: PendingCluster, max_dequeue_count: int) -> str:
    reason = (
        f"the check of this cluster failed on each of the {max_dequeue_count} deliveries of its message "
        "(host.json maxDequeueCount), so the Functions host moved it to the poison queue"
    )
    if pending.last_error:
        return f"{reason}; last error (delivery {pending.attempts}): {pending.last_error}"
    return f"{reason}; no delivery recorded its error (the worker timed out or stopped); see the function app's logs"


def publish(runtime: Runtime, result: ClusterResult, sweep_id: str, cluster_id: str) -> ClusterResult:
    """Exemptions, then events, Teams cards, then the count (the id the timer enqueued, whatever id the
    result carries); the caller that completes the sweep sends its summary. Events go first, so a failure
    after them repeats them (same `resultId`) rather than losing them."""
    try:
        result = runtime.muted(result)
    except MuteListError as exc:
        if any(finding.status is not Status.ERROR for finding in result.findings):
            log.error("%s; the message is retried", exc)
            raise
        # All errors: they neither fail nor send cards, so the cluster still counts, without exemptions.
        log.error("%s; %s published without exemptions", exc, result.cluster.id)
    if runtime.events:
        runtime.events.publish_result(result, sweep_id)
    if runtime.notify:
        runtime.notify([result], SweepRef(sweep_id, sweep_started(sweep_id)))  # logs each outcome itself
    record_root_causes(runtime, result)
    runtime.progress.record(sweep_id, cluster_id, summary([result]))
    close_if_complete(runtime, sweep_id, closer=cluster_id.lower())
    runtime.flush()
    return result  # as published: with its exemptions


def record_root_causes(runtime: Runtime, result: ClusterResult) -> list[str]:
    """Moves the cluster in or out of its root causes (their cards go when the sweep closes); the keys changed.
    A failed write costs only this cluster's place in them until its next check."""
    if runtime.root_causes is None:
        return []
    try:
        return runtime.root_causes.record_cluster(result)
    except (AzureError, RacesLost) as exc:  # RacesLost: every try lost to other writers of a root cause
        log.warning("%s: root causes not updated: %s", result.cluster.id, one_line(exc))
        return []


def close_if_complete(runtime: Runtime, sweep_id: str, closer: str) -> None:
    """Closes the sweep when no cluster is pending; the one closer sends the summary, then the rows go."""
    totals = runtime.progress.settle(sweep_id, closer)
    if totals is not None:
        send_summary(runtime, totals)


def send_summary(runtime: Runtime, totals: SweepTotals) -> None:
    """The sweep's root causes (members it did not check leave them; one card per cause that opened, grew or
    resolved), its events, then its bookkeeping goes (a failure in between sends it again)."""
    started = sweep_started(totals.sweep_id)
    causes = close_root_causes(runtime, started)
    if runtime.notify_causes:
        runtime.notify_causes(SweepRef(totals.sweep_id, started), None, None)
    if runtime.events:
        runtime.events.publish_root_causes(causes, totals.sweep_id)
        runtime.events.publish_sweep({**totals.counts, "rootCauses": len(causes)}, totals.sweep_id)
        runtime.flush()  # out before the rows that would send it again are gone
    for plug_in in runtime.plug_ins:  # e.g. change-driven rechecks: event ids past their retry window go
        plug_in.sweep_closed(datetime.now(UTC))
    log.info("sweep %s closed: %s, %d root causes", totals.sweep_id, dict(totals.counts), len(causes))
    runtime.progress.finish(totals.sweep_id)


def close_root_causes(runtime: Runtime, started: datetime) -> list[EstateCause]:
    """Clusters no check of the sweep confirmed (deleted, or out of scope) leave their root causes; what is left
    is the estate's root causes now. A state that cannot be read costs the count, not the sweep."""
    if runtime.root_causes is None:
        return []
    try:
        runtime.root_causes.prune(started)
        return runtime.root_causes.estate_causes()
    except (AzureError, RacesLost) as exc:
        log.warning("root causes not pruned or counted: %s", one_line(exc))
        return []


def unreadable_message(runtime: Runtime, error: MessageError) -> ClusterResult | None:
    """A message that cannot be parsed: its cluster's `error` result when its text still names a cluster
    pending in its sweep (so the sweep closes), else one log line; retrying cannot fix it either way."""
    if error.sweep_id is None or error.cluster_id is None:
        log.error("%s; message dropped", error)
        return None
    named = ClusterMessage(error.sweep_id, error.cluster_id)
    if _still_pending(runtime, named) is None:
        return None
    log.error("%s; recorded as the error result of %s", error, error.cluster_id)
    result = unreachable_result(error.cluster_id, str(error))
    return publish(runtime, result, error.sweep_id, error.cluster_id)


def _still_pending(runtime: Runtime, message: ClusterMessage) -> PendingCluster | None:
    """The cluster's pending row; when there is none, says why in the log and settles the sweep (a delivery
    that counted the last cluster and failed right after leaves the closing to its redelivery)."""
    pending = runtime.progress.pending(message.sweep_id, message.cluster_id)
    if pending is None:
        log.info(
            "sweep %s: %s is not pending (counted already, not enqueued by the timer, or its sweep closed); skipped",
            message.sweep_id,
            message.cluster_id,
        )
        close_if_complete(runtime, message.sweep_id, closer=message.cluster_id.lower())
    return pending


def _record_failure(runtime: Runtime, message: ClusterMessage, attempts: int, exc: Exception) -> None:
    try:
        runtime.progress.record_failure(message.sweep_id, message.cluster_id, attempts, f"{type(exc).__name__}: {exc}")
    except AzureError as error:  # the original failure matters more: log this one and let that one raise
        log.warning("sweep %s: could not record the failure of %s: %s", message.sweep_id, message.cluster_id, error)
