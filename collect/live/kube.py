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

import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from collect.live.clients import AKS_SERVER_SCOPE, LiveClients
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


def user_endpoint(clients: LiveClients, cluster: dict[str, Any]) -> KubeEndpoint:
    """The API server URL, its CA and a bearer token, from the cluster user credentials."""
    subscription, group, name = cluster["id"].split("/")[2], cluster["id"].split("/")[4], cluster["name"]
    credentials = clients.container_service(subscription).managed_clusters.list_cluster_user_credentials(group, name)
    config = yaml.load(  # a safe loader, libyaml's when built with it: ~10x faster over a sweep
        base64.b64decode(credentials.kubeconfigs[0].value)
        if isinstance(credentials.kubeconfigs[0].value, str)
        else credentials.kubeconfigs[0].value,
        Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader),
    )
    entry = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    if "exec" in user or "auth-provider" in user:
        token = clients.credential.get_token(AKS_SERVER_SCOPE).token
    else:
        token = user.get("token") or ""
    return KubeEndpoint(
        server=entry["server"], ca_pem=base64.b64decode(entry.get("certificate-authority-data", "")), token=token
    )


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
            document = json.loads(read().data)
        except ApiException as exc:
            readings.problems.setdefault(source, Problem("error", _api_error(exc, source)))
            continue
        except (HTTPError, OSError) as exc:
            if index == 0:
                raise Unreachable(_network_error(exc)) from None
            readings.problems.setdefault(source, Problem("error", _network_error(exc)))
            continue
        except ValueError:
            readings.problems.setdefault(
                source, Problem("error", f"{source.value}: the API server answered with malformed JSON")
            )
            continue
        if source is Source.HELM and document.get("kind") == "ConfigMapList":
            for item in document.get("items", []):
                item.pop("data", None)  # Tiller's release payload: not needed, not kept
        readings.documents.append(document)
    pods = next((d.get("items", []) for d in readings.documents if d.get("kind") == "PodList"), [])
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
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node not in by_node:
            by_node[node] = pod["metadata"]["name"]
    for node, pod_name in sorted(by_node.items())[:KUBELET_PROBE_MAX_NODES]:
        try:
            core.read_namespaced_pod_log(pod_name, "kube-system", tail_lines=1, **options).data  # noqa: B018
            readings.kubelet.append({"node": node, "ok": True, "error": None})
        except (ApiException, HTTPError, OSError) as exc:
            readings.kubelet.append({"node": node, "ok": False, "error": _short(exc)})


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
