"""Change-driven rechecks plugged into the Function app's runtime: the reference index, which every check
of a cluster refreshes, and the pending rechecks, on the app's state table and queue. The app knows only
its `PlugIn` protocol; function_app.py builds its runtime here, so the app never imports this package."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError

from model.text import one_line
from sweep.app.runtime import Runtime
from sweep.rechecks.pending import PendingRechecks
from sweep.rechecks.reference_index import ReferenceIndex
from sweep.rechecks.rounds import ChangeRounds

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rechecks:
    references: ReferenceIndex  # clusters by the network resources they use (change events)
    pending: PendingRechecks  # debounced change-driven rechecks
    rounds: ChangeRounds  # each delivered event: exactly once, and the root causes its rechecks moved

    def collected(self, cluster_id: str, network: Sequence[dict[str, Any]] | None) -> None:
        """Refreshes the cluster's row set in the reference index; a failed network read keeps the previous
        references, and a failed write only costs change-driven rechecks until the next check."""
        if network is None:
            return
        try:
            self.references.record(cluster_id, [str(resource.get("id") or "") for resource in network])
        except AzureError as exc:
            log.warning("%s: change index not updated: %s", cluster_id, one_line(exc))

    def sweep_closed(self, now: datetime) -> None:
        """Event ids past their retry window go; a failure leaves them to the next close."""
        try:
            self.rounds.purge(now)
        except AzureError as exc:
            log.warning("delivered change events not purged: %s", one_line(exc))


def with_rechecks(runtime: Runtime) -> Runtime:
    """The runtime with change-driven rechecks plugged in, on its state table and queue."""
    if runtime.state_table is None:
        raise LookupError("change-driven rechecks need the runtime's state table")
    table = runtime.state_table
    settings = runtime.settings
    runtime.plug_ins.append(
        Rechecks(
            ReferenceIndex(table),
            PendingRechecks(table, runtime.queue, settings.recheck_delay_seconds),
            ChangeRounds(table, timedelta(minutes=settings.event_retry_minutes)),
        )
    )
    return runtime


def app_runtime() -> Runtime:
    """What the Function app's triggers run with: the runtime from the app settings, rechecks plugged in."""
    return with_rechecks(Runtime.from_environment())
