"""A live sweep: discover clusters, read the estate's network resources in bulk (in the background),
then collect the clusters concurrently (bounded). Yields each cluster as it completes; one cluster's
failure is that cluster's `CollectionFailure`, never the sweep's.

Memory stays nearly flat with the estate's size: at most twice `concurrency` clusters are in flight or
waiting to be consumed, each dropped once yielded, and the discovered rows of the clusters not yet started
may be kept compressed (`slim_row`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

from collect.documents import packed_json, unpacked_json
from collect.live import resource_graph
from collect.live.clients import LiveClients
from collect.live.cluster import collect_cluster
from collect.live.logs import LOGS_CONCURRENCY, AuditRows, WorkspaceAuditLogs
from collect.live.network import ArmNetworkReader, BulkNetworkIndex, JsonObject
from collect.parse import with_tagged_clients
from collect.raw import RawCluster
from model.arm_ids import parse_cluster_id, subscription_of
from model.text import one_line

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scope:
    subscriptions: tuple[str, ...] = ()
    management_group: str = ""
    cluster_ids: tuple[str, ...] = ()


class ClusterNotFound(Exception):
    """The cluster does not exist, or the identity may not read it (404/403 on its ARM GET). Not a
    LookupError on purpose: a KeyError or IndexError from a malformed answer must never read as "not found"."""


@dataclass(frozen=True)
class CollectionFailure:
    cluster_id: str
    message: str
    location: str = ""  # from the cluster's body, when it was read: the report keeps the cluster's identity


def discover_clusters(clients: LiveClients, scope: Scope, slim: bool = False) -> list[dict[str, Any]]:
    """Managed cluster bodies: the named ones through ARM, or all of the scope through Resource Graph.
    `slim`: each row slimmed (`slim_row`) as its page arrives, so a page is freed before the next is read."""
    if scope.cluster_ids:
        named = [_get_cluster(clients, cluster_id) for cluster_id in scope.cluster_ids]
        return [slim_row(row) for row in named] if slim else named
    rows = resource_graph.query(clients, resource_graph.CLUSTERS_QUERY, scope.subscriptions, scope.management_group)
    clusters = []
    for row in rows:
        try:
            parse_cluster_id(row["id"])
        except (KeyError, TypeError, ValueError):
            log.warning("Resource Graph returned a row that is not an AKS cluster; ignored: %.200r", row)
            continue
        clusters.append(slim_row(row) if slim else row)
    return sorted(clusters, key=lambda row: row["id"].lower())


def _get_cluster(clients: LiveClients, cluster_id: str) -> dict[str, Any]:
    parse_cluster_id(cluster_id)  # a cluster's id, not any path, goes into the URL
    try:
        body = clients.arm.get(cluster_id)
    except ResourceNotFoundError:
        raise ClusterNotFound(f"{cluster_id}: no such cluster, or the identity cannot read it") from None
    except HttpResponseError as exc:
        if exc.status_code != 403:
            raise
        raise ClusterNotFound(f"{cluster_id}: the identity is not allowed to read this cluster (403)") from None
    if not isinstance(body.get("id"), str):
        raise ValueError(f"{cluster_id}: ARM answered without the cluster's id")
    return body


def sweep(
    clients: LiveClients,
    clusters: Sequence[dict[str, Any]],
    context: dict[str, Any],
    concurrency: int,
    probe_timeout: float,
    clients_tag: str = "aks-reach-clients",
    logs_concurrency: int = LOGS_CONCURRENCY,
) -> Iterator[RawCluster | CollectionFailure]:
    """Collects discovered clusters (`discover_clusters`); the network inventory covers their subscriptions.
    `logs_concurrency`: Log Analytics queries at once (a process's share of the identity's limit). Rows may
    be slim (`slim_row`): each is unpacked as its cluster starts."""
    if not clusters:
        return
    audit = WorkspaceAuditLogs(clients, logs_concurrency)
    workers = max(1, concurrency)
    inventory = PendingInventory(clients, inventory_chunks(clusters))
    with ThreadPoolExecutor(max_workers=workers + 1) as pool:
        pool.submit(inventory.load)
        # Each task says when it is done (a queue, not `wait` on every pending future per completion: that
        # walks all of them each time, thousands of times in a large sweep).
        finished: SimpleQueue[Future[RawCluster]] = SimpleQueue()
        pending: dict[Future[RawCluster], dict[str, Any]] = {}
        queued = (full_row(row) for row in clusters)
        while True:
            for cluster in queued:
                task = pool.submit(
                    lambda cluster=cluster: collect_cluster(
                        cluster,
                        with_tagged_clients(cluster, context, clients_tag),
                        inventory,
                        clients,
                        probe_timeout,
                        audit,
                    )
                )
                pending[task] = cluster
                task.add_done_callback(finished.put)
                if len(pending) >= 2 * workers:
                    break
            if not pending:
                return
            future = finished.get()
            cluster = pending.pop(future)
            try:
                collected: RawCluster | CollectionFailure = future.result()
            except Exception as exc:  # whatever one cluster's answers do, they cost that cluster only
                collected = collection_failure(cluster, exc)
            yield collected


# A discovered row kept slim until its cluster's collection starts: its id and location readable, the whole
# row compressed under this key. A row is about 5.4 kB as Python objects and 0.6 kB compressed, and in a
# large sweep thousands wait their turn (in every process they are forked into).
PACKED_ROW = "_packedRow"


def slim_row(row: dict[str, Any]) -> dict[str, Any]:
    packed = packed_json(row)
    # copies of the id and location: the row's own strings would keep its page's memory in use, scattered
    location = row.get("location")
    return {
        "id": _copy(str(row["id"])),
        "location": _copy(location) if isinstance(location, str) else None,
        PACKED_ROW: packed,
    }


def _copy(text: str) -> str:
    return text.encode().decode()


def full_row(row: dict[str, Any]) -> dict[str, Any]:
    packed = row.get(PACKED_ROW)
    if packed is None:
        return row
    unpacked: dict[str, Any] = unpacked_json(packed)
    return unpacked


# Clusters whose subscriptions one Resource Graph read of the network inventory covers: about one page of
# network rows (a cluster brings three or more: its VNet, NSG, route table or outbound IP), so reading in
# chunks costs about no more queries than one read of everything, and the first clusters wait for one page.
INVENTORY_CHUNK_CLUSTERS = 250


def inventory_chunks(clusters: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The clusters' subscriptions (lower case) in the order the sweep reaches them, cut into chunks of about
    `INVENTORY_CHUNK_CLUSTERS` clusters; a subscription is never cut."""
    chunks: list[list[str]] = []
    seen: set[str] = set()
    in_chunk = 0
    for cluster in clusters:
        subscription = subscription_of(str(cluster["id"]))
        if subscription in seen:
            in_chunk += 1
            continue
        if not chunks or in_chunk >= INVENTORY_CHUNK_CLUSTERS:
            chunks.append([])
            in_chunk = 0
        seen.add(subscription)
        chunks[-1].append(subscription)
        in_chunk += 1
    return chunks


class PendingInventory:
    """The sweep's `BulkNetworkIndex` while Resource Graph pages are still arriving. The swept subscriptions
    are read in chunks, in the order the sweep reaches their clusters, so a cluster's network walk waits only
    for the chunk of the subscription it looks in (not for the whole estate's pages, which need more than one
    quota window); its Kubernetes reads run meanwhile. A reference outside the swept subscriptions (a hub) is
    read by ARM at once. A chunk that cannot be read is the network error of the clusters that look in it."""

    def __init__(self, clients: LiveClients, chunks: Sequence[Sequence[str]]) -> None:
        self._clients = clients
        self._inventory = BulkNetworkIndex((), clients)
        self._chunks: list[tuple[list[str], Future[None]]] = [(list(chunk), Future()) for chunk in chunks]
        self._ready = {subscription: done for chunk, done in self._chunks for subscription in chunk}

    def load(self) -> None:
        """Reads every chunk in turn (a thread of the sweep's)."""
        for subscriptions, done in self._chunks:
            try:
                # page by page: each page's rows are compacted before the next is read
                self._inventory.add(resource_graph.query(self._clients, resource_graph.NETWORK_QUERY, subscriptions))
            except Exception as exc:  # this chunk's clusters get a network error; the next chunks are read
                done.set_exception(exc)
            else:
                done.set_result(None)

    def _loaded(self, resource_id: str) -> BulkNetworkIndex:
        done = self._ready.get(subscription_of(resource_id))
        if done is not None:
            done.result()  # raises the chunk's failure
        return self._inventory

    def get(self, resource_id: str | None) -> JsonObject | None:
        return self._loaded(resource_id).get(resource_id) if resource_id else None

    def why_unreadable(self, resource_id: str) -> str | None:
        return self._loaded(resource_id).why_unreadable(resource_id)

    def firewalls_in_group(self, group_id: str) -> list[JsonObject]:
        return self._inventory.firewalls_in_group(group_id)  # an ARM list: the inventory has no part in it

    def rule_collection_groups(self, policy_id: str) -> list[JsonObject]:
        return self._inventory.rule_collection_groups(policy_id)  # an ARM list: not in Resource Graph

    def private_dns_zones(self, subscription: str, resource_group: str, zone_suffix: str) -> list[JsonObject]:
        return self._loaded(f"/subscriptions/{subscription}").private_dns_zones(
            subscription, resource_group, zone_suffix
        )

    def zone_links(self, zone_id: str) -> list[JsonObject]:
        return self._loaded(zone_id).zone_links(zone_id)

    def virtual_hubs_named(self, name: str) -> list[JsonObject]:
        return self._inventory.virtual_hubs_named(name)  # one Resource Graph query of its own, once per sweep

    def hub_children(self, hub_id: str, child: str) -> list[JsonObject]:
        return self._inventory.hub_children(hub_id, child)  # an ARM list: not in Resource Graph

    def service_tags(self, subscription: str, location: str) -> JsonObject | None:
        return self._inventory.service_tags(subscription, location)  # one ARM read per cloud and region


def collect_one(
    clients: LiveClients,
    cluster_id: str,
    context: dict[str, Any],
    probe_timeout: float,
    clients_tag: str,
    audit: AuditRows | None = None,
) -> RawCluster | CollectionFailure:
    """One cluster by id (the Function app's queue worker and HTTP check). A cluster that does not exist
    or cannot be read raises ClusterNotFound, and Azure failing on its GET raises AzureError; any other
    failure (a malformed answer included) is that cluster's `CollectionFailure`.
    Network resources are the ones the cluster references, each read by an ARM GET (ARM's limit is per
    subscription, so thousands of workers in parallel spend no shared Resource Graph quota). `audit`: the
    cluster's audit rows when the caller has them (the timer's per-workspace query); else one query."""
    cluster = _get_cluster(clients, cluster_id)  # Azure failing here raises: the queue retries the message
    try:
        return collect_cluster(
            cluster,
            with_tagged_clients(cluster, context, clients_tag),
            ArmNetworkReader(clients),
            clients,
            probe_timeout,
            (lambda _: audit) if audit else None,
        )
    except Exception as exc:  # a malformed answer is this cluster's error, never a crash of the worker
        return collection_failure(cluster, exc)


def collection_failure(cluster: dict[str, Any], exc: Exception) -> CollectionFailure:
    cluster_id = str(cluster["id"])
    location = cluster.get("location") if isinstance(cluster.get("location"), str) else ""
    what = one_line(exc) if isinstance(exc, AzureError) else f"{type(exc).__name__}: {one_line(exc)}"
    if not isinstance(exc, AzureError):
        log.debug("collection of %s failed", cluster_id, exc_info=True)  # the trace for --verbose; the report says it
    return CollectionFailure(cluster_id, f"collection failed: {what}", location)
