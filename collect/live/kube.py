"""The Kubernetes reads, with the cluster *user* kubeconfig (never admin) and, for Entra ID clusters,
a token for the AKS server application instead of kubelogin.

Helm 3 release secrets are listed as PartialObjectMetadataList: the API server returns names and
labels only, so no release payload (values, often with secrets) ever leaves the cluster.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
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


class KubeconfigError(ValueError):
    """The user kubeconfig ARM returned cannot be used; the message says what is wrong with it."""


def user_endpoint(clients: LiveClients, cluster: dict[str, Any]) -> KubeEndpoint:
    """The API server URL, its CA and a bearer token, from the cluster user credentials."""
    subscription, group, name = parse_cluster_id(cluster["id"])
    credentials = clients.container_service(subscription).managed_clusters.list_cluster_user_credentials(group, name)
    if not credentials.kubeconfigs:
        raise KubeconfigError("ARM returned no user kubeconfig")
    value = credentials.kubeconfigs[0].value
    try:
        config = load_document((base64.b64decode(value) if isinstance(value, str) else bytes(value or b"")).decode())
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


def read_cluster(endpoint: KubeEndpoint, timeout: float) -> KubeReadings:
    readings = KubeReadings()
    with tempfile.TemporaryDirectory() as scratch:
        ca_file = Path(scratch) / "ca.crt"
        ca_file.write_bytes(endpoint.ca_pem)
        configuration = k8s.Configuration()
        configuration.host = endpoint.server
        configuration.ssl_ca_cert = str(ca_file)
        configuration.api_key = {"authorization": endpoint.token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        configuration.retries = 1
        with k8s.ApiClient(configuration) as api_client:
            _read_all(api_client, readings, timeout)
    return readings


def _read_all(api_client: k8s.ApiClient, readings: KubeReadings, timeout: float) -> None:
    core = k8s.CoreV1Api(api_client)
    custom = k8s.CustomObjectsApi(api_client)
    options = {"_preload_content": False, "_request_timeout": timeout}
    reads: list[tuple[Source, Callable[[], Any]]] = [
        (Source.PODS, lambda: core.list_namespaced_pod("kube-system", **options)),
        (Source.NODES, lambda: core.list_node(**options)),
        (
            Source.NODE_METRICS,
            lambda: custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes", **options),
        ),
        (Source.EVENTS, lambda: core.list_event_for_all_namespaces(**options)),
        (
            Source.HELM,
            lambda: core.list_secret_for_all_namespaces(
                label_selector="owner=helm", _headers={"Accept": PARTIAL_METADATA}, **options
            ),
        ),
        (Source.HELM, lambda: core.list_namespaced_config_map("kube-system", label_selector="OWNER=TILLER", **options)),
    ]
    for index, (source, read) in enumerate(reads):
        try:
            document = kube_list(load_json(read().data))
        except ApiException as exc:
            readings.problems.setdefault(source, Problem("error", _api_error(exc, source)))
            continue
        except (HTTPError, OSError) as exc:
            if index == 0:
                raise Unreachable(_network_error(exc)) from None
            readings.problems.setdefault(source, Problem("error", _network_error(exc)))
            continue
        except ValueError as exc:
            readings.problems.setdefault(
                source, Problem("error", f"{source.value}: the API server answered with malformed JSON ({exc})")
            )
            continue
        if source is Source.HELM and document.get("kind") == "ConfigMapList":
            for item in document["items"]:
                item.pop("data", None)  # Tiller's release payload: not needed, not kept
        readings.documents.append(strip_secret_values(document))
    pods = [
        pod
        for document in readings.documents
        if document.get("kind") == "PodList"
        for pod in document["items"]
        if isinstance(pod.get("metadata"), dict) and isinstance(pod["metadata"].get("name"), str)
    ]
    _read_tunnel_logs(core, pods, readings, options)
    _probe_kubelets(core, pods, readings, options)


def _read_tunnel_logs(
    core: k8s.CoreV1Api, pods: list[dict[str, Any]], readings: KubeReadings, options: dict[str, Any]
) -> None:
    for pod in pods:
        name = pod["metadata"]["name"]
        if not name.startswith(TUNNEL_PREFIXES) or "autoscaler" in name:
            continue
        try:
            text = core.read_namespaced_pod_log(name, "kube-system", tail_lines=LOG_TAIL_LINES, **options).data
        except (ApiException, HTTPError, OSError) as exc:
            readings.problems.setdefault(Source.POD_LOGS, Problem("error", f"logs of {name}: {_short(exc)}"))
            continue
        readings.pod_logs[f"kube-system/{name}"] = text.decode("utf-8", errors="replace")
    readings.logs_collected = Source.POD_LOGS not in readings.problems


def _probe_kubelets(
    core: k8s.CoreV1Api, pods: list[dict[str, Any]], readings: KubeReadings, options: dict[str, Any]
) -> None:
    """Reading one log line goes API server -> tunnel -> kubelet :10250 on that pod's node."""
    by_node: dict[str, str] = {}
    for pod in pods:
        spec = pod.get("spec")
        node = spec.get("nodeName") if isinstance(spec, dict) else None
        if isinstance(node, str) and node and node not in by_node:
            by_node[node] = pod["metadata"]["name"]
    for node, pod_name in sorted(by_node.items())[:KUBELET_PROBE_MAX_NODES]:
        try:
            core.read_namespaced_pod_log(pod_name, "kube-system", tail_lines=1, **options).data  # noqa: B018
            readings.kubelet.append({"node": node, "ok": True, "error": None})
        except (ApiException, HTTPError, OSError) as exc:
            readings.kubelet.append({"node": node, "ok": False, "error": _short(exc)})


def kube_list(document: Any) -> dict[str, Any]:
    """A list answer as the API server sends it: an object with a "kind" and a list of objects in "items"."""
    if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
        raise ValueError(f"expected a Kubernetes List object, got {type(document).__name__}")
    items = document.get("items")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError(f'{document["kind"]}: "items" should be a list of objects')
    return document


def _api_error(exc: ApiException, source: Source) -> str:
    if exc.status in (401, 403):
        return f"{exc.status} {exc.reason}: the checker's identity cannot read {source.value} (grant Azure Kubernetes Service RBAC Reader)"
    return f"{exc.status} {exc.reason}: {_short(exc)}"


def _short(exc: Exception) -> str:
    if isinstance(exc, ApiException) and exc.body:
        try:
            return str(json.loads(exc.body).get("message") or exc.reason)[:300]
        except (ValueError, AttributeError):
            return str(exc.body)[:300]
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
