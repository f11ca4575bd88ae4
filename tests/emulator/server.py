"""A local Azure + Kubernetes emulator on 127.0.0.1 over HTTPS (a trustme CA), for the real SDK clients.

Serves, in their wire formats: ARM managedClusters GET and listClusterUserCredential, the cluster's
diagnostic settings, GETs and lists of the network resources (by id, by parent, by subscription and type),
Resource Graph queries (paged with $skipToken), Log Analytics `query_resource` on a cluster or a workspace
(rows with `_ResourceId`), and one Kubernetes API per cluster under /k8s/<cluster>/ (pods, nodes, node
metrics, events, Helm secrets as PartialObjectMetadataList, Tiller configmaps, pod logs). Data comes from
`RawCluster` values (the same shape a snapshot folder holds), so fixtures are the SDK-serialized sample
estate. Faults (status, Retry-After, a bounded count) and latency can be injected per path pattern, and scopes
where the identity holds no Reader role answer 403 AuthorizationFailed (`denied_scopes`);
every request is counted and recorded for assertions.

The services' throttling, as Microsoft documents it, answering 429 with Retry-After:
- ARM: a token bucket per subscription and principal (the bearer token) and operation kind: reads (GET)
  250 tokens refilled at 25/s, writes (POST, PUT, PATCH, DELETE) 200 refilled at 10/s; every answer carries
  `x-ms-ratelimit-remaining-subscription-reads` / `-writes`.
- Resource Graph: `graph_quota` queries per `graph_window_seconds` per user (off unless set: 15 per 5 s).
- Log Analytics: 200 queries per 30 s per user (sliding window) and 5 running at once.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
import re
import socket
import ssl
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import trustme
from azure.core.credentials import AccessToken

from collect.live.clients import LiveClients
from collect.raw import RawCluster

TOKEN = "emulator-token"
PARTIAL_METADATA = "as=PartialObjectMetadataList"
AKS_DATA = "Microsoft.ContainerService/managedClusters"
# "Azure Kubernetes Service RBAC Reader" (7f6c6a51-bcf8-42ba-9220-52d62157d7db) as "Azure built-in roles for
# Containers" lists its dataActions: no secrets, and no nodes/read (only metrics.k8s.io/nodes/read).
AKS_RBAC_READER_DATA_ACTIONS = tuple(
    f"{AKS_DATA}/{name}"
    for name in (
        "apps/controllerrevisions/read",
        "apps/daemonsets/read",
        "apps/deployments/read",
        "apps/replicasets/read",
        "apps/statefulsets/read",
        "autoscaling/horizontalpodautoscalers/read",
        "batch/cronjobs/read",
        "batch/jobs/read",
        "configmaps/read",
        "discovery.k8s.io/endpointslices/read",
        "endpoints/read",
        "events.k8s.io/events/read",
        "events/read",
        "extensions/daemonsets/read",
        "extensions/deployments/read",
        "extensions/ingresses/read",
        "extensions/networkpolicies/read",
        "extensions/replicasets/read",
        "limitranges/read",
        "metrics.k8s.io/pods/read",
        "metrics.k8s.io/nodes/read",
        "namespaces/read",
        "networking.k8s.io/ingresses/read",
        "networking.k8s.io/networkpolicies/read",
        "persistentvolumeclaims/read",
        "pods/read",
        "policy/poddisruptionbudgets/read",
        "replicationcontrollers/read",
        "resourcequotas/read",
        "serviceaccounts/read",
        "services/read",
    )
)
# The Kubernetes routes the emulator serves: (list kind, item kind, RBAC resource, dataAction Azure RBAC checks).
KUBE_ROUTES = {
    "/api/v1/namespaces/kube-system/pods": ("PodList", "Pod", "pods", f"{AKS_DATA}/pods/read"),
    "/api/v1/nodes": ("NodeList", "Node", "nodes", f"{AKS_DATA}/nodes/read"),
    "/apis/metrics.k8s.io/v1beta1/nodes": (
        "NodeMetricsList",
        "NodeMetrics",
        "nodes",
        f"{AKS_DATA}/metrics.k8s.io/nodes/read",
    ),
    "/api/v1/events": ("EventList", "Event", "events", f"{AKS_DATA}/events/read"),
    "/api/v1/namespaces/kube-system/events": ("EventList", "Event", "events", f"{AKS_DATA}/events/read"),
    "/api/v1/secrets": ("SecretList", "Secret", "secrets", f"{AKS_DATA}/secrets/read"),
    "/api/v1/namespaces/kube-system/configmaps": (
        "ConfigMapList",
        "ConfigMap",
        "configmaps",
        f"{AKS_DATA}/configmaps/read",
    ),
}


# Objects read by name: (path pattern, item kind, RBAC resource, dataAction).
KUBE_OBJECTS = (
    (re.compile(r"^/api/v1/nodes/([^/]+)$"), "Node", "nodes", f"{AKS_DATA}/nodes/read"),
    (
        re.compile(r"^/apis/metrics\.k8s\.io/v1beta1/nodes/([^/]+)$"),
        "NodeMetrics",
        "nodes",
        f"{AKS_DATA}/metrics.k8s.io/nodes/read",
    ),
)
GZIP_THRESHOLD_BYTES = 128 * 1024  # the API server compresses answers above this, at gzip level 1


@dataclass
class KubeStats:
    """What the clusters' API servers saw and sent: for tests and the big-cluster benchmark."""

    requests: int = 0
    lists: int = 0
    unpaged: int = 0  # lists asked without `limit`
    whole_from_cache: int = 0  # lists with `limit` and resourceVersion=0, answered whole (the watch cache)
    wire_bytes: int = 0  # answers' bytes as sent (gzip-compressed when asked and large enough)
    body_bytes: int = 0  # answers' bytes before compression
    queries: list[str] = field(default_factory=list)  # "path?query" of every request (when `keep_log`)
    authorizations: Counter[str] = field(default_factory=Counter)  # Authorization headers received


class StaticToken:
    """A credential for the emulator: it accepts this bearer token and nothing else."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes += scopes
        return AccessToken(TOKEN, int(time.time()) + 3600)


@dataclass
class Fault:
    pattern: str  # regex on "METHOD /path"
    status: int
    times: int  # how many requests it answers before it stops
    retry_after: float | None = None
    body: str = '{"error": {"code": "Injected", "message": "injected fault"}}'
    delay_seconds: float = 0.0  # with status 0: answer normally, but this late (a slow or hung service)
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # drop the connection with a TCP reset instead of answering
    # with status 0: answer once the test sets `hold` (a service that answers when the test says); past
    # `hold_seconds` it answers anyway and says so in `held_too_long`, so a test that waits wrongly fails, not hangs
    hold: threading.Event | None = None
    hold_seconds: float = 20.0
    held_too_long: bool = False


class ConnectionReset(Exception):
    """Raised by the emulator's routing when a fault resets the connection; the handler sends the RST."""


@dataclass
class EmulatedCluster:
    raw: RawCluster
    reachable: bool = True  # False: the kubeconfig points at a port where nothing listens
    kubelet_timeouts: set[str] = field(default_factory=set)  # nodes whose pod logs fail like kubelet 10250 timeouts
    diagnostics: bool = True  # False: Log Analytics answers as for a resource without a diagnostic setting
    workspace: str = ""  # where its diagnostic setting sends kube-audit; "" = its subscription's default workspace
    # Azure RBAC dataActions the checker's identity holds on the cluster (e.g. AKS_RBAC_READER_DATA_ACTIONS);
    # None: every read is allowed. A read outside them answers 403 as the AKS authorizer does.
    data_actions: tuple[str, ...] | None = None

    @property
    def id(self) -> str:
        return self.raw.cluster["id"]

    @property
    def name(self) -> str:
        return self.raw.cluster["name"]

    @property
    def audit_workspace(self) -> str:
        subscription = self.id.split("/")[2]
        default = f"/subscriptions/{subscription}/resourceGroups/rg-monitoring/providers/Microsoft.OperationalInsights/workspaces/law-{subscription[:8]}"
        return self.workspace or default


@dataclass
class TokenBucket:
    """ARM's bucket: `capacity` tokens, refilled at `refill_per_second`; one token a request."""

    capacity: float
    refill_per_second: float
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, now: float) -> float:
        """0 when a token was taken; otherwise the seconds until one is available."""
        if self.tokens < 0:
            self.tokens, self.updated = self.capacity, now
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill_per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.refill_per_second


def service_of(method_path: str) -> str:
    """ "arm", "graph", "logs" or "kube", for counting requests per service."""
    path = method_path.split(" ", 1)[1]
    if path.startswith("/k8s/"):
        return "kube"
    if path == "/providers/Microsoft.ResourceGraph/resources":
        return "graph"
    if path.startswith("/v1/") and path.endswith("/query"):
        return "logs"
    return "arm"


class AzureEmulator:
    def __init__(self, clusters: list[EmulatedCluster], network: list[dict[str, Any]], page_size: int = 1000) -> None:
        self.clusters = {cluster.id.lower(): cluster for cluster in clusters}
        self.by_name = {cluster.name: cluster for cluster in clusters}
        self.network = network
        self.page_size = page_size
        self.arm_page_size: int | None = None  # ARM lists longer than this answer in pages linked by nextLink
        self.faults: list[Fault] = []
        # Scopes (subscription or resource group ids) where the identity holds no Reader role: ARM answers 403
        # AuthorizationFailed there, and Resource Graph leaves their rows out, as the services do.
        self.denied_scopes: list[str] = []
        # Management group name -> its subscriptions, for Resource Graph queries of `resourcecontainers`.
        self.management_groups: dict[str, list[str]] = {}
        self._network_by_id: dict[str, dict[str, Any]] | None = None  # built on first ARM read
        self._network_children: dict[str, list[dict[str, Any]]] = {}
        # The Service Tag Discovery API's answer (Microsoft.Network/locations/<region>/serviceTags), when served
        self.service_tags: dict[str, Any] | None = None
        self.latency_seconds = 0.0
        # Every n-th TLS handshake waits this long first (0: none): a probe timed while the checker or the
        # path is loaded, without loading the machine that runs the tests.
        self.slow_handshakes: tuple[int, float] = (0, 0.0)
        self._handshakes = 0
        self.service_latency: dict[str, float] = {}  # per service ("logs": 2.0), else latency_seconds
        self.graph_quota: int | None = None  # Resource Graph queries per window, as the service's per-user quota
        self.graph_window_seconds = 5.0
        self.graph_throttled = 0
        self._graph_window: list[float] = []
        self.arm_reads = (250.0, 25.0)  # ARM per subscription and principal: bucket size, refill per second
        self.arm_writes = (200.0, 10.0)
        self._arm_buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self.logs_quota, self.logs_window_seconds, self.logs_concurrency = 200, 30.0, 5
        self._logs_window: dict[str, list[float]] = {}
        self._logs_running: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        # ("METHOD path", api-version) of every ARM and Resource Graph request: the versions the SDK clients
        # send, for the test that fails when an SDK upgrade changes one the app's parsers rely on
        self.api_versions: Counter[tuple[str, str]] = Counter()
        self.connections = 0
        self.by_service: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()  # 429s answered, by service
        self.log: list[str] = []
        self.keep_log = True  # off for long benchmark runs: counters only
        self._kube_cache: dict[int, dict[str, list[dict[str, Any]]]] = {}
        self._kube_answers: dict[tuple[Any, ...], tuple[int, dict[str, str], bytes]] = {}
        self.kube = KubeStats()
        # Many API server versions serve a list with resourceVersion=0 from the watch cache and ignore `limit`.
        self.watch_cache_ignores_limit = True
        self._lock = threading.Lock()
        self.ca = trustme.CA()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, ca_path: Path) -> AzureEmulator:
        self.ca.cert_pem.write_to_path(str(ca_path))
        self.ca_path = ca_path
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        context.set_alpn_protocols(["h2", "http/1.1"])
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.emulator = emulator
        # The handshake runs on each connection's own thread (`_Handler.setup`), not in the accept loop: a
        # server that shook hands while accepting would leave new connections queued behind each handshake.
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def live_clients(self, **options: Any) -> LiveClients:
        """The real SDK clients pointed at this emulator, trusting its CA (options override the defaults)."""
        defaults: dict[str, Any] = {"timeout_seconds": 5, "retries": 3}
        return LiveClients(
            StaticToken(),
            arm_endpoint=self.url,
            logs_endpoint=f"{self.url}/v1",
            connection_verify=str(self.ca_path),
            **{**defaults, **options},
        )

    def count(self, pattern: str) -> int:
        return sum(n for key, n in self.requests.items() if re.search(pattern, key))

    # --- routing ------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if path == "/_emulator/stats":  # for a benchmark running the emulator in another process; not counted
            return _json(200, self.stats())
        key = f"{method} {path}"
        service = service_of(key)
        principal = hashlib.sha256(str(headers.get("Authorization")).encode()).hexdigest()[:16]
        with self._lock:
            self.requests[key] += 1
            self.by_service[service] += 1
            if service in ("arm", "graph"):
                self.api_versions[key, (query.get("api-version") or [""])[0]] += 1
            if self.keep_log:
                self.log.append(key)
            if service == "kube":
                self.kube.authorizations[str(headers.get("Authorization"))] += 1
            fault = next((f for f in self.faults if f.times > 0 and re.search(f.pattern, key)), None)
            if fault:
                fault.times -= 1
        if service == "logs":
            refused = self._logs_admit(principal)
            if refused:
                return refused
            try:
                return self._answer(method, path, query, headers, body, fault, service, principal)
            finally:
                with self._lock:
                    self._logs_running[principal] -= 1
        return self._answer(method, path, query, headers, body, fault, service, principal)

    def delay_handshake(self) -> None:
        every, seconds = self.slow_handshakes
        with self._lock:
            self._handshakes += 1
            delayed = bool(every) and self._handshakes % every == 0
        if delayed:
            time.sleep(seconds)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": dict(self.by_service), "throttled": dict(self.throttled)}

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Any,
        body: bytes,
        fault: Fault | None,
        service: str,
        principal: str,
    ) -> tuple[int, dict[str, str], bytes]:
        latency = self.service_latency.get(service, self.latency_seconds)
        if latency:
            time.sleep(latency)
        if fault and fault.delay_seconds:
            time.sleep(fault.delay_seconds)
        if fault and fault.hold is not None and not fault.hold.wait(fault.hold_seconds):
            fault.held_too_long = True
        if fault and fault.reset:
            raise ConnectionReset
        if fault and fault.status:
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return fault.status, {"Content-Type": "application/json", **extra, **fault.headers}, fault.body.encode()
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return _json(401, {"error": {"code": "AuthenticationFailed", "message": "no valid bearer token"}})
        if service == "kube":
            return self._kube(path, query, headers)
        if service == "graph":
            return self._with_graph_quota(lambda: self._resource_graph(json.loads(body or b"{}")))
        if service == "logs":
            return self._logs(path.removeprefix("/v1").removesuffix("/query"))
        return self._with_arm_bucket(method, path, query, principal)

    def _logs_admit(self, principal: str) -> tuple[int, dict[str, str], bytes] | None:
        """Log Analytics' per-user limits: a sliding window of queries, and queries running at once."""
        with self._lock:
            now = time.monotonic()
            window = [t for t in self._logs_window.get(principal, []) if now - t < self.logs_window_seconds]
            self._logs_window[principal] = window
            if self._logs_running[principal] >= self.logs_concurrency:
                reason, retry_after = "too many concurrent queries", 1.0
            elif len(window) >= self.logs_quota:
                reason, retry_after = "too many queries", self.logs_window_seconds - (now - window[0])
            else:
                window.append(now)
                self._logs_running[principal] += 1
                return None
            self.throttled["logs"] += 1
        status, headers, payload = _json(
            429, {"error": {"code": "ThrottledError", "message": f"{reason} for this user"}}
        )
        return status, {**headers, "Retry-After": str(math.ceil(retry_after))}, payload

    def _with_arm_bucket(
        self, method: str, path: str, query: dict[str, list[str]], principal: str
    ) -> tuple[int, dict[str, str], bytes]:
        kind = "reads" if method == "GET" else "writes"
        subscription = path.split("/")[2].lower() if path.lower().startswith("/subscriptions/") else ""
        with self._lock:
            bucket = self._arm_buckets.setdefault(
                (subscription, principal, kind), TokenBucket(*(self.arm_reads if kind == "reads" else self.arm_writes))
            )
            wait = bucket.take(time.monotonic())
            remaining = {f"x-ms-ratelimit-remaining-subscription-{kind}": str(int(bucket.tokens))}
            if wait:
                self.throttled["arm"] += 1
        if wait:
            status, headers, payload = _json(
                429,
                {"error": {"code": "SubscriptionRequestsThrottled", "message": f"Number of {kind} requests exceeded"}},
            )
            return status, {**headers, **remaining, "Retry-After": str(math.ceil(wait))}, payload
        status, headers, payload = self._arm(method, path, query)
        return status, {**headers, **remaining}, payload

    def _arm(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        if method == "GET" and self._denied(path):
            action = "/".join(path.split("/")[6:8]) if len(path.split("/")) > 7 else "resources"
            message = (
                f"The client '{TOKEN}' with object id '{TOKEN}' does not have authorization to perform action "
                f"'{action}/read' over scope '{path}' or the scope is invalid. If access was recently granted, "
                "please refresh your credentials."
            )
            return _json(403, {"error": {"code": "AuthorizationFailed", "message": message}})
        credential = re.match(r"^(.+)/listClusterUserCredential$", path, re.IGNORECASE)
        settings = re.match(r"^(.+)/providers/Microsoft.Insights/diagnosticSettings$", path, re.IGNORECASE)
        cluster = self.clusters.get((credential[1] if credential else settings[1] if settings else path).lower())
        if cluster and credential and method == "POST":
            return _json(
                200,
                {
                    "kubeconfigs": [
                        {"name": "clusterUser", "value": base64.b64encode(self._kubeconfig(cluster).encode()).decode()}
                    ]
                },
            )
        if cluster and settings and method == "GET":
            return _json(200, {"value": [_diagnostic_setting(cluster)] if cluster.diagnostics else []})
        if cluster and method == "GET":
            return _json(200, cluster.raw.cluster)
        if method == "GET":
            found = self._network_read(path.lower())
            if found is not None:
                return _json(200, self._arm_page(found, path, query))
        return _json(404, {"error": {"code": "ResourceNotFound", "message": f"The Resource '{path}' was not found."}})

    def _arm_page(self, answer: Any, path: str, query: dict[str, list[str]]) -> Any:
        """A list's page from `$skiptoken` on, with the nextLink to the rest, when `arm_page_size` is set."""
        items = answer.get("value") if isinstance(answer, dict) else None
        if self.arm_page_size is None or items is None:
            return answer
        start = int((query.get("$skiptoken") or ["0"])[0])
        end = start + self.arm_page_size
        page: dict[str, Any] = {"value": items[start:end]}
        if end < len(items):
            version = (query.get("api-version") or [""])[0]
            page["nextLink"] = f"{self.url}{path}?api-version={version}&%24skiptoken={end}"
        return page

    def _network_read(self, path: str) -> Any:
        """A network resource by id; or the list of a parent's children (a resource group's zones, a zone's
        links, a policy's rule collection groups); or a subscription's resources of one type."""
        if self._network_by_id is None:
            self._network_by_id = {r["id"].lower(): r for r in self.network}
            for resource in self.network:
                parent = resource["id"].lower().rsplit("/", 1)[0]
                self._network_children.setdefault(parent, []).append(resource)
                parts = resource["id"].lower().split("/")
                by_type = f"/subscriptions/{parts[2]}/providers/{parts[6]}/{parts[7]}"
                self._network_children.setdefault(by_type, []).append(resource)
        if self.service_tags is not None and re.match(
            r"^/subscriptions/[^/]+/providers/microsoft\.network/locations/[^/]+/servicetags$", path
        ):
            return {**self.service_tags, "id": f"{path.rsplit('/locations/', 1)[0]}/serviceTags/Public"}
        if path in self._network_by_id:
            return self._network_by_id[path]
        if path in self._network_children:
            return {"value": self._network_children[path]}
        if re.match(r"^/subscriptions/[^/]+(/resourcegroups/[^/]+)?/providers/microsoft\.network/[^/]+$", path) or (
            path.endswith(
                ("/rulecollectiongroups", "/virtualnetworklinks", "/hubvirtualnetworkconnections", "/routingintent")
            )
        ):
            return {"value": []}  # a list with nothing in it
        return None

    def _denied(self, resource_id: str) -> bool:
        key = resource_id.lower()
        return any(key == scope.lower() or key.startswith(scope.lower() + "/") for scope in self.denied_scopes)

    def _with_graph_quota(self, answer: Any) -> tuple[int, dict[str, str], bytes]:
        """The per-user quota: a sliding window, announced in x-ms-user-quota-* headers; 429 beyond it."""
        if self.graph_quota is None:
            return answer()
        with self._lock:
            now = time.monotonic()
            self._graph_window = [t for t in self._graph_window if now - t < self.graph_window_seconds]
            resets = (
                self.graph_window_seconds - (now - self._graph_window[0])
                if self._graph_window
                else self.graph_window_seconds
            )
            quota = {"x-ms-user-quota-resets-after": time.strftime("%H:%M:", time.gmtime(0)) + f"{resets:06.3f}"}
            if len(self._graph_window) >= self.graph_quota:
                self.graph_throttled += 1
                self.throttled["graph"] += 1
                status, headers, payload = _json(
                    429,
                    {"error": {"code": "RateLimiting", "message": "Please provide below info when asking for support"}},
                )
                return status, {**headers, **quota, "x-ms-user-quota-remaining": "0"}, payload
            self._graph_window.append(now)
            remaining = self.graph_quota - len(self._graph_window)
        status, headers, payload = answer()
        return status, {**headers, **quota, "x-ms-user-quota-remaining": str(remaining)}, payload

    def _resource_graph(self, request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        query = str(request.get("query", "")).lower()
        subscriptions = {s.lower() for s in request.get("subscriptions") or []}
        if query.startswith("resourcecontainers") and "microsoft.resources/subscriptions" in query:
            groups = request.get("managementGroups") or []
            members = sorted({s for group in groups for s in self.management_groups.get(group, [])})
            rows = [{"id": f"/subscriptions/{s}", "subscriptionId": s} for s in members]
        elif "microsoft.containerservice/managedclusters" in query:
            rows = [_rg_row(c.raw.cluster) for c in self.clusters.values()]
        else:
            # the types the query names (`type in~ ('...')`, `type =~ '...'`): child resources are not rows
            rows = [_rg_row(r) for r in self.network if f"'{r['type'].lower()}'" in query]
        if subscriptions:
            rows = [row for row in rows if row["subscriptionId"].lower() in subscriptions]
        rows = [row for row in rows if not self._denied(row["id"])]
        start = int((request.get("options") or {}).get("$skipToken") or 0)
        page = rows[start : start + self.page_size]
        answer: dict[str, Any] = {
            "totalRecords": len(rows),
            "count": len(page),
            "data": page,
            "facets": [],
            "resultTruncated": "false",
        }
        if start + self.page_size < len(rows):
            answer["$skipToken"] = str(start + self.page_size)
        return _json(200, answer)

    def _logs(self, resource_id: str) -> tuple[int, dict[str, str], bytes]:
        """A query scoped to a cluster (its rows) or to a workspace (the rows of every cluster sending to it)."""
        key = resource_id.lower()
        if "/microsoft.operationalinsights/workspaces/" in key:
            sources = [c for c in self.clusters.values() if c.diagnostics and c.audit_workspace.lower() == key]
        else:
            cluster = self.clusters.get(key)
            if cluster is None or not cluster.diagnostics:
                return _json(
                    400,
                    {
                        "error": {
                            "code": "BadArgumentError",
                            "message": "The request had some invalid properties",
                            "innererror": {
                                "code": "ResourceHasNoWorkspaces",
                                "message": "The resource has no diagnostic settings sending logs to a workspace",
                            },
                        }
                    },
                )
            sources = [cluster]
        columns = [
            {"name": "_ResourceId", "type": "string"},
            {"name": "userAgent", "type": "string"},
            {"name": "verb", "type": "string"},
            {"name": "requests", "type": "long"},
            {"name": "throttled", "type": "long"},
        ]
        table_rows = [
            [source.id.lower(), row["userAgent"], row["verb"], int(row["requests"]), int(row["throttled"])]
            for source in sources
            for row in source.raw.logs.get("apiserver-requests", [])
        ]
        return _json(200, {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": table_rows}]})

    def _kubeconfig(self, cluster: EmulatedCluster) -> str:
        server = f"{self.url}/k8s/{cluster.name}" if cluster.reachable else "https://127.0.0.1:9"
        ca = base64.b64encode(self.ca.cert_pem.bytes()).decode()
        user: dict[str, Any] = {"token": "local-account-token-never-used"}
        if (cluster.raw.cluster.get("properties") or {}).get("aadProfile"):
            user = {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1beta1",
                    "command": "kubelogin",
                    "args": ["get-token", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630"],
                }
            }
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster.name, "cluster": {"server": server, "certificate-authority-data": ca}}],
            "users": [{"name": f"clusterUser_{cluster.name}", "user": user}],
            "contexts": [
                {"name": cluster.name, "context": {"cluster": cluster.name, "user": f"clusterUser_{cluster.name}"}}
            ],
            "current-context": cluster.name,
        }
        return json.dumps(config)  # JSON is YAML

    def _kube(self, path: str, query: dict[str, list[str]], headers: Any) -> tuple[int, dict[str, str], bytes]:
        """A cluster's API server: lists (selectors, paging, the watch cache), objects by name, pod logs;
        answers gzip-compressed when asked and large, as the API server does, and counted in `kube`."""
        status, answer_headers, payload = self._kube_answer(path, query, headers)
        with self._lock:
            self.kube.requests += 1
            self.kube.body_bytes += len(payload)
            if self.keep_log:
                self.kube.queries.append(f"{path}?{'&'.join(f'{k}={v[0]}' for k, v in sorted(query.items()))}")
        if "gzip" in headers.get("Accept-Encoding", "") and len(payload) > GZIP_THRESHOLD_BYTES:
            payload = gzip.compress(payload, compresslevel=1)
            answer_headers = {**answer_headers, "Content-Encoding": "gzip"}
        with self._lock:
            self.kube.wire_bytes += len(payload)
        return status, answer_headers, payload

    def _kube_answer(self, path: str, query: dict[str, list[str]], headers: Any) -> tuple[int, dict[str, str], bytes]:
        _, _, name, rest = path.split("/", 3)
        cluster = self.by_name.get(name)
        if cluster is None:
            return _json(404, {"kind": "Status", "code": 404})
        items = self._kube_cache.get(id(cluster.raw.kube))
        if items is None:
            items = self._kube_cache.setdefault(id(cluster.raw.kube), _kube_items(cluster.raw))
        rest = "/" + rest
        logs = re.match(r"^/api/v1/namespaces/kube-system/pods/([^/]+)/log$", rest)
        route = KUBE_ROUTES.get(rest)
        by_name = next(((match, entry) for entry in KUBE_OBJECTS if (match := entry[0].match(rest))), None)
        needed = f"{AKS_DATA}/pods/read" if logs else route[3] if route else by_name[1][3] if by_name else None
        if needed and cluster.data_actions is not None and needed not in cluster.data_actions:
            resource = "pods/log" if logs else route[2] if route else by_name[1][2] if by_name else ""
            return _forbidden(resource, "get" if logs or by_name else "list")
        if logs:
            return self._kube_log(cluster, items, logs[1])
        if by_name:
            match, (_, kind, _, _) = by_name
            found = next((item for item in items.get(kind, []) if item["metadata"]["name"] == match[1]), None)
            if found is None:
                return _json(404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": "not found"})
            return _json(200, found)
        if route is None:
            return _json(404, {"kind": "Status", "code": 404})
        first = {key: values[0] for key, values in query.items()}
        limit = int(first["limit"]) if first.get("limit", "").isdigit() and int(first["limit"]) > 0 else None
        whole = limit is not None and first.get("resourceVersion") == "0" and self.watch_cache_ignores_limit
        with self._lock:
            self.kube.lists += 1
            self.kube.unpaged += limit is None
            self.kube.whole_from_cache += whole
        partial = PARTIAL_METADATA in headers.get("Accept", "")
        namespace = rest.split("/")[4] if rest.startswith("/api/v1/namespaces/") else None
        selectors = (first.get("labelSelector", ""), first.get("fieldSelector", ""))
        page = (None if whole else limit, first.get("continue", ""))
        cache_key = (id(cluster.raw.kube), rest, selectors, partial, page)
        answer = self._kube_answers.get(cache_key)
        if answer is None:  # the same cluster data answers the same bytes: computed once (benchmarks)
            selected = _selected(items.get(route[1], []), namespace, *selectors)
            answer = self._kube_answers.setdefault(cache_key, _kube_list(selected, *route[:2], partial, *page))
        return answer

    def _kube_log(
        self, cluster: EmulatedCluster, items: dict[str, list[dict[str, Any]]], pod_name: str
    ) -> tuple[int, dict[str, str], bytes]:
        pod = next((p for p in items.get("Pod", []) if p["metadata"]["name"] == pod_name), None)
        if pod is None:
            return _json(404, {"kind": "Status", "code": 404, "message": f'pods "{pod_name}" not found'})
        node = pod.get("spec", {}).get("nodeName")
        if node in cluster.kubelet_timeouts:
            ip = _node_ip(items, node)
            message = f'Get "https://{ip}:10250/containerLogs/kube-system/{pod_name}": dial tcp {ip}:10250: i/o timeout'
            return _json(
                500, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": 500}
            )
        text = (cluster.raw.pod_logs or {}).get(
            f"kube-system/{pod_name}", "I1125 04:00:00.000000       1 main.go:42] running\n"
        )
        return 200, {"Content-Type": "text/plain"}, text.encode()


class _Headers(dict[str, str]):
    """A request's headers by lower-cased name (`get` as on `http.client.HTTPMessage`, case-insensitive)."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive. The request head is read and the answer written without `http.server`'s email
    parser and its header-by-header writes: in a benchmark the emulator shares the machine's cores with the
    sweep it serves, and those were a third of its CPU."""

    emulator: AzureEmulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # an answer is one write, and must not wait for the client's delayed ACK

    def setup(self) -> None:
        self.emulator.delay_handshake()
        self.request.do_handshake()  # a failed handshake ends this connection only (`_Server.handle_error`)
        super().setup()

    def parse_request(self) -> bool:
        words = self.raw_requestline.decode("iso-8859-1").split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self.send_error(400, f"bad request line {self.raw_requestline[:80]!r}")
            return False
        self.command, self.path, self.request_version = words
        headers = _Headers()
        for _ in range(100):  # http.client's limit on header lines
            line = self.rfile.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("iso-8859-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            self.send_error(431, "too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]
        connection = headers.get("Connection", "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive"
        )
        return True

    def _serve(self) -> None:
        url = urlparse(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            status, headers, payload = self.emulator.handle(
                self.command, url.path, parse_qs(url.query), self.headers, body
            )
        except ConnectionReset:  # SO_LINGER 0: closing sends RST, as a middlebox dropping the flow does
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        reason = self.responses.get(status, ("",))[0]
        head = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers.items())]
        head += [f"Content-Length: {len(payload)}", "", ""]
        self.wfile.write("\r\n".join(head).encode("iso-8859-1") + payload)

    do_GET = do_POST = _serve

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Connections waiting to be accepted. socketserver's 5 drops the SYNs of a burst of new connections, and
    # clients retry them 1, 3 and 7 s later: a stall no Azure endpoint or API server shows.
    request_queue_size = 1024
    emulator: AzureEmulator

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self.emulator._lock:
            self.emulator.connections += 1  # accepted TLS connections (a probe makes one, and no request)
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a connection the emulator reset on purpose, or a client that went away: nothing to report
        super().handle_error(request, client_address)


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _forbidden(resource: str, verb: str) -> tuple[int, dict[str, str], bytes]:
    """The AKS authorizer's answer to a read the identity's Azure role does not allow."""
    name, _, subresource = resource.partition("/")
    what = f'resource "{name}"' + (f' subresource "{subresource}"' if subresource else "")
    message = (
        f'{resource} is forbidden: User "00000000-0000-0000-0000-00000000a11c" cannot {verb} {what} in API group "": '
        "User does not have access to the resource in Azure. Update role assignment to allow access."
    )
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": "Forbidden"}
    return _json(403, {**status, "code": 403})


def _diagnostic_setting(cluster: EmulatedCluster) -> dict[str, Any]:
    return {
        "id": f"{cluster.id}/providers/microsoft.insights/diagnosticSettings/aks-audit",
        "name": "aks-audit",
        "properties": {
            "workspaceId": cluster.audit_workspace,
            "logs": [
                {"category": "kube-audit", "enabled": True},
                {"category": "kube-apiserver", "enabled": False},
            ],
        },
    }


def _rg_row(resource: dict[str, Any]) -> dict[str, Any]:
    parts = resource["id"].split("/")
    return {**resource, "subscriptionId": parts[2], "resourceGroup": parts[4].lower(), "type": resource["type"].lower()}


def _selected(
    items: list[dict[str, Any]], namespace: str | None, label_selector: str, field_selector: str
) -> list[dict[str, Any]]:
    """The items of a namespace (None: every one) that match both selectors, as the API server filters."""
    labels = _requirements(label_selector)
    fields = _requirements(field_selector)

    def field_value(item: dict[str, Any], path: str) -> str:
        value: Any = item
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return "" if value is None else str(value)

    return [
        item
        for item in items
        if (namespace is None or item.get("metadata", {}).get("namespace", namespace) == namespace)
        and all(
            _matches(op, (item.get("metadata", {}).get("labels") or {}).get(key), values) for key, op, values in labels
        )
        and all(_matches(op, field_value(item, key), values) for key, op, values in fields)
    ]


def _requirements(selector: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """`a=b,c!=d,e in (f,g)` -> [(key, operator, values)] (the selector syntax kubectl sends)."""
    parsed = []
    for match in re.finditer(r"\s*([^,=!\s]+)\s*(?:(in|notin)\s*\(([^)]*)\)|(==|=|!=)\s*([^,]*))\s*(?:,|$)", selector):
        key, set_op, members, op, value = match.groups()
        if set_op:
            parsed.append((key, set_op, tuple(m.strip() for m in members.split(","))))
        else:
            parsed.append((key, "!=" if op == "!=" else "=", (value.strip(),)))
    return parsed


def _matches(op: str, value: str | None, values: tuple[str, ...]) -> bool:
    if op in ("=", "in"):
        return value in values
    return value not in values


def _kube_list(
    selected: list[dict[str, Any]], list_kind: str, kind: str, partial: bool, limit: int | None, token: str
) -> tuple[int, dict[str, str], bytes]:
    """One page (all of it without `limit`) of a list answer; `continue` is the next item's offset."""
    start = int(base64.b64decode(token).decode()) if token else 0
    end = len(selected) if limit is None else start + limit
    metadata: dict[str, Any] = {"resourceVersion": "1"}
    if end < len(selected):
        metadata["continue"] = base64.b64encode(str(end).encode()).decode()
    page = [dict(item) for item in selected[start:end]]
    for item in page:
        item.pop("kind", None)  # a list call returns items without kind, as the API server does
        item.pop("apiVersion", None)
    if partial:
        body = {
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            "items": [
                {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": item["metadata"]}
                for item in page
            ],
        }
        return _json(200, body)
    if kind == "Secret":
        for item in page:
            item.setdefault("data", {"release": "SDRzSUFBQUFBQUFDLytTOWE=="})  # what a full GET would leak
    return _json(200, {"kind": list_kind, "apiVersion": "v1", "metadata": metadata, "items": page})


def _kube_items(raw: RawCluster) -> dict[str, list[dict[str, Any]]]:
    items: dict[str, list[dict[str, Any]]] = {}
    for document in raw.kube or []:
        list_kind = document.get("kind", "")
        for item in document.get("items", [document]):
            kind = item.get("kind") or list_kind.removesuffix("List")
            if kind == "PartialObjectMetadata":
                kind = "Secret"
            items.setdefault(kind, []).append(item)
    return items


def _node_ip(items: dict[str, list[dict[str, Any]]], node: str) -> str:
    for item in items.get("Node", []):
        if item["metadata"]["name"] == node:
            return next(a["address"] for a in item["status"]["addresses"] if a["type"] == "InternalIP")
    return "10.224.0.4"
