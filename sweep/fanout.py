"""The timer's half of a sweep: discover every cluster of the scope and enqueue one message each."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from itertools import zip_longest

from azure.core.exceptions import AzureError

from collect.live.estate import Scope, discover_clusters
from publish.json_report import summary
from sweep import worker
from sweep.evaluate import unreachable_result
from sweep.messages import ClusterMessage
from sweep.runtime import Runtime

log = logging.getLogger(__name__)


def start_sweep(runtime: Runtime) -> tuple[str, int]:
    """Opens a sweep and fans it out; returns its id and how many clusters it enqueued."""
    settings = runtime.settings
    sweep_id = str(uuid.uuid4())
    scope = Scope(settings.subscriptions, settings.management_group)
    cluster_ids = interleaved({str(cluster["id"]) for cluster in discover_clusters(runtime.clients, scope)})
    runtime.progress.open(sweep_id, len(cluster_ids))
    with ThreadPoolExecutor(max_workers=max(1, settings.concurrency)) as pool:
        unsent = [failure for failure in pool.map(lambda c: _enqueue(runtime, sweep_id, c), cluster_ids) if failure]
    for cluster_id, reason in unsent:  # no cluster drops out of the sweep: it gets its error result now
        worker.publish(runtime, unreachable_result(cluster_id, f"could not be queued for checking: {reason}"), sweep_id)
    if unsent:
        log.error(
            "sweep %s: %d of %d cluster(s) could not be queued: %s",
            sweep_id,
            len(unsent),
            len(cluster_ids),
            unsent[0][1],
        )
    if not cluster_ids and runtime.events:
        runtime.events.publish_sweep(summary([]), sweep_id)  # nothing to check: the sweep closes now
        runtime.flush()
    log.info("sweep %s: %d cluster(s) enqueued on %s", sweep_id, len(cluster_ids) - len(unsent), settings.queue)
    return sweep_id, len(cluster_ids) - len(unsent)


def _enqueue(runtime: Runtime, sweep_id: str, cluster_id: str) -> tuple[str, str] | None:
    """None when queued; otherwise (cluster id, why not)."""
    try:
        runtime.queue.send_message(ClusterMessage(sweep_id, cluster_id).to_json())
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
