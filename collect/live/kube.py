"""The Kubernetes reads, with the cluster *user* kubeconfig (never admin) and, for Entra ID clusters,
a token for the AKS server application instead of kubelogin.

Each read is a GET of the documented REST path (what `kubectl get ... -o json` and `kubectl logs` send),
over one small urllib3 pool per cluster: at most `KUBE_CONNECTIONS` TLS connections, reused by every read of
the cluster, verified against the kubeconfig's CA held in memory (no temporary files). Reads that do not
depend on each other may run at once, up to `KUBE_CONNECTIONS`.

Helm 3 release secrets are listed as PartialObjectMetadataList: the API server returns names and
labels only, so no release payload (values, often with secrets) ever leaves the cluster. Listing them
still needs `list` on Secrets (Kubernetes RBAC) or `Microsoft.ContainerService/managedClusters/secrets/read`
(Azure RBAC), which would also allow reading the values: `LiveClients.read_secrets=False` leaves them out.

A 403 on one read makes only the sources it feeds unavailable, with a message naming the permission
(`PERMISSIONS`, the same table infra/ grants); the other reads go on.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import urlencode, urlparse

import urllib3
from urllib3.exceptions import HTTPError

from collect.documents import DocumentError, load_document, load_json
from collect.live.clients import AKS_SERVER_SCOPE, LiveClients
from collect.raw import strip_secret_values
from model.arm_ids import parse_cluster_id
from model.snapshot import Problem, Source

PARTIAL_METADATA = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
LOG_TAIL_LINES = 200
KUBELET_PROBE_MAX_NODES = 20  # one log read per node; bounded so a 1,000-node cluster stays cheap
TUNNEL_PREFIXES = ("konnectivity-agent-", "tunnelfront-", "aks-link-")
# TLS connections to one API server: each costs a handshake (CPU on both ends), each lets one more read of
# the cluster run at once. Measured (bench/sweep.py, 400 clusters at 100 ms): 1 connection costs about 18 ms
# of CPU a cluster, 3 about 23 ms and the emulator 40 % more; a sweep is CPU-bound long before the services'
# limits, and the other clusters in flight fill the wait, so one kept-alive connection carries every read.
KUBE_CONNECTIONS = 1
SYSTEM = "kube-system"


@dataclass(frozen=True)
class Permission:
    """What one read needs: the Kubernetes RBAC rule and the Azure RBAC dataAction that grant it."""

    verb: str
    resource: str  # "pods", "pods/log", "nodes", ... (the RBAC resource, with its subresource)
    api_group: str = ""
    namespace: str | None = None  # None: every namespace (or a cluster-scoped resource)
    data_action: str = ""  # Microsoft.ContainerService/managedClusters/<group>/<resource>/read

    def describe(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        group = f" (API group {self.api_group})" if self.api_group else ""
        return f"`{self.verb}` on `{self.resource}`{group}{where} (Azure RBAC: {self.data_action})"


AKS_DATA = "Microsoft.ContainerService/managedClusters"
# Azure RBAC for Kubernetes maps a request to <group>/<resource>/read for get/list/watch, ignoring
# subresources other than pods/exec, so pod logs need pods/read (the kubeguard authorizer AKS runs).
PERMISSIONS: dict[str, Permission] = {
    "pods": Permission("list", "pods", namespace=SYSTEM, data_action=f"{AKS_DATA}/pods/read"),
    "pod-logs": Permission("get", "pods/log", namespace=SYSTEM, data_action=f"{AKS_DATA}/pods/read"),
    "nodes": Permission("get", "nodes", data_action=f"{AKS_DATA}/nodes/read"),
    "node-metrics": Permission("get", "nodes", "metrics.k8s.io", data_action=f"{AKS_DATA}/metrics.k8s.io/nodes/read"),
    "events": Permission("list", "events", namespace=SYSTEM, data_action=f"{AKS_DATA}/events/read"),
    "helm-secrets": Permission("list", "secrets", data_action=f"{AKS_DATA}/secrets/read"),
    "tiller-configmaps": Permission("list", "configmaps", namespace=SYSTEM, data_action=f"{AKS_DATA}/configmaps/read"),
}
SECRETS_LEFT_OUT = (
    "left out by AKS_REACH_READ_SECRETS=false: listing Helm release Secrets, even as metadata, needs "
    + PERMISSIONS["helm-secrets"].describe()
    + ", which also allows reading their values"
)
HELM_LISTS = ("PartialObjectMetadataList", "SecretList", "ConfigMapList")


class Unreachable(Exception):
    """The API server did not answer (network, DNS, TLS): every Kubernetes source is unavailable."""


@dataclass
class KubeEndpoint:
    server: str
    ca_pem: bytes
    token: str


@dataclass
class KubeReadings:
    documents: list[dict[str, Any]] = field(default_factory=list)
    pod_logs: dict[str, str] = field(default_factory=dict)
    kubelet: list[dict[str, Any]] = field(default_factory=list)
    problems: dict[Source, Problem] = field(default_factory=dict)
    logs_collected: bool = False


class ApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, body: bytes) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason, self.body = status, reason, body


class KubeconfigError(ValueError):
    """The user kubeconfig ARM returned cannot be used; the message says what is wrong with it."""


def user_endpoint(clients: LiveClients, cluster: dict[str, Any]) -> KubeEndpoint:
    """The API server URL, its CA and a bearer token, from the cluster user credentials."""
    parse_cluster_id(cluster["id"])  # a cluster's id, not any path, goes into the URL
    credentials = clients.arm.post(f"{cluster['id']}/listClusterUserCredential")
    kubeconfigs = credentials.get("kubeconfigs")
    if not kubeconfigs or not isinstance(kubeconfigs, list) or not isinstance(kubeconfigs[0], dict):
        raise KubeconfigError("ARM returned no user kubeconfig")
    try:
        config = load_document(base64.b64decode(kubeconfigs[0].get("value") or "").decode())
    except (DocumentError, ValueError, TypeError) as exc:
        raise KubeconfigError(f"the user kubeconfig is not readable YAML: {exc}") from None
    try:
        entry = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"] or {}
        server, ca = entry["server"], base64.b64decode(entry.get("certificate-authority-data") or "")
        if not isinstance(server, str) or not isinstance(user, dict):
            raise TypeError("server should be a URL and user a mapping")
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise KubeconfigError(
            f"the user kubeconfig has no usable cluster and user ({type(exc).__name__}: {exc})"
        ) from None
    if "exec" in user or "auth-provider" in user:
        token = clients.credential.get_token(AKS_SERVER_SCOPE).token
    else:
        token = str(user.get("token") or "")
    return KubeEndpoint(server=server, ca_pem=ca, token=token)


class ApiServer:
    """GETs to one API server over a pool of at most `KUBE_CONNECTIONS` kept-alive TLS connections."""

    def __init__(self, endpoint: KubeEndpoint, timeout: float, context: ssl.SSLContext) -> None:
        """`context`: the cluster's TLS context (`probes.tls_context`), the one its probe used."""
        url = urlparse(endpoint.server)
        self._prefix = url.path.rstrip("/")
        self._headers = {"Authorization": f"Bearer {endpoint.token}", "Accept": "application/json"}
        self._pool = urllib3.HTTPSConnectionPool(
            url.hostname,
            url.port or 443,
            maxsize=KUBE_CONNECTIONS,
            block=True,
            ssl_context=context,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=urllib3.Retry(total=1, redirect=0, status=0, raise_on_status=False),
        )

    def get(self, path: str, accept: str = "", **query: Any) -> bytes:
        target = self._prefix + path + (f"?{urlencode(query)}" if query else "")
        headers = {**self._headers, "Accept": accept} if accept else self._headers
        response = self._pool.request("GET", target, headers=headers)
        if response.status >= 400:
            raise ApiError(response.status, response.reason or "", response.data)
        return response.data

    def close(self) -> None:
        self._pool.close()


def read_cluster(endpoint: KubeEndpoint, clients: LiveClients, context: ssl.SSLContext) -> KubeReadings:
    api = ApiServer(endpoint, clients.timeout_seconds, context)
    try:
        return _read_all(api, clients)
    finally:
        api.close()


# (source, permission, path, query, accept)
LISTINGS: tuple[tuple[Source, str, str, dict[str, str], str], ...] = (
    (Source.PODS, "pods", f"/api/v1/namespaces/{SYSTEM}/pods", {}, ""),  # first: its failure means unreachable
    (Source.NODES, "nodes", "/api/v1/nodes", {}, ""),
    (Source.NODE_METRICS, "node-metrics", "/apis/metrics.k8s.io/v1beta1/nodes", {}, ""),
    (Source.EVENTS, "events", "/api/v1/events", {}, ""),
    (Source.HELM, "helm-secrets", "/api/v1/secrets", {"labelSelector": "owner=helm"}, PARTIAL_METADATA),
    (
        Source.HELM,
        "tiller-configmaps",
        f"/api/v1/namespaces/{SYSTEM}/configmaps",
        {"labelSelector": "OWNER=TILLER"},
        "",
    ),
)


def _read_all(api: ApiServer, clients: LiveClients) -> KubeReadings:
    readings = KubeReadings()
    listings = LISTINGS if clients.read_secrets else tuple(item for item in LISTINGS if item[0] is not Source.HELM)
    if not clients.read_secrets:
        readings.problems[Source.HELM] = Problem("unavailable", SECRETS_LEFT_OUT)

    def listing(path: str, query: dict[str, str], accept: str) -> Callable[[], bytes | Exception]:
        return lambda: _attempt(lambda: api.get(path, accept, **query))

    answers = clients.in_parallel(
        [listing(path, query, accept) for _, _, path, query, accept in listings], KUBE_CONNECTIONS
    )
    for index, ((source, permission, _, _, _), answer) in enumerate(zip(listings, answers, strict=True)):
        if isinstance(answer, ApiError):
            readings.problems.setdefault(source, _api_problem(answer, PERMISSIONS[permission]))
            continue
        if isinstance(answer, Exception):
            if index == 0:
                raise Unreachable(_network_error(answer)) from None
            readings.problems.setdefault(source, Problem("error", _network_error(answer)))
            continue
        try:
            document = kube_list(load_json(answer))
        except ValueError as exc:
            readings.problems.setdefault(
                source, Problem("error", f"{source.value}: the API server answered with malformed JSON ({exc})")
            )
            continue
        if source is Source.HELM and document.get("kind") == "ConfigMapList":
            for item in document["items"]:
                item.pop("data", None)  # Tiller's release payload: not needed, not kept
        readings.documents.append(strip_secret_values(document))
    if Source.HELM in readings.problems:  # half a Helm listing would undercount revisions
        readings.documents = [d for d in readings.documents if d.get("kind") not in HELM_LISTS]
    pods = [
        pod
        for document in readings.documents
        if document.get("kind") == "PodList"
        for pod in document["items"]
        if isinstance(pod.get("metadata"), dict) and isinstance(pod["metadata"].get("name"), str)
    ]
    _read_logs(api, clients, pods, readings)
    return readings


def _read_logs(api: ApiServer, clients: LiveClients, pods: list[dict[str, Any]], readings: KubeReadings) -> None:
    """The tunnel pods' logs, and one log line per node: reading it goes API server -> tunnel -> kubelet
    :10250 on that pod's node (the kubelet probe). All at once: none depends on another."""
    tunnels = [
        pod["metadata"]["name"]
        for pod in pods
        if pod["metadata"]["name"].startswith(TUNNEL_PREFIXES) and "autoscaler" not in pod["metadata"]["name"]
    ]
    by_node: dict[str, str] = {}
    for pod in pods:
        spec = pod.get("spec")
        node = spec.get("nodeName") if isinstance(spec, dict) else None
        if isinstance(node, str) and node and node not in by_node:
            by_node[node] = pod["metadata"]["name"]
    probed = sorted(by_node.items())[:KUBELET_PROBE_MAX_NODES]

    def log(name: str, lines: int) -> Callable[[], bytes | Exception]:
        return lambda: _attempt(lambda: api.get(f"/api/v1/namespaces/{SYSTEM}/pods/{name}/log", tailLines=lines))

    reads = [log(name, LOG_TAIL_LINES) for name in tunnels] + [log(pod, 1) for _, pod in probed]
    answers = clients.in_parallel(reads, KUBE_CONNECTIONS)
    for name, answer in zip(tunnels, answers, strict=False):
        if _forbidden(answer):
            readings.problems.setdefault(Source.POD_LOGS, _api_problem(answer, PERMISSIONS["pod-logs"]))
            continue
        if isinstance(answer, Exception):
            readings.problems.setdefault(Source.POD_LOGS, Problem("error", f"logs of {name}: {_short(answer)}"))
            continue
        readings.pod_logs[f"{SYSTEM}/{name}"] = answer.decode("utf-8", errors="replace")
    readings.logs_collected = Source.POD_LOGS not in readings.problems
    probes = answers[len(tunnels) :]
    denied = next((answer for answer in probes if _forbidden(answer)), None)
    if denied is not None:  # the identity's permission, not the path to the kubelet: no probe result
        readings.problems[Source.KUBELET_PROBE] = _api_problem(denied, PERMISSIONS["pod-logs"])
        return
    for (node, _), answer in zip(probed, probes, strict=True):
        failed = isinstance(answer, Exception)
        readings.kubelet.append({"node": node, "ok": not failed, "error": _short(answer) if failed else None})


def kube_list(document: Any) -> dict[str, Any]:
    """A list answer as the API server sends it: an object with a "kind" and a list of objects in "items"."""
    if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
        raise ValueError(f"expected a Kubernetes List object, got {type(document).__name__}")
    items = document.get("items")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError(f'{document["kind"]}: "items" should be a list of objects')
    return document


def _attempt(read: Callable[[], bytes]) -> bytes | Exception:
    """The answer, or the error that stands for it (the caller decides what each error means)."""
    try:
        return read()
    except (ApiError, HTTPError, OSError) as exc:
        return exc


def _forbidden(answer: bytes | Exception) -> TypeGuard[ApiError]:
    return isinstance(answer, ApiError) and answer.status in (401, 403)


def _api_problem(exc: ApiError, permission: Permission) -> Problem:
    """403: the identity lacks a permission (unavailable: the checks needing it are skipped, naming it)."""
    if exc.status in (401, 403):
        return Problem(
            "unavailable",
            f"{exc.status} {exc.reason}: the checker's identity lacks {permission.describe()} "
            "(infra/kubernetes/, or the AKS API Reach roles of infra/roles/kubernetes-reader.json)",
        )
    return Problem("error", f"{exc.status} {exc.reason}: {_short(exc)}")


def _short(exc: Exception) -> str:
    if isinstance(exc, ApiError) and exc.body:
        try:
            return str(json.loads(exc.body).get("message") or exc.reason)[:300]
        except (ValueError, AttributeError):
            return exc.body.decode("utf-8", errors="replace")[:300]
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def _network_error(exc: Exception) -> str:
    text = str(exc).lower()
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "refused" in text:
        return "refused"
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "dns: the API server name does not resolve"
    return _short(exc)
