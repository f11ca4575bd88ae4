"""Change-driven rechecks: an Azure Resource Manager write or delete (Event Grid) -> the clusters it can
affect -> one debounced recheck per cluster, through the sweep's queue and worker -> a finding, event and
Teams card that name the change, when a check newly fails.

Debounce: sweep/rechecks/pending.py (a claim row per cluster and one delayed queue message per claim).

A recheck is not part of any sweep: its message has its own kind, it is not counted into a sweep's totals,
and its events carry `sweepId` `recheck-<token>`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from azure.core.exceptions import AzureError

from collect.live import resource_graph
from collect.live.estate import ClusterNotFound
from model.finding import ClusterResult, Finding, Status
from model.root_cause import key_resource
from model.text import one_line
from publish.notify_state import SweepRef
from publish.root_cause_card import PrecedingChange
from sweep.app import worker
from sweep.app.messages import MessageError
from sweep.app.runtime import Runtime
from sweep.rechecks.events import ChangeEventError, ResourceChange, cluster_of, lookup_ids, read_event
from sweep.rechecks.pending import Pending, RecheckMessage
from sweep.rechecks.plug_in import Rechecks
from sweep.rechecks.rounds import CompletedRound

log = logging.getLogger(__name__)

# --- the Event Grid trigger ---------------------------------------------------------------------------------


def on_resource_change(runtime: Runtime, event: func.EventGridEvent) -> list[str]:
    """The clusters the event's change can affect, each with a recheck pending. A malformed event is logged in
    one line and dropped (no exception: Event Grid would redeliver it, and it would fail the same way)."""
    try:
        change = read_event(event.id, event.event_type, event.subject, event.event_time, event.get_json())
    except ChangeEventError as exc:
        log.error("%s; event dropped", exc)
        return []
    if change is None:
        log.info("event %s (%s) is not a watched change; ignored", event.id, event.event_type)
        return []
    cluster = cluster_of(change.resource_id)
    deleted = bool(cluster and change.deleted and cluster.lower() == change.resource_id.lower())
    clusters = [] if deleted else sorted({cluster} if cluster else affected_clusters(runtime, change.resource_id))
    rechecks = runtime.plug_in(Rechecks)
    if not rechecks.rounds.open(change, clusters):
        log.info(
            "event %s was delivered before; dropped (Event Grid retries an event it thinks failed)", change.event_id
        )
        return []
    if deleted and cluster:
        rechecks.references.forget(cluster)
        log.info("%s: cluster deleted; its references are dropped", change.describe(runtime.settings.caller_names))
    try:
        queued = sum(rechecks.pending.schedule(cluster_id, change) for cluster_id in clusters)
    except Exception:
        rechecks.rounds.abandon(change)  # Event Grid retries the event: it must then count as a first delivery
        raise
    if (completed := rechecks.rounds.scheduled(change)) is not None:
        notify_round(runtime, completed)
    log.info(
        "%s: %d cluster(s) affected, %d new recheck(s) queued",
        change.describe(runtime.settings.caller_names),
        len(clusters),
        queued,
    )
    return clusters


def affected_clusters(runtime: Runtime, resource_id: str) -> set[str]:
    """From the reference index (the resource and its parents); a resource the index does not know is looked
    for in the clusters' own properties with one Resource Graph query (subnet, DNS zone or outbound IP ids)."""
    references = runtime.plug_in(Rechecks).references
    found: set[str] = set()
    for candidate in lookup_ids(resource_id):
        found |= references.clusters_for(candidate)
    return found or referencing_clusters(runtime, lookup_ids(resource_id)[-1])


def referencing_clusters(runtime: Runtime, resource_id: str) -> set[str]:
    """Clusters of the sweep's scope whose properties name the resource (the id is a checked ARM id: no quote
    can reach the query text). The query's `contains` is a prefilter; the match is confirmed here."""
    text = (
        "resources | where type =~ 'microsoft.containerservice/managedclusters' "
        f"| where tostring(properties) contains '{resource_id}' | project id, properties"
    )
    settings = runtime.settings
    rows = resource_graph.query(runtime.clients, text, settings.subscriptions, settings.management_group)
    return {str(row["id"]) for row in rows if resource_id.lower() in json.dumps(row.get("properties")).lower()}


# --- the queue worker ---------------------------------------------------------------------------------------


def route_message(runtime: Runtime, body: str | bytes, dequeue_count: int | None) -> ClusterResult | None:
    """The queue trigger: a recheck, or a cluster of a sweep (sweep/app/worker.py)."""
    if RecheckMessage.matches(body):
        return handle_recheck(runtime, body)
    return worker.handle_message(runtime, body, dequeue_count)


def route_poison(runtime: Runtime, body: str | bytes) -> ClusterResult | None:
    """The poison-queue trigger: a recheck that failed every retry frees its claim (the next sweep checks the
    cluster); a sweep's message still gives its cluster an error result. (A poison message's own dequeue
    count is that of a new message: the attempts made are host.json's maxDequeueCount.)"""
    if not RecheckMessage.matches(body):
        return worker.record_poison(runtime, body)
    try:
        message = RecheckMessage.parse(body)
    except MessageError as exc:
        log.error("poison %s; message dropped", exc)
        return None
    log.error(
        "recheck of %s failed on each of its %d deliveries (host.json maxDequeueCount); the next sweep checks it",
        message.cluster_id,
        runtime.host.max_dequeue_count,
    )
    rechecks = runtime.plug_in(Rechecks)
    pending = rechecks.pending.claimed(message)
    if pending is not None:
        close_rounds(runtime, pending, {})  # its changes' other clusters need not wait for it
        rechecks.pending.finish(pending)
    return None


def handle_recheck(runtime: Runtime, body: str | bytes) -> ClusterResult | None:
    try:
        message = RecheckMessage.parse(body)
    except MessageError as exc:
        log.error("%s; message dropped", exc)
        return None
    rechecks = runtime.plug_in(Rechecks)
    pending = rechecks.pending.claimed(message)
    if pending is None:
        log.info("recheck %s of %s: done already (a redelivered message)", message.token, message.cluster_id)
        return None
    try:
        result = worker.check_cluster(runtime, pending.cluster_id)
    except ClusterNotFound as exc:
        log.info("recheck of %s: %s; its references are dropped", pending.cluster_id, exc)
        rechecks.references.forget(pending.cluster_id)
        close_rounds(runtime, pending, {})
        rechecks.pending.finish(pending)
        return None
    newly = newly_failing(runtime, result)
    changed = worker.record_root_causes(runtime, result)
    close_rounds(runtime, pending, blame_causes(result, changed, pending.changes))
    if newly:
        now, names = datetime.now(UTC), runtime.settings.caller_names
        carded = name_the_change(result, newly, pending.changes, names=True)  # the card tells owners who
        result = name_the_change(result, newly, pending.changes, names=names)  # events: by object id
        if runtime.events:
            runtime.events.publish_result(result, f"recheck-{pending.token}")
        if runtime.notify:  # ordered with the sweeps by when it ran: a sweep older than it cannot undo it
            runtime.notify([carded], SweepRef(f"recheck-{pending.token}", now))
        runtime.flush()
        log.warning(
            "recheck of %s: %s newly failing after %s",
            result.cluster.name,
            ", ".join(newly),
            _latest(pending.changes).describe(names),
        )
    else:
        log.info(
            "recheck of %s after %d change(s): no check newly failing; nothing sent",
            result.cluster.name,
            len(pending.changes),
        )
    rechecks.pending.finish(pending)
    return result


def blame_causes(result: ClusterResult, keys: Sequence[str], changes: Sequence[ResourceChange]) -> dict[str, list[str]]:
    """Each root cause the recheck moved, under the event id of the change it is blamed on (`blamed_change`)."""
    at_fault = {
        cause.key: [cause.resource_id, *(resource for _, resource in cause.related)]
        for finding in result.findings
        for cause in finding.root_causes
    }
    by_event: dict[str, list[str]] = {}
    for key in keys:
        change = blamed_change(changes, at_fault.get(key) or [key_resource(key)])
        by_event.setdefault(change.event_id, []).append(key)
    return by_event


def close_rounds(runtime: Runtime, pending: Pending, keys_by_event: dict[str, list[str]]) -> None:
    """This cluster's recheck ran: its changes' rounds hear of it, and a round it completes sends its cards."""
    try:
        completed = runtime.plug_in(Rechecks).rounds.complete(pending.cluster_id, pending.changes, keys_by_event)
    except AzureError as exc:  # its causes' cards wait for the next sweep's close
        log.warning("recheck of %s: change rounds not updated: %s", pending.cluster_id, one_line(exc))
        return
    for round_ in completed:
        notify_round(runtime, round_)


def notify_round(runtime: Runtime, completed: CompletedRound) -> None:
    """Every recheck of a change ran: one decision for each root cause they moved, naming the change (so a
    fixed hub resolves now, not at the next sweep, and two spokes it broke open one card)."""
    if runtime.notify_causes and completed.keys:
        change = completed.change
        preceding = PrecedingChange(change.describe(names=True), change.resource_id)  # for the card only
        runtime.notify_causes(SweepRef(f"recheck-{change.event_id}", datetime.now(UTC)), completed.keys, preceding)


def newly_failing(runtime: Runtime, result: ClusterResult) -> list[str]:
    """Failing checks that Teams was not told about yet (all failing checks when Teams is not configured)."""
    failing = [finding.check for finding in result.findings if finding.status is Status.FAIL]
    before: frozenset[str] = frozenset()
    if failing and runtime.teams_state is not None:
        try:
            before = runtime.teams_state.last_failing(result.cluster)
        except AzureError as exc:
            log.warning(
                "%s: Teams state not readable (%s); every failing check counts as new", result.cluster.name, exc
            )
    return [check for check in failing if check not in before]


def _latest(changes: Sequence[ResourceChange]) -> ResourceChange:
    return max(changes, key=lambda change: change.time)


def blamed_change(changes: Sequence[ResourceChange], at_fault: Sequence[str]) -> ResourceChange:
    """The write a verdict changed after: the latest change to a resource at fault or to a part of it (a rule
    collection group of the policy at fault), else the latest change. A burst's last write is often another
    resource's (a deployment writes a route table after the firewall rules it broke)."""
    wanted = {resource.lower() for resource in at_fault if resource}
    touching = [change for change in changes if wanted & set(lookup_ids(change.resource_id))]
    return _latest(touching or changes)


def name_the_change(
    result: ClusterResult, newly: Sequence[str], changes: Sequence[ResourceChange], names: bool
) -> ClusterResult:
    """Each newly failing finding says which write it failed after, with that write's exact time, first thing in
    its detail (the Teams card shows the detail's start), with every change of the recheck in its evidence;
    callers by name only with `names`."""
    record: list[dict[str, Any]] = [change.to_json(names) for change in sorted(changes, key=lambda change: change.time)]

    def named(finding: Finding) -> Finding:
        at_fault = [r for cause in finding.root_causes for r in (cause.resource_id, *(v for _, v in cause.related))]
        blamed = blamed_change(changes, at_fault)
        others = len(changes) - 1
        more = f" (and {others} other change{'s' if others > 1 else ''} to resources it uses)" if others else ""
        return replace(
            finding,
            detail=f"{finding.check} failing since {blamed.describe(names)}{more}. {finding.detail}".strip(),
            evidence={**finding.evidence, "precedingChanges": record, "changedResource": blamed.resource_id},
        )

    return replace(result, findings=tuple(named(f) if f.check in newly else f for f in result.findings))
