"""The timer's half of a sweep: discover every cluster of the scope and enqueue one message each."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

from collect.live.estate import Scope, discover_clusters
from publish.json_report import summary
from sweep.messages import ClusterMessage
from sweep.runtime import Runtime

log = logging.getLogger(__name__)


def start_sweep(runtime: Runtime) -> tuple[str, int]:
    """Opens a sweep and fans it out; returns its id and how many clusters it enqueued."""
    settings = runtime.settings
    sweep_id = str(uuid.uuid4())
    scope = Scope(settings.subscriptions, settings.management_group)
    cluster_ids = sorted({str(cluster["id"]) for cluster in discover_clusters(runtime.clients, scope)}, key=str.lower)
    runtime.progress.open(sweep_id, len(cluster_ids))
    with ThreadPoolExecutor(max_workers=max(1, settings.concurrency)) as pool:
        # list(): a failed send raises here, so the timer run fails loudly rather than dropping a cluster
        list(
            pool.map(
                lambda cluster_id: runtime.queue.send_message(ClusterMessage(sweep_id, cluster_id).to_json()),
                cluster_ids,
            )
        )
    if not cluster_ids and runtime.events:
        runtime.events.publish_sweep(summary([]), sweep_id)  # nothing to check: the sweep closes now
        runtime.flush()
    log.info("sweep %s: %d cluster(s) enqueued on %s", sweep_id, len(cluster_ids), settings.queue)
    return sweep_id, len(cluster_ids)
