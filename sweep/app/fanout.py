"""The timer's half of a sweep: settle the sweeps before it, then discover every cluster of the scope,
record them as pending and enqueue one message each.

One sweep at a time: a sweep still open within AKS_REACH_SWEEP_DEADLINE_MINUTES of its start is draining,
and the run starts no other (logged), so a backlog never grows by a whole estate an hour. A sweep open past
the deadline is closed here: each cluster still pending gets its `error` result, the last one closes it and
its summary is sent. That also closes a sweep whose timer died after opening it, before or while enqueueing.

Every step before discovery (creating the state table when a process starts, its reads, the mute list, the
identity's token) is bounded by AKS_REACH_TIMER_STEP_TIMEOUT_SECONDS (`sweep.app.steps`): one that takes longer is
logged by name and the run stops, having opened nothing. After discovery the steps overlap (`_FanOut`), so the
run takes about as long as its slowest step, not their sum (docs/function-app-scale.md).
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from typing import Any, TypeVar

from azure.core.exceptions import AzureError

from collect.live.estate import Scope, discover_clusters
from collect.live.logs import LOGS_CONCURRENCY, WorkspaceAuditLogs
from collect.parse import cluster_from_arm
from model.snapshot import Cluster
from model.text import one_line
from sweep.app import worker
from sweep.app.bookkeeping import OpenSweep, PendingCluster, new_sweep_id
from sweep.app.messages import ClusterMessage
from sweep.app.runtime import Runtime, Services
from sweep.app.steps import StepError, bounded
from sweep.core.evaluate import unreachable_result
from sweep.core.mutes import MuteListError

log = logging.getLogger(__name__)
TIMER = "timer"  # the closer name of sweeps the timer closes
T = TypeVar("T")
# Threads of the fan-out, each at most AKS_REACH_CONCURRENCY. The timer is bound by its CPU (about 3.5 ms a
# cluster: one ARM read and one message) and by the workspace queries; measured on 10,000 clusters
# (bench/fanout.py), 128 readers and senders and 100 shard writers cost 20 % more CPU and made every thread
# wait for the GIL so long that the queries, the critical path, ran with gaps of seconds between them.
READERS = 48  # diagnostic-settings reads at once: 480 a second at 100 ms an answer
SENDERS = 16  # messages at once (a send takes milliseconds)
SHARD_WRITERS = 8  # pending-row transactions at once (each encodes a multipart body of up to 100 entities)


@dataclass(frozen=True)
class FanOut:
    """What a timer run did: the sweep it opened, the messages it sent, and when each step ended, in seconds
    from the run's start (the steps after discovery overlap: each ends when its last piece does)."""

    sweep_id: str
    enqueued: int
    unsent: int  # clusters whose message could not be sent (they got their error result at once)
    workspaces: int  # Log Analytics queries run, one per workspace receiving kube-audit
    settled_s: float  # earlier sweeps settled, the mute list and the token read: discovery starts
    discovered_s: float
    recorded_s: float  # every pending row written
    read_s: float  # every cluster's diagnostic settings read
    queried_s: float  # every workspace's query answered
    sent_s: float  # every message sent: the run's end


def on_timer(services: Services) -> FanOut | None:
    """The timer trigger: the process's runtime (built on its first trigger, the state table created then,
    within AKS_REACH_TIMER_STEP_TIMEOUT_SECONDS), then `start_sweep`."""
    try:
        runtime = services.get()
    except StepError as exc:  # nothing opened: the next run builds it again
        log.error("sweep not started: %s", exc)
        return None
    return start_sweep(runtime)


def start_sweep(runtime: Runtime, now: datetime | None = None) -> FanOut | None:
    """Opens a sweep and fans it out; None when an earlier sweep is still draining, a step before discovery
    took longer than its bound, or discovery failed (each logged in one line)."""
    began = time.monotonic()
    now = now or datetime.now(UTC)
    settings = runtime.settings
    try:
        draining = settle_earlier_sweeps(runtime, now)
        if draining:
            pending = functools.partial(runtime.progress.missing, draining.sweep_id)
            left = len(_bounded(runtime, f"reading the pending clusters of sweep {draining.sweep_id}", pending))
            log.warning(
                "sweep %s (started %s) is still draining, %d of %d cluster(s) left: no new sweep this run "
                "(a sweep open %d minutes is closed with its missing clusters as errors)",
                draining.sweep_id,
                draining.started.isoformat(timespec="seconds"),
                left,
                draining.clusters,
                settings.sweep_deadline_minutes,
            )
            return None
        try:
            exemptions = _bounded(runtime, "reading the mute list", runtime.exemptions.get)
        except MuteListError as exc:  # the whole sweep would publish unmuted findings: stop it here
            log.error("sweep not started: %s", exc)
            raise
        _bounded(runtime, "getting the identity's token for Resource Manager", functools.partial(_arm_token, runtime))
    except StepError as exc:  # nothing opened: the next run starts from the same state
        log.error("sweep not started: %s", exc)
        return None
    settled = time.monotonic() - began
    sweep_id = new_sweep_id(now)
    scope = Scope(settings.subscriptions, settings.management_group)
    try:
        discovered = discover_clusters(runtime.clients, scope)
    except AzureError as exc:  # after discovery's retries; nothing was opened, the next run tries again
        log.error("sweep not started: cluster discovery failed: %s", one_line(exc))
        return None
    discovered_s = time.monotonic() - began
    for line in exemptions.unused_among(_clusters(discovered), now.date()).lines():
        log.warning("exemptions: %s", line)
    cluster_ids = interleaved({str(cluster["id"]) for cluster in discovered})
    fan_out = _FanOut(runtime, sweep_id, cluster_ids, began)
    try:
        unsent = fan_out.run()
    except AzureError as exc:  # after the storage SDK's retries; the sweep's open row says it was not fanned out
        log.error(
            "sweep %s: its %d cluster(s) could not all be recorded as pending, so no message was sent: %s "
            "(the next run closes what was recorded of the sweep, as errors)",
            sweep_id,
            len(cluster_ids),
            one_line(exc),
        )
        return None
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
    done = FanOut(
        sweep_id,
        len(cluster_ids) - len(unsent),
        len(unsent),
        fan_out.workspaces,
        settled,
        discovered_s,
        *(fan_out.ended.get(step, discovered_s) for step in ("recorded", "read", "queried", "sent")),
    )
    log.info(
        "sweep %s: %d cluster(s) enqueued on %s in %.1f s (discovered after %.1f s, pending rows written after "
        "%.1f s, diagnostic settings read after %.1f s, %d workspace queries answered after %.1f s)",
        sweep_id,
        done.enqueued,
        settings.queue,
        done.sent_s,
        done.discovered_s,
        done.recorded_s,
        done.read_s,
        done.workspaces,
        done.queried_s,
    )
    return done


def _bounded(runtime: Runtime, step: str, read: Callable[[], T]) -> T:
    """A read before discovery, bounded by AKS_REACH_TIMER_STEP_TIMEOUT_SECONDS (StepError)."""
    return bounded(step, runtime.settings.timer_step_timeout_seconds, read)


def _arm_token(runtime: Runtime) -> object:
    """The identity's Resource Manager token, asked for before discovery so that a credential that does not
    answer is named (the clients' pipelines then reuse it from the credential's cache)."""
    clients = runtime.clients
    return clients.credential.get_token(clients.arm_endpoint.rstrip("/") + "/.default")


class _FanOut:
    """Records a sweep's clusters as pending and sends one message each, with the steps overlapping:

    - the pending rows are written (`SweepBookkeeping.open`, SHARD_WRITERS shards at once) while READERS threads
      read the clusters' diagnostic settings (`WorkspaceAuditLogs.workspace_of`);
    - a workspace's query starts as soon as one of its clusters names it, LOGS_CONCURRENCY at once, and no read
      waits for a query: with every cluster's read waiting on its workspace's query (as before), the reads
      queued behind the queries and 10,000 clusters took the queries' time plus most of the reads' after it;
    - SENDERS threads send a cluster's message once every pending row is written and its workspace answered
      (or it has none).

    No message goes before every pending row is written: a cluster counts only once it is pending, and the
    completion check takes a shard without its count row for an empty one. Each thread routes its own
    cluster under one lock (no coordinating thread: with hundreds of threads holding the GIL in turn, one
    thread that every cluster must pass through took seconds to start the first query)."""

    def __init__(self, runtime: Runtime, sweep_id: str, cluster_ids: list[str], began: float) -> None:
        self.runtime, self.sweep_id, self.cluster_ids, self.began = runtime, sweep_id, cluster_ids, began
        self.audit = WorkspaceAuditLogs(runtime.clients)  # one Log Analytics query per workspace, for the sweep
        self.ended: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next = iter(cluster_ids)  # the clusters not read yet (taken under the lock)
        self._stopped = False  # the pending rows could not be written: the readers stop
        self._recorded = False  # every pending row is written: clusters may be sent
        self._held: list[tuple[str, str | None]] = []  # ready before the pending rows were written
        self._waiting: dict[str, list[str]] = {}  # clusters by the workspace (lower case) whose query runs
        self._answered: dict[str, str | None] = {}  # workspace -> where its clusters' rows are (None: nowhere)
        self._queries: list[Future[None]] = []
        self._query_pool = ThreadPoolExecutor(LOGS_CONCURRENCY, thread_name_prefix="fanout-query")
        self._outbox: queue.SimpleQueue[tuple[str, str | None] | None] = queue.SimpleQueue()

    @property
    def workspaces(self) -> int:
        return len(self._queries)

    def run(self) -> list[tuple[str, str]]:
        """The clusters whose message could not be sent, with why; raises what writing the pending rows raised
        (then nothing was sent)."""
        most = max(1, self.runtime.settings.concurrency)
        width = min(READERS, most, len(self.cluster_ids)) or 1
        readers = ThreadPoolExecutor(width, thread_name_prefix="fanout-read")
        senders = ThreadPoolExecutor(min(SENDERS, most), thread_name_prefix="fanout-send")
        try:
            reading = [readers.submit(self._read) for _ in range(width)]
            try:
                self.runtime.progress.open(self.sweep_id, self.cluster_ids, min(SHARD_WRITERS, most))
            except BaseException:
                self._stopped = True
                raise
            with self._lock:
                self._recorded = True
                for held in self._held:
                    self._outbox.put(held)
                self._held.clear()
            self._ended("recorded")
            sending = [senders.submit(self._send_all) for _ in range(min(SENDERS, most))]
            for reader in reading:
                reader.result()
            for query in self._queries:  # complete: only readers add to it
                query.result()
            for _ in sending:
                self._outbox.put(None)
            unsent = [failure for sender in sending for failure in sender.result()]
            self._ended("sent")
            return unsent
        finally:
            for pool in (readers, self._query_pool, senders):
                pool.shutdown(wait=True, cancel_futures=True)

    def _read(self) -> None:
        """Reads clusters' diagnostic settings, one after the other, until none is left."""
        while True:
            with self._lock:
                cluster_id = None if self._stopped else next(self._next, None)
            if cluster_id is None:
                self._ended("read")  # the last reader to stop says when every cluster was read
                return
            try:
                workspace = self.audit.workspace_of(cluster_id)
            except Exception:  # its worker queries the cluster itself: the rows are an optimisation, never a failure
                log.exception("sweep %s: diagnostic settings of %s not read by the timer", self.sweep_id, cluster_id)
                workspace = None
            key = (workspace or "").lower()
            with self._lock:
                if key and key not in self._answered:  # its workspace's query runs, or starts now
                    if key not in self._waiting:
                        self._waiting[key] = []
                        self._queries.append(self._query_pool.submit(self._query, cluster_id, str(workspace)))
                    self._waiting[key].append(cluster_id)
                    continue
                self._ready(cluster_id, self._answered.get(key, workspace))

    def _query(self, cluster_id: str, workspace: str) -> None:
        """Runs the workspace's query, then lets its clusters go: with the workspace to read their rows from,
        or None when the query raised (their workers query them, and no other cluster runs it again)."""
        where: str | None = workspace
        try:
            self.audit.rows_in(cluster_id, workspace)
        except Exception as exc:
            log.warning(
                "sweep %s: workspace %s not queried by the timer (%s); its clusters' workers query them",
                self.sweep_id,
                workspace,
                one_line(exc),
            )
            where = None
        with self._lock:
            self._answered[workspace.lower()] = where
            for waiting in self._waiting.pop(workspace.lower()):
                self._ready(waiting, where)
        self._ended("queried")

    def _ready(self, cluster_id: str, workspace: str | None) -> None:
        """(Under the lock.) The cluster goes to the senders, or waits for the pending rows."""
        if self._recorded:
            self._outbox.put((cluster_id, workspace))
        else:
            self._held.append((cluster_id, workspace))

    def _send_all(self) -> list[tuple[str, str]]:
        unsent = []
        while (ready := self._outbox.get()) is not None:
            failure = self._send(*ready)
            if failure:
                unsent.append(failure)
        return unsent

    def _send(self, cluster_id: str, workspace: str | None) -> tuple[str, str] | None:
        """None when queued; otherwise (cluster id, why not). The message carries the cluster's audit rows from
        its workspace's query when they could be read, so workers spend no Log Analytics quota."""
        try:
            rows = self.audit.rows_in(cluster_id, workspace)  # answered already: no request
        except Exception:  # its worker queries the cluster itself
            log.exception("sweep %s: audit rows of %s not read by the timer", self.sweep_id, cluster_id)
            rows = None
        try:
            self.runtime.queue.send_message(ClusterMessage(self.sweep_id, cluster_id, rows).to_json())
        except AzureError as exc:
            return cluster_id, one_line(exc)
        return None

    def _ended(self, step: str) -> None:
        self.ended[step] = time.monotonic() - self.began


def settle_earlier_sweeps(runtime: Runtime, now: datetime) -> OpenSweep | None:
    """Closes every open sweep past its deadline, and every sweep whose timer stopped before sending all its
    messages (no run lasts longer than host.json's functionTimeout); the first one draining, if any. Its reads
    are bounded (StepError); closing a sweep is not: it is the work of the run, and one stopped half-way is
    finished by the next (each cluster's result counts once)."""
    deadline = timedelta(minutes=runtime.settings.sweep_deadline_minutes)
    draining = None
    for sweep in _bounded(runtime, "reading the open sweeps from the state table", runtime.progress.open_sweeps):
        stopped = not sweep.fanned_out and now - sweep.started >= runtime.host.function_timeout
        if now - sweep.started < deadline and not stopped:
            if not sweep.closed_by:  # a closed one is only waiting for its closer to finish it
                draining = draining or sweep
            continue
        if sweep.closed_by:  # its closer stopped before finishing it: the summary goes (again), the rows go
            read = functools.partial(runtime.progress.closed_totals, sweep.sweep_id)
            totals = _bounded(runtime, f"reading the totals of closed sweep {sweep.sweep_id}", read)
            if totals is not None:
                worker.send_summary(runtime, totals)
            continue
        read = functools.partial(runtime.progress.missing, sweep.sweep_id)
        missing = _bounded(runtime, f"reading the pending clusters of sweep {sweep.sweep_id}", read)
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


def interleaved(cluster_ids: Iterable[str]) -> list[str]:
    """Round-robin over subscriptions: ARM throttles per subscription, so consecutive workers should
    spend different subscriptions' read budgets, not drain one subscription's."""
    by_subscription: dict[str, list[str]] = defaultdict(list)
    for cluster_id in sorted(cluster_ids, key=str.lower):
        by_subscription[cluster_id.split("/")[2].lower()].append(cluster_id)
    rounds = zip_longest(*(by_subscription[key] for key in sorted(by_subscription)))
    return [cluster_id for round_ in rounds for cluster_id in round_ if cluster_id is not None]
