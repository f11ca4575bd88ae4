"""One cluster, live: its ARM body, network resources, Kubernetes reads, audit rows and probes as a
`RawCluster`. Per-source failures become `problems`, never exceptions: the checks then say
skipped (unavailable) or error (collection failed) for exactly the sources concerned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azure.core.exceptions import AzureError

from collect.live import kube, logs
from collect.live.clients import LiveClients
from collect.live.network import NetworkSource, resources_for_cluster
from collect.live.probes import probe_apiserver
from collect.raw import RawCluster
from model.snapshot import Problem, Source

KUBE_SOURCES = (
    Source.PODS,
    Source.NODES,
    Source.NODE_METRICS,
    Source.EVENTS,
    Source.HELM,
    Source.POD_LOGS,
    Source.KUBELET_PROBE,
)


def collect_cluster(
    cluster: dict[str, Any],
    context: dict[str, Any],
    inventory: NetworkSource,
    clients: LiveClients,
    probe_timeout: float,
    audit: Callable[[str], logs.AuditRows] | None = None,
) -> RawCluster:
    """`audit` gives the cluster's audit rows (a sweep's per-workspace reader); default: a query scoped to
    the cluster. Network resources come last: a sweep's inventory may still be arriving from Resource Graph
    while the Kubernetes reads run."""
    raw = RawCluster(cluster=cluster, context=context, problems={})
    _collect_kube(raw, clients, probe_timeout)
    answer = audit(cluster["id"]) if audit else logs.apiserver_requests(clients, cluster["id"])
    if answer.problem:
        raw.problems[Source.AUDIT] = answer.problem
    else:
        raw.logs[logs.QUERY] = answer.rows or []
        if answer.scope:
            raw.log_scopes[logs.QUERY] = answer.scope
    try:
        raw.network = resources_for_cluster(cluster, context, inventory)
    except AzureError as exc:
        raw.problems[Source.NETWORK] = Problem("error", f"network resources: {_azure_error(exc)}")
    return raw


def _collect_kube(raw: RawCluster, clients: LiveClients, probe_timeout: float) -> None:
    try:
        endpoint = kube.user_endpoint(clients, raw.cluster)
    except AzureError as exc:
        _kube_problem(raw, Problem("error", f"cluster user credentials: {_azure_error(exc)}"))
        return
    raw.probes = {"apiserver": probe_apiserver(endpoint.server, endpoint.ca_pem, probe_timeout)}
    if raw.probes["apiserver"]["error"]:
        _kube_problem(
            raw,
            Problem("unavailable", f"API server not reachable from the checker: {raw.probes['apiserver']['error']}"),
        )
        return
    try:
        readings = kube.read_cluster(endpoint, clients.timeout_seconds)
    except kube.Unreachable as exc:
        _kube_problem(raw, Problem("unavailable", f"API server not reachable from the checker: {exc}"))
        return
    raw.kube = readings.documents
    raw.pod_logs = readings.pod_logs if readings.logs_collected else None
    raw.probes["kubelet"] = readings.kubelet
    raw.problems.update(readings.problems)


def _kube_problem(raw: RawCluster, problem: Problem) -> None:
    for source in KUBE_SOURCES:
        raw.problems[source] = problem


def _azure_error(exc: AzureError) -> str:
    status = getattr(exc, "status_code", None)
    message = str(getattr(exc, "message", "") or exc).splitlines()[0][:300]
    return f"{status} {message}" if status else message
