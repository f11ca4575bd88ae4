"""The timer's half of a sweep: settle the sweeps before it, then discover every cluster of the scope,
record them as pending and enqueue one message each.

One sweep at a time: a sweep still open within AKS_REACH_SWEEP_DEADLINE_MINUTES of its start is draining,
and the run starts no other (logged), so a backlog never grows by a whole estate an hour. A sweep open past
the deadline is closed here: each cluster still pending gets its `error` result, the last one closes it and
its summary is sent. That also closes a sweep whose timer died after opening it, before or while enqueueing.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from typing import Any

from azure.core.exceptions import AzureError

from collect.live.estate import Scope, discover_clusters
from collect.live.logs import WorkspaceAuditLogs
from collect.parse import cluster_from_arm, one_line
from model.snapshot import Cluster
from sweep import worker
from sweep.evaluate import unreachable_result
from sweep.messages import ClusterMessage
from sweep.mutes import MuteListError
from sweep.progress import OpenSweep, PendingCluster, new_sweep_id
from sweep.runtime import Runtime

log = logging.getLogger(__name__)
TIMER = "timer"  # the closer name of sweeps the timer closes


def start_sweep(runtime: Runtime, now: datetime | None = None) -> tuple[str, int] | None:
    """Opens a sweep and fans it out: its id and how many clusters it enqueued; None when an earlier sweep
    is still draining."""
    now = now or datetime.now(UTC)
    draining = settle_earlier_sweeps(runtime, now)
    if draining:
        left = len(runtime.progress.missing(draining.sweep_id))
        log.warning(
            "sweep %s (started %s) is still draining, %d of %d cluster(s) left: no new sweep this run "
            "(a sweep open %d minutes is closed with its missing clusters as errors)",
            draining.sweep_id,
            draining.started.isoformat(timespec="seconds"),
            left,
            draining.clusters,
            runtime.settings.sweep_deadline_minutes,
        )
        return None
    settings = runtime.settings
    try:
        exemptions = runtime.exemptions.get()
    except MuteListError as exc:  # the whole sweep would publish unmuted findings: stop it here
        log.error("sweep not started: %s", exc)
        raise
    sweep_id = new_sweep_id(now)
    scope = Scope(settings.subscriptions, settings.management_group)
    try:
        discovered = discover_clusters(runtime.clients, scope)
    except AzureError as exc:  # after discovery's retries; nothing was opened, the next run tries again
        log.error("sweep not started: cluster discovery failed: %s", one_line(exc))
        return None
    for line in exemptions.unused_among(_clusters(discovered), now.date()).lines():
        log.warning("exemptions: %s", line)
    cluster_ids = interleaved({str(cluster["id"]) for cluster in discovered})
    runtime.progress.open(sweep_id, cluster_ids)
    audit = WorkspaceAuditLogs(runtime.clients)  # one Log Analytics query per workspace, for the whole sweep
    with ThreadPoolExecutor(max_workers=max(1, settings.concurrency)) as pool:
        sent = pool.map(lambda c: _enqueue(runtime, sweep_id, c, audit), cluster_ids)
        unsent = [failure for failure in sent if failure]
    runtime.progress.fanned_out(sweep_id)
    for cluster_id, reason in unsent:  # no cluster drops out of the sweep: it gets its error result now
        result = unreachable_result(cluster_id, f"could not be queued for checking: {reason}")
        worker.publish(runtime, result, sweep_id, cluster_id)
    if unsent:
        log.error(
            "sweep %s: %d of %d cluster(s) could not be queued: %s",
            sweep_id,
            len(unsent),
            len(cluster_ids),
            unsent[0][1],
        )
    if not cluster_ids:
        worker.close_if_complete(runtime, sweep_id, TIMER)  # nothing to check: the sweep closes now
    log.info("sweep %s: %d cluster(s) enqueued on %s", sweep_id, len(cluster_ids) - len(unsent), settings.queue)
    return sweep_id, len(cluster_ids) - len(unsent)


def settle_earlier_sweeps(runtime: Runtime, now: datetime) -> OpenSweep | None:
    """Closes every open sweep past its deadline, and every sweep whose timer stopped before sending all its
    messages (no run lasts longer than host.json's functionTimeout); the first one draining, if any."""
    deadline = timedelta(minutes=runtime.settings.sweep_deadline_minutes)
    draining = None
    for sweep in runtime.progress.open_sweeps():
        stopped = not sweep.fanned_out and now - sweep.started >= runtime.host.function_timeout
        if now - sweep.started < deadline and not stopped:
            if not sweep.closed_by:  # a closed one is only waiting for its closer to finish it
                draining = draining or sweep
            continue
        if sweep.closed_by:  # its closer stopped before finishing it: the summary goes (again), the rows go
            totals = runtime.progress.closed_totals(sweep.sweep_id)
            if totals is not None:
                worker.send_summary(runtime, totals)
            continue
        missing = runtime.progress.missing(sweep.sweep_id)
        why = "its timer stopped before sending every message" if stopped else "it passed its deadline"
        log.warning(
            "sweep %s (started %s): %s, %d of %d cluster(s) unchecked: closing it",
            sweep.sweep_id,
            sweep.started.isoformat(timespec="seconds"),
            why,
            len(missing),
            sweep.clusters,
        )
        with ThreadPoolExecutor(max_workers=max(1, runtime.settings.concurrency)) as pool:
            list(pool.map(functools.partial(_give_up, runtime, sweep.sweep_id, stopped), missing))
        worker.close_if_complete(runtime, sweep.sweep_id, TIMER)
    return draining


def _give_up(runtime: Runtime, sweep_id: str, stopped: bool, pending: PendingCluster) -> None:
    minutes = runtime.settings.sweep_deadline_minutes
    reason = (
        "not checked: the timer run that opened the sweep stopped before sending every message"
        if stopped
        else f"not checked within the sweep's deadline ({minutes} minutes, AKS_REACH_SWEEP_DEADLINE_MINUTES): "
        "its queue message was lost, is still waiting, or the timer stopped before sending it"
    )
    if pending.last_error:
        reason += f"; last error (delivery {pending.attempts}): {pending.last_error}"
    worker.publish(runtime, unreachable_result(pending.cluster_id, reason), sweep_id, pending.cluster_id)


def _clusters(bodies: Iterable[dict[str, Any]]) -> Iterator[Cluster]:
    """What the mute list matches on (id, subscription, group, tags) of each discovered cluster body."""
    for body in bodies:
        try:
            yield cluster_from_arm(body)
        except (ValueError, TypeError):
            continue  # the worker reports this cluster's unreadable body as its error result


def _enqueue(runtime: Runtime, sweep_id: str, cluster_id: str, audit: WorkspaceAuditLogs) -> tuple[str, str] | None:
    """None when queued; otherwise (cluster id, why not). The message carries the cluster's audit rows from
    its workspace's query when they could be read, so workers spend no Log Analytics quota."""
    try:
        rows = audit.from_workspace(cluster_id)
    except Exception:  # the worker queries the cluster itself: the rows are an optimisation here, never a failure
        log.exception("sweep %s: audit rows of %s not read by the timer", sweep_id, cluster_id)
        rows = None
    try:
        runtime.queue.send_message(ClusterMessage(sweep_id, cluster_id, rows).to_json())
    except AzureError as exc:
        return cluster_id, str(exc).splitlines()[0][:300]
    return None


def interleaved(cluster_ids: Iterable[str]) -> list[str]:
    """Round-robin over subscriptions: ARM throttles per subscription, so consecutive workers should
    spend different subscriptions' read budgets, not drain one subscription's."""
    by_subscription: dict[str, list[str]] = defaultdict(list)
    for cluster_id in sorted(cluster_ids, key=str.lower):
        by_subscription[cluster_id.split("/")[2].lower()].append(cluster_id)
    rounds = zip_longest(*(by_subscription[key] for key in sorted(by_subscription)))
    return [cluster_id for round_ in rounds for cluster_id in round_ if cluster_id is not None]
