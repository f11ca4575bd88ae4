"""The Kubernetes reads, with the cluster *user* kubeconfig (never admin) and, for Entra ID clusters, a
token for the AKS server application instead of kubelogin; through the `kubernetes` package's `ApiClient`
(`param_serialize` + `call_api`, the generic path every typed operation of the client takes: its
configuration, token authentication, urllib3 pool and `ApiException`), asked for the raw answer that the
app's bounded loader (`collect.documents.load_json`) parses: no model objects, and every answer read within
the cluster's bounds. The typed `CoreV1Api` would add nothing here but cost: importing it builds the pydantic
validators of every core operation and model (about 22 MiB in every process, 0.35 s), and each call
validates its arguments again; the paths below are the documented REST paths those operations send.

Gentle on the API server it diagnoses (docs/kubernetes-reads.md says the same per source, for operators):

- tunnel pods: kube-system pods by label selector (`app in (konnectivity-agent,aks-link)`, and
  `component=tunnel` for tunnelfront), from the watch cache (`resourceVersion=0`): a few pods, and a pod
  list a few seconds old judges the tunnel as well as a fresh one. Sent with `limit`, followed by `continue`
  when the server pages it (an API server that serves the watch cache ignores `limit`; the selector keeps
  that answer small).
- their nodes and node metrics: read by name (GET), never listed; only the tunnel pods' nodes matter.
- the kubelet probe: one pod per node on a sample of at most `KUBELET_PROBE_MAX_NODES` nodes (the tunnel
  pods' nodes, then kube-proxy pods by `component=kube-proxy` with `limit`, one page); one log line each.
- events: kube-system only, `fieldSelector=type=Warning`, paged (`limit` 500 + `continue`): a tenant's
  namespace cannot put text in front of the kubelet-port check.
- Helm 3 release Secrets (`owner=helm`, every namespace) and Helm 2 Tiller ConfigMaps (`OWNER=TILLER`,
  kube-system) as PartialObjectMetadataList, paged: names and labels only, no release payload ever leaves
  the cluster. Listing Secrets still needs `list` on Secrets (Kubernetes RBAC) or
  `Microsoft.ContainerService/managedClusters/secrets/read` (Azure RBAC), which also allows reading the
  values: off unless `LiveClients.read_secrets` (AKS_REACH_READ_SECRETS) turns it on.

Every answer is asked gzip-compressed. Per cluster, the bytes (decompressed) and objects read are bounded
(`ReadBounds`): the read that crosses a bound stops there, and its source and every source after it are
`unavailable`, naming the bound; no cluster can take the instance's memory.

A static token in the user kubeconfig (local accounts: cluster-admin) is never sent unless
`LiveClients.use_local_account_token` says so (`LocalAccountToken`). A kubeconfig without a CA is refused
(`KubeconfigError`): the system trust store never vouches for an API server.

A 403 on one read makes only the sources it feeds unavailable, with a message naming the permission
(`PERMISSIONS`, the same table infra/ grants); the other reads go on.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import urllib3
from kubernetes.client.api_client import ApiClient
from kubernetes.client.configuration import Configuration
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from collect.documents import DocumentError, load_document, load_json
from collect.live.clients import AKS_SERVER_SCOPE, LiveClients
from collect.raw import strip_secret_values
from model.arm_ids import parse_cluster_id
from model.snapshot import Problem, Source
from model.text import one_line

PARTIAL_METADATA = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
PAGE_SIZE = 500  # items a list page asks for (the API server's own default chunk for kubectl is 500)
LOG_TAIL_LINES = 200
LOG_MAX_BYTES = 256 * 1024  # of one tunnel pod's log tail: 200 lines of a chatty agent fit many times over
KUBELET_PROBE_MAX_NODES = 20  # one log read per node; bounded so a 5,000-node cluster stays cheap
# Tunnel pods, as AKS labels them: konnectivity-agent and aks-link by `app`, tunnelfront by `component`.
# (konnectivity-agent-autoscaler carries app=konnectivity-agent-autoscaler: not selected.)
TUNNEL_SELECTORS = ("app in (konnectivity-agent,aks-link)", "component=tunnel")
KUBELET_SAMPLE_SELECTOR = "component=kube-proxy"  # a DaemonSet: one pod on every node
# TLS connections to one API server: each costs a handshake (CPU on both ends), each lets one more read of
# the cluster run at once. Measured (bench/sweep.py, 400 clusters at 100 ms): 1 connection costs about 18 ms
# of CPU a cluster, 3 about 23 ms and the emulator 40 % more; a sweep is CPU-bound long before the services'
# limits, and the other clusters in flight fill the wait, so one kept-alive connection carries every read.
KUBE_CONNECTIONS = 1
SYSTEM = "kube-system"
PODS = f"/api/v1/namespaces/{SYSTEM}/pods"
TOKEN_AUTH = ["BearerToken"]  # how every operation of the client authenticates: the configuration's api_key
LOCAL_ACCOUNTS_DOCS = "https://learn.microsoft.com/azure/aks/manage-local-accounts-managed-azure-ad"


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
    "left out by AKS_REACH_READ_SECRETS=false (the default): listing Helm release Secrets, even as metadata, "
    f"needs {PERMISSIONS['helm-secrets'].describe()}, which also allows reading their values; to judge Helm "
    "history, grant it and set AKS_REACH_READ_SECRETS=true"
)


HELM_LISTS = ("PartialObjectMetadataList", "ConfigMapList")


class Unreachable(Exception):
    """The API server did not answer (network, DNS, TLS): every Kubernetes source is unavailable."""


class KubeconfigError(ValueError):
    """The user kubeconfig ARM returned cannot be used; the message says what is wrong with it."""


class LocalAccountToken(Exception):
    """The user kubeconfig carries a static token (a local account: cluster-admin) and the settings do not
    allow using it; the message says why and how to move the cluster to Entra ID."""


class BoundExceeded(Exception):
    """A read crossed one of the cluster's `ReadBounds`; the message names the bound and its setting."""


@dataclass
class KubeEndpoint:
    server: str
    ca_pem: bytes
    token: str = field(repr=False)  # a bearer token: never in a log line or a traceback's locals
    static_token: bool = False  # from the kubeconfig itself (a local account), not from Entra ID


@dataclass(frozen=True)
class ReadBounds:
    """What one cluster's reads may bring in (settings AKS_REACH_KUBE_MAX_READ_MB, AKS_REACH_KUBE_MAX_OBJECTS)."""

    max_bytes: int  # answers' bytes after decompression
    max_objects: int  # list items and objects read by name

    @classmethod
    def of(cls, clients: LiveClients) -> ReadBounds:
        return cls(clients.kube_max_read_mb * 1024 * 1024, clients.kube_max_objects)


@dataclass
class KubeReadings:
    documents: list[dict[str, Any]] = field(default_factory=list)
    pod_logs: dict[str, str] = field(default_factory=dict)
    kubelet: list[dict[str, Any]] = field(default_factory=list)
    problems: dict[Source, Problem] = field(default_factory=dict)
    logs_collected: bool = False


def user_endpoint(clients: LiveClients, cluster: dict[str, Any]) -> KubeEndpoint:
    """The API server URL, its CA and a bearer token, from the cluster user credentials."""
    parse_cluster_id(cluster["id"])  # a cluster's id, not any path, goes into the URL
    credentials = clients.arm.cluster_user_credentials(cluster["id"])
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
    if not ca:
        raise KubeconfigError(
            "the user kubeconfig has no certificate-authority-data: the API server's certificate cannot be "
            "verified against the cluster's own CA (the system trust store is not used for it)"
        )
    if "exec" in user or "auth-provider" in user:
        return KubeEndpoint(server, ca, clients.credential.get_token(AKS_SERVER_SCOPE).token)
    return KubeEndpoint(server, ca, str(user.get("token") or ""), static_token=True)


def local_account_refusal(cluster: dict[str, Any]) -> str:
    """Why a local account's token is not used, and the fix (the unavailable sources' message)."""
    group = (cluster.get("id") or "").split("/")[4] if (cluster.get("id") or "").count("/") >= 4 else "RG"
    return (
        "the cluster's user kubeconfig carries a static token (local accounts, no Entra ID): local-account "
        "tokens are cluster-admin, so the checker does not use it (AKS_REACH_USE_LOCAL_ACCOUNT_TOKEN=false). "
        f"Fix: az aks update -g {group} -n {cluster.get('name') or 'NAME'} --enable-aad --disable-local-accounts "
        f"({LOCAL_ACCOUNTS_DOCS})"
    )


class ApiServer:
    """One cluster's reads through the kubernetes client: one kept-alive TLS connection, verified against
    the kubeconfig's CA held in memory (`ca_cert_data`, no temporary file), gzip accepted, every answer
    counted against the cluster's `ReadBounds`."""

    def __init__(self, endpoint: KubeEndpoint, timeout: float, bounds: ReadBounds) -> None:
        configuration = Configuration(
            host=endpoint.server.rstrip("/"),
            api_key={"BearerToken": endpoint.token},
            api_key_prefix={"BearerToken": "Bearer"},
            ca_cert_data=endpoint.ca_pem.decode("ascii", errors="replace"),
            retries=urllib3.Retry(total=1, redirect=0, status=0, raise_on_status=False),
            connection_pool_maxsize=KUBE_CONNECTIONS,
            # Straight to the API server, as the probe goes: the reads must take the path the probe timed.
            proxy="",
            no_proxy="",
        )
        self._client = ApiClient(configuration)
        self.timeout = (timeout, timeout)
        self.bounds = bounds
        self.bytes_read = 0
        self.objects_read = 0
        self._lock = threading.Lock()
        self._exceeded: str | None = None

    def get(
        self,
        path: str,
        names: dict[str, str] | None = None,
        query: dict[str, str | int | None] | None = None,
        accept: str = "application/json",
    ) -> urllib3.BaseHTTPResponse:
        """The raw, compressed answer to a GET of a documented REST path (`{name}` placeholders filled from
        `names`, quoted), raising `ApiException` on a status outside 2xx as the typed operations do."""
        request = self._client.param_serialize(
            "GET",
            path,
            path_params=names,
            query_params=[(key, value) for key, value in (query or {}).items() if value is not None],
            header_params={"Accept": accept, "Accept-Encoding": "gzip"},
            auth_settings=TOKEN_AUTH,
        )
        response = self._client.call_api(*request, _request_timeout=self.timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    def body(self, response: urllib3.BaseHTTPResponse, objects: int = 0) -> bytes:
        """The answer's bytes, decompressed, read in chunks against the byte bound (a read past it stops
        there and drops the connection)."""
        self.check()
        chunks: list[bytes] = []
        try:
            for chunk in response.stream(64 * 1024, decode_content=True):
                chunks.append(chunk)
                with self._lock:
                    self.bytes_read += len(chunk)
                    over = self.bytes_read > self.bounds.max_bytes
                if over:
                    self._exceed(
                        f"{self.bounds.max_bytes // (1024 * 1024)} MiB read from this API server "
                        "(AKS_REACH_KUBE_MAX_READ_MB)"
                    )
                    response.close()
                    self.check()
        finally:
            response.release_conn()
        self.count(objects)
        return b"".join(chunks)

    def count(self, objects: int) -> None:
        with self._lock:
            self.objects_read += objects
            over = self.objects_read > self.bounds.max_objects
        if over:
            self._exceed(f"{self.bounds.max_objects:,} objects read from this API server (AKS_REACH_KUBE_MAX_OBJECTS)")
        self.check()

    def check(self) -> None:
        if self._exceeded:
            raise BoundExceeded(f"stopped at the per-cluster bound of {self._exceeded}")

    def _exceed(self, what: str) -> None:
        with self._lock:
            self._exceeded = self._exceeded or what

    def close(self) -> None:
        self._client.close()


def read_cluster(endpoint: KubeEndpoint, clients: LiveClients) -> KubeReadings:
    api = ApiServer(endpoint, clients.timeout_seconds, ReadBounds.of(clients))
    try:
        return _read_all(api, clients)
    finally:
        api.close()


def _read_all(api: ApiServer, clients: LiveClients) -> KubeReadings:
    readings = KubeReadings()
    try:
        pods = _tunnel_pods(api)
    except BoundExceeded as exc:
        _bounded_out(readings, str(exc), clients.read_secrets)
        return readings
    except ApiException as exc:
        if exc.status == 0:  # the client's own failure to connect (TLS): as unreachable as a refused socket
            raise Unreachable(_short(exc)) from None
        readings.problems[Source.PODS] = _api_problem(exc, PERMISSIONS["pods"])
        pods = None
    except (HTTPError, OSError) as exc:
        raise Unreachable(_network_error(exc)) from None
    except DocumentError as exc:
        readings.problems[Source.PODS] = _malformed(Source.PODS, exc)
        pods = None
    if pods is not None:
        readings.documents.append({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods})
    tunnel_nodes = sorted({node for pod in pods or () if (node := _node_of(pod))})
    reads: list[tuple[tuple[Source, ...], str, Callable[[], None]]] = [
        ((Source.NODES,), "nodes", lambda: _by_name(api, readings, tunnel_nodes, _node)),
        ((Source.NODE_METRICS,), "node-metrics", lambda: _by_name(api, readings, tunnel_nodes, _node_metrics)),
        ((Source.POD_LOGS, Source.KUBELET_PROBE), "pod-logs", lambda: _read_logs(api, clients, pods or [], readings)),
        ((Source.EVENTS,), "events", lambda: readings.documents.append(_events(api))),
    ]
    if clients.read_secrets:
        reads.append(((Source.HELM,), "helm-secrets", lambda: readings.documents.append(_helm_secrets(api))))
        reads.append(((Source.HELM,), "tiller-configmaps", lambda: readings.documents.append(_tiller_configmaps(api))))
    else:
        readings.problems[Source.HELM] = Problem("unavailable", SECRETS_LEFT_OUT)
    for sources, permission, read in reads:
        try:
            read()
        except BoundExceeded as exc:
            for source in sources:
                readings.problems.setdefault(source, Problem("unavailable", f"{source.value}: {exc}"))
        except ApiException as exc:
            for source in sources:
                readings.problems.setdefault(source, _api_problem(exc, PERMISSIONS[permission]))
        except DocumentError as exc:
            for source in sources:
                readings.problems.setdefault(source, _malformed(source, exc))
        except (HTTPError, OSError) as exc:
            for source in sources:
                readings.problems.setdefault(source, Problem("error", f"{source.value}: {_network_error(exc)}"))
    if Source.HELM in readings.problems:  # half a Helm listing would undercount revisions
        readings.documents = [d for d in readings.documents if d["kind"] not in HELM_LISTS]
    readings.logs_collected = Source.POD_LOGS not in readings.problems
    return readings


def _bounded_out(readings: KubeReadings, message: str, read_secrets: bool) -> None:
    for source in (Source.PODS, Source.NODES, Source.NODE_METRICS, Source.EVENTS, Source.POD_LOGS):
        readings.problems[source] = Problem("unavailable", f"{source.value}: {message}")
    readings.problems[Source.KUBELET_PROBE] = Problem("unavailable", f"{Source.KUBELET_PROBE.value}: {message}")
    readings.problems[Source.HELM] = Problem("unavailable", message if read_secrets else SECRETS_LEFT_OUT)


def _tunnel_pods(api: ApiServer) -> list[dict[str, Any]]:
    """kube-system pods of the tunnel, each once (a konnectivity-agent pod may carry both labels)."""
    found: dict[str, dict[str, Any]] = {}
    for selector in TUNNEL_SELECTORS:
        for pod in _pages(api, PODS, {"labelSelector": selector, "resourceVersion": "0"}):
            found.setdefault(str(pod.get("metadata", {}).get("name")), pod)
    return [found[name] for name in sorted(found)]


def _events(api: ApiServer) -> dict[str, Any]:
    """kube-system Warning events only: what kubelet-port reads, and nothing a tenant namespace can write."""
    items = list(_pages(api, f"/api/v1/namespaces/{SYSTEM}/events", {"fieldSelector": "type=Warning"}))
    return {"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": items}


def _helm_secrets(api: ApiServer) -> dict[str, Any]:
    """Helm 3 release Secrets, names and labels only (PartialObjectMetadata)."""
    pages = _pages(api, "/api/v1/secrets", {"labelSelector": "owner=helm"}, PARTIAL_METADATA)
    items = [_metadata_only(item, "PartialObjectMetadata", "meta.k8s.io/v1") for item in pages]
    return {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "items": items}


def _tiller_configmaps(api: ApiServer) -> dict[str, Any]:
    """Helm 2 Tiller ConfigMaps, names and labels only, given back as ConfigMaps without their release payload
    (the kind the parser counts Helm 2 revisions of)."""
    pages = _pages(api, f"/api/v1/namespaces/{SYSTEM}/configmaps", {"labelSelector": "OWNER=TILLER"}, PARTIAL_METADATA)
    items = [_metadata_only(item, "ConfigMap", "v1") for item in pages]
    return {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {}, "items": items}


def _metadata_only(item: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    """An item's metadata alone, whatever the server sent (one that ignores the metadata-only Accept header
    sends values): no payload, and no last-applied annotation, which repeats it."""
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    stripped = strip_secret_values({"kind": "Secret", "metadata": metadata})
    return {"kind": kind, "apiVersion": api_version, "metadata": stripped["metadata"]}


def _pages(
    api: ApiServer, path: str, query: dict[str, str | int | None], accept: str = "application/json"
) -> Iterator[dict[str, Any]]:
    """Every item of a list, page by page (`limit` + `continue`), each trimmed of what no check reads."""
    token: str | None = None
    while True:
        answer = api.get(path, query={**query, "limit": PAGE_SIZE, "continue": token}, accept=accept)
        page = kube_list(load_json(api.body(answer)))
        api.count(len(page["items"]))
        for item in page["items"]:
            yield _trimmed(item)
        metadata = page.get("metadata") if isinstance(page.get("metadata"), dict) else {}
        token = metadata.get("continue") if isinstance(metadata.get("continue"), str) else None
        if not token:
            return


def _by_name(
    api: ApiServer, readings: KubeReadings, names: list[str], read: Callable[[ApiServer, str], dict[str, Any] | None]
) -> None:
    """Objects read one by one (GET by name): a node gone since its pod was listed is left out (404)."""
    items = [item for item in (read(api, name) for name in names) if item is not None]
    kind = "NodeList" if read is _node else "NodeMetricsList"
    version = "v1" if read is _node else "metrics.k8s.io/v1beta1"
    readings.documents.append({"kind": kind, "apiVersion": version, "metadata": {}, "items": items})


def _node(api: ApiServer, name: str) -> dict[str, Any] | None:
    return _object(api, lambda: api.get("/api/v1/nodes/{name}", {"name": name}))


def _node_metrics(api: ApiServer, name: str) -> dict[str, Any] | None:
    return _object(api, lambda: api.get("/apis/metrics.k8s.io/v1beta1/nodes/{name}", {"name": name}))


def _object(api: ApiServer, read: Callable[[], Any]) -> dict[str, Any] | None:
    try:
        answer = load_json(api.body(read(), objects=1))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    if not isinstance(answer, dict):
        raise DocumentError(f"expected a Kubernetes object, got {type(answer).__name__}")
    return _trimmed(answer)


def _trimmed(item: Any) -> Any:
    """An object without what no check reads and most of its bytes are: managedFields, a node's image list."""
    if isinstance(item, dict):
        metadata = item.get("metadata")
        if isinstance(metadata, dict):
            metadata.pop("managedFields", None)
        status = item.get("status")
        if isinstance(status, dict):
            status.pop("images", None)
    return item


def _node_of(pod: dict[str, Any]) -> str | None:
    spec = pod.get("spec")
    node = spec.get("nodeName") if isinstance(spec, dict) else None
    return node if isinstance(node, str) and node else None


def _name_of(pod: dict[str, Any]) -> str | None:
    metadata = pod.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) and name else None


def _read_logs(api: ApiServer, clients: LiveClients, pods: list[dict[str, Any]], readings: KubeReadings) -> None:
    """The tunnel pods' logs, and one log line per node of a sample: reading it goes API server -> tunnel ->
    kubelet :10250 on that pod's node (the kubelet probe). The sample: the tunnel pods' nodes, then kube-proxy
    pods (one per node) up to `KUBELET_PROBE_MAX_NODES` nodes. A tunnel pod's own log read is its node's probe
    (the same path), so no node is read twice. Reads that do not depend on each other may run at once, up to
    `KUBE_CONNECTIONS`."""
    tunnels = [name for pod in pods if (name := _name_of(pod))]
    by_node: dict[str, str] = {}
    sample = api.get(PODS, query={"labelSelector": KUBELET_SAMPLE_SELECTOR, "limit": KUBELET_PROBE_MAX_NODES})
    sampled = kube_list(load_json(api.body(sample)))["items"]
    api.count(len(sampled))
    for pod in [*pods, *sampled]:
        node, name = _node_of(pod), _name_of(pod)
        if node and name and node not in by_node and len(by_node) < KUBELET_PROBE_MAX_NODES:
            by_node[node] = name
    probed = sorted(by_node.items())
    probe_only = [name for _, name in probed if name not in tunnels]

    def log(name: str, lines: int) -> Callable[[], bytes | Exception]:
        def read() -> bytes:
            limit = LOG_MAX_BYTES if lines > 1 else 4096
            query: dict[str, str | int | None] = {"tailLines": lines, "limitBytes": limit}
            return api.body(api.get(f"{PODS}/{{name}}/log", {"name": name}, query, accept="*/*"))

        return lambda: _attempt(read)

    reads = [log(name, LOG_TAIL_LINES) for name in tunnels] + [log(name, 1) for name in probe_only]
    answers = clients.io.in_parallel(reads, KUBE_CONNECTIONS)
    if bound := next((answer for answer in answers if isinstance(answer, BoundExceeded)), None):
        raise bound
    by_pod = dict(zip([*tunnels, *probe_only], answers, strict=True))
    for name in tunnels:
        answer = by_pod[name]
        if _forbidden(answer):
            readings.problems.setdefault(Source.POD_LOGS, _api_problem(answer, PERMISSIONS["pod-logs"]))
            continue
        if isinstance(answer, Exception):
            readings.problems.setdefault(Source.POD_LOGS, Problem("error", f"logs of {name}: {_short(answer)}"))
            continue
        readings.pod_logs[f"{SYSTEM}/{name}"] = answer.decode("utf-8", errors="replace")
    probes = [(node, by_pod[name]) for node, name in probed]
    denied = next((answer for _, answer in probes if _forbidden(answer)), None)
    if denied is not None:  # the identity's permission, not the path to the kubelet: no probe result
        readings.problems[Source.KUBELET_PROBE] = _api_problem(denied, PERMISSIONS["pod-logs"])
        return
    for node, answer in probes:
        failed = isinstance(answer, Exception)
        readings.kubelet.append({"node": node, "ok": not failed, "error": _short(answer) if failed else None})


def kube_list(document: Any) -> dict[str, Any]:
    """A list answer as the API server sends it: an object with a "kind" and a list of objects in "items"."""
    if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
        raise DocumentError(f"expected a Kubernetes List object, got {type(document).__name__}")
    items = document.get("items")
    if items is None:
        items = document["items"] = []  # an empty list may come without "items" (omitempty)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise DocumentError(f'{document["kind"]}: "items" should be a list of objects')
    return document


def _attempt(read: Callable[[], bytes]) -> bytes | Exception:
    """The answer, or the error that stands for it (the caller decides what each error means)."""
    try:
        return read()
    except (ApiException, HTTPError, OSError, BoundExceeded) as exc:
        return exc


def _forbidden(answer: bytes | Exception) -> TypeGuard[ApiException]:
    return isinstance(answer, ApiException) and answer.status in (401, 403)


def _api_problem(exc: ApiException, permission: Permission) -> Problem:
    """403: the identity lacks a permission (unavailable: the checks needing it are skipped, naming it)."""
    if exc.status in (401, 403):
        return Problem(
            "unavailable",
            f"{exc.status} {exc.reason}: the checker's identity lacks {permission.describe()} "
            "(infra/kubernetes/, or the AKS API Reach roles of infra/roles/kubernetes-reader.json)",
        )
    return Problem("error", f"{exc.status} {exc.reason}: {_short(exc)}")


def _malformed(source: Source, exc: Exception) -> Problem:
    return Problem("error", f"{source.value}: the API server answered with malformed JSON ({exc})")


def _short(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        body = exc.body if isinstance(exc.body, bytes | str) else b""
        if body:
            try:
                return str(json.loads(body).get("message") or exc.reason)[:300]
            except (ValueError, AttributeError):
                text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
                return text[:300]
        return str(exc.reason or exc.status).splitlines()[0][:300]
    return one_line(exc)


def _network_error(exc: Exception) -> str:
    text = str(exc).lower()
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "refused" in text:
        return "refused"
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "dns: the API server name does not resolve"
    return _short(exc)
