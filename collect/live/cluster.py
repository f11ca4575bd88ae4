"""One cluster, live: its ARM body, network resources, Kubernetes reads, audit rows and probes as a
`RawCluster`. Per-source failures become `problems`, never exceptions: the checks then say
skipped (unavailable) or error (collection failed) for exactly the sources concerned."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import AzureError

from collect.documents import bounded
from collect.live import kube, logs
from collect.live.clients import LiveClients
from collect.live.network import NetworkSource, resources_for_cluster
from collect.live.probes import probe_apiserver
from collect.raw import RawCluster
from model.snapshot import Problem, Source
from model.text import one_line

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
    the cluster. The audit rows and the network resources are read on the clients' I/O threads while this
    thread reads Kubernetes: none waits for another, so a cluster takes its longest chain, not their sum (a
    sweep's inventory may still be arriving from Resource Graph meanwhile)."""
    raw = RawCluster(cluster=bounded(cluster), context=context, problems={})
    audit_rows = clients.io.submit(audit or functools.partial(logs.apiserver_requests, clients), cluster["id"])
    network = clients.io.submit(resources_for_cluster, cluster, context, inventory)
    _collect_kube(raw, clients, probe_timeout)
    try:
        answer = audit_rows.result()
    except Exception as exc:  # a malformed answer costs the audit rows only
        answer = logs.AuditRows(None, Problem("error", f"Log Analytics: {_error(exc)}"))
    if answer.problem:
        raw.problems[Source.AUDIT] = answer.problem
    else:
        raw.logs[logs.QUERY] = bounded(answer.rows or [])
        if answer.scope:
            raw.log_scopes[logs.QUERY] = answer.scope
    try:
        walked = network.result()
        raw.network, raw.unread_references = walked.resources, walked.unreadable  # bounded by the source
    except Exception as exc:  # an unreadable or malformed network answer costs the network checks only
        raw.problems[Source.NETWORK] = Problem("error", f"network resources: {_error(exc)}")
    return raw


def _collect_kube(raw: RawCluster, clients: LiveClients, probe_timeout: float) -> None:
    try:
        endpoint = kube.user_endpoint(clients, raw.cluster)
    except (AzureError, kube.KubeconfigError) as exc:
        _kube_problem(raw, Problem("error", f"cluster user credentials: {_error(exc)}"))
        return
    raw.probes = {"apiserver": probe_apiserver(endpoint.server, endpoint.ca_pem, probe_timeout)}
    raw.probe_endpoint = (endpoint.server, endpoint.ca_pem)
    if raw.probes["apiserver"]["error"]:
        _kube_problem(
            raw,
            Problem("unavailable", f"API server not reachable from the checker: {raw.probes['apiserver']['error']}"),
        )
        return
    if endpoint.static_token and not clients.use_local_account_token:
        _kube_problem(raw, Problem("unavailable", kube.local_account_refusal(raw.cluster)))
        return
    try:
        readings = kube.read_cluster(endpoint, clients)
    except kube.Unreachable as exc:
        _kube_problem(raw, Problem("unavailable", f"API server not reachable from the checker: {exc}"))
        return
    except Exception as exc:  # an answer the client library cannot handle costs the Kubernetes sources only
        _kube_problem(raw, Problem("error", f"Kubernetes API: {_error(exc)}"))
        return
    raw.kube = readings.documents
    raw.pod_logs = readings.pod_logs if readings.logs_collected else None
    if Source.KUBELET_PROBE not in readings.problems:
        raw.probes["kubelet"] = readings.kubelet
    raw.problems.update(readings.problems)


def _kube_problem(raw: RawCluster, problem: Problem) -> None:
    for source in KUBE_SOURCES:
        raw.problems[source] = problem


def _error(exc: Exception) -> str:
    """One line: an Azure error's status and message; any other exception's type and message."""
    if not isinstance(exc, AzureError):
        return f"{type(exc).__name__}: {one_line(exc)}"
    status = getattr(exc, "status_code", None)
    message = one_line(Exception(getattr(exc, "message", "") or exc))
    return f"{status} {message}" if status else message
