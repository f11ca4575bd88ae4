"""How the Kubernetes reads treat the API server they diagnose, against the emulator's API server (selectors,
paging, the watch cache that ignores `limit`, gzip): lists paged or replaced by reads by name, tenant
namespaces never read, per-cluster bounds that end in a named `skipped`, local-account tokens never sent,
no CA refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from collect.live.estate import collect_one
from collect.live.kube import PAGE_SIZE, KubeEndpoint
from collect.raw import RawCluster
from model.finding import Finding, Status
from sweep.core.evaluate import evaluate_raw
from sweep.core.settings import Settings
from tests.emulator.server import AzureEmulator, EmulatedCluster, Fault
from tools import make_example_estate as estate

STOREFRONT = "aks-storefront-prod"
HOSTILE = "dial tcp 10.1.2.3:10250: i/o timeout [Open the runbook](https://attacker.example)"
LOCAL_TOKEN = "local-account-token-never-used"  # what the emulator's kubeconfig holds for non-Entra clusters


def event(namespace: str, name: str, message: str, kind: str = "Warning") -> dict[str, object]:
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {"kind": "Pod", "name": name.split(".")[0], "namespace": namespace},
        "reason": "BackOff",
        "message": message,
        "type": kind,
        "count": 1,
    }


def kube_proxy_pods(raw: RawCluster) -> dict[str, object]:
    """kube-proxy, a DaemonSet: one pod on each node of the cluster (labelled as AKS labels it)."""
    nodes = [item for document in raw.kube or [] for item in document.get("items", []) if item.get("kind") == "Node"]
    items = [
        {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": f"kube-proxy-{index:05d}",
                "namespace": "kube-system",
                "labels": {"component": "kube-proxy", "tier": "node"},
            },
            "spec": {"nodeName": node["metadata"]["name"]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        }
        for index, node in enumerate(nodes)
    ]
    return {"kind": "PodList", "apiVersion": "v1", "items": items}


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[AzureEmulator]:
    storefront = estate.helm_history()
    noisy = [event("kube-system", f"coredns.{n:x}", f"Readiness probe failed {'x' * 4000}") for n in range(1_200)]
    storefront.kube = [
        *(storefront.kube or []),
        kube_proxy_pods(storefront),
        {"kind": "EventList", "apiVersion": "v1", "items": [event("tenant-a", "web.1", HOSTILE), *noisy]},
        {"kind": "EventList", "apiVersion": "v1", "items": [event("kube-system", "coredns.info", "Pulled", "Normal")]},
    ]
    local = estate.healthy()  # a cluster with local accounts: no Entra ID, a static token in its kubeconfig
    local.cluster["properties"].pop("aadProfile")
    local.cluster["properties"]["disableLocalAccounts"] = False
    clusters = [EmulatedCluster(storefront), EmulatedCluster(local)]
    server = AzureEmulator(clusters, [*(storefront.network or []), *(local.network or [])])
    server.start(tmp_path / "ca.pem")
    yield server
    server.stop()


def collect(emulator: AzureEmulator, name: str = STOREFRONT, **options: object) -> RawCluster:
    clients = emulator.live_clients(retries=1, **{"read_secrets": True, **options})
    raw = collect_one(clients, emulator.by_name[name].id, {}, 2, "aks-reach-clients")
    assert isinstance(raw, RawCluster)
    return raw


def findings(raw: RawCluster) -> dict[str, Finding]:
    return {f.check: f for f in evaluate_raw(raw, Settings.from_env({})).findings}


def queries(emulator: AzureEmulator) -> list[tuple[str, dict[str, str]]]:
    parsed = [urlsplit(query) for query in emulator.kube.queries]
    return [(q.path.split("/", 3)[3], {k: v[0] for k, v in parse_qs(q.query).items()}) for q in parsed]


def test_every_list_is_paged_narrowed_and_compressed_and_nodes_are_read_by_name(emulator: AzureEmulator) -> None:
    raw = collect(emulator)
    lists = [(path, query) for path, query in queries(emulator) if not path.endswith("/log") and "/nodes/" not in path]
    assert emulator.kube.unpaged == 0 and lists
    assert all(0 < int(query["limit"]) <= PAGE_SIZE for _, query in lists)
    assert all("labelSelector" in query or "fieldSelector" in query for _, query in lists)
    # the watch cache only for the tunnel pods, a small answer; it ignores `limit` and sends them whole
    cached = [query["labelSelector"] for path, query in lists if query.get("resourceVersion") == "0"]
    assert cached == ["app in (konnectivity-agent,aks-link)", "component=tunnel"]
    assert emulator.kube.whole_from_cache == 2
    read = {path for path, _ in queries(emulator)}
    assert "api/v1/nodes" not in read and "apis/metrics.k8s.io/v1beta1/nodes" not in read  # never listed
    tunnel_nodes = {item["spec"]["nodeName"] for d in raw.kube if d["kind"] == "PodList" for item in d["items"]}
    assert {path.rsplit("/", 1)[1] for path in read if path.startswith("api/v1/nodes/")} == tunnel_nodes
    assert emulator.kube.wire_bytes < emulator.kube.body_bytes / 5  # gzip: the events are most of it
    # the same verdicts as from whole lists
    result = findings(raw)
    assert result["helm-history"].status is Status.FAIL and result["konnectivity-agent"].status is Status.PASS


def test_events_are_kube_system_warnings_read_in_pages(emulator: AzureEmulator) -> None:
    raw = collect(emulator)
    (events,) = [d for d in raw.kube if d["kind"] == "EventList"]
    assert len(events["items"]) == 1_200 and {e["type"] for e in events["items"]} == {"Warning"}
    pages = [query for path, query in queries(emulator) if path == "api/v1/namespaces/kube-system/events"]
    assert len(pages) == 3 and [("continue" in page) for page in pages] == [False, True, True]
    assert all(page["fieldSelector"] == "type=Warning" for page in pages)


def test_a_hostile_event_in_a_tenant_namespace_is_not_read(emulator: AzureEmulator) -> None:
    raw = collect(emulator)
    assert "attacker.example" not in json.dumps(raw.kube)
    assert not [path for path, _ in queries(emulator) if path == "api/v1/events"]  # never every namespace
    kubelet = findings(raw)["kubelet-port"]
    assert kubelet.status is Status.PASS and "10.1.2.3" not in kubelet.detail


def test_the_kubelet_probe_samples_one_kube_proxy_pod_per_node(emulator: AzureEmulator) -> None:
    user_node = "aks-user-66436760-vmss000001"
    emulator.by_name[STOREFRONT].kubelet_timeouts = {user_node}
    raw = collect(emulator)
    probed = {probe["node"]: probe["ok"] for probe in raw.probes["kubelet"]}
    assert len(probed) == 5 and probed[user_node] is False  # a node without a tunnel pod is probed too
    sample = [query for path, query in queries(emulator) if query.get("labelSelector") == "component=kube-proxy"]
    assert sample == [{"labelSelector": "component=kube-proxy", "limit": "20"}]  # one page, never followed
    assert findings(raw)["kubelet-port"].status is Status.FAIL


def test_the_object_bound_skips_the_sources_past_it_and_names_the_setting(emulator: AzureEmulator) -> None:
    raw = collect(emulator, kube_max_objects=1_000)
    result = findings(raw)
    for check, source in (("helm-history", "kube:helm"),):
        assert result[check].status is Status.SKIPPED
        assert "bound of 1,000 objects" in result[check].detail and "AKS_REACH_KUBE_MAX_OBJECTS" in result[check].detail
        assert raw.problems[source].kind == "unavailable"
    assert "AKS_REACH_KUBE_MAX_OBJECTS" in raw.problems["kube:events"].message
    assert result["konnectivity-agent"].status is Status.PASS  # read before the bound: still judged
    assert not [f for f in result.values() if f.status is Status.ERROR]


def test_the_byte_bound_stops_the_read_that_crosses_it(emulator: AzureEmulator) -> None:
    raw = collect(emulator, kube_max_read_mb=1)  # the 1,200 events are about 5 MB
    message = raw.problems["kube:events"].message
    assert "bound of 1 MiB read from this API server (AKS_REACH_KUBE_MAX_READ_MB)" in message
    assert "kube:helm" in raw.problems and "kube:pods" not in raw.problems
    assert findings(raw)["helm-history"].status is Status.SKIPPED


def test_secrets_are_not_listed_by_default(emulator: AzureEmulator) -> None:
    raw = collect(emulator, read_secrets=False)
    helm = findings(raw)["helm-history"]
    assert helm.status is Status.SKIPPED and "AKS_REACH_READ_SECRETS=true" in helm.detail
    assert not [path for path, _ in queries(emulator) if "secrets" in path]
    assert Settings.from_env({}).read_secrets is False


def test_a_local_account_token_is_never_sent_unless_allowed(emulator: AzureEmulator) -> None:
    raw = collect(emulator, "aks-payments-prod")
    result = findings(raw)
    for check in ("konnectivity-agent", "helm-history"):
        assert result[check].status is Status.SKIPPED
        assert "local-account tokens are cluster-admin" in result[check].detail
        assert "--enable-aad --disable-local-accounts" in result[check].detail
    assert result["apiserver-probe"].status is Status.PASS  # the probe needs no token
    assert f"Bearer {LOCAL_TOKEN}" not in emulator.kube.authorizations and emulator.kube.requests == 0
    assert Settings.from_env({}).use_local_account_token is False
    allowed = collect(emulator, "aks-payments-prod", use_local_account_token=True)
    assert emulator.kube.authorizations[f"Bearer {LOCAL_TOKEN}"] > 0  # sent only when the setting says so
    assert "401" in allowed.problems["kube:pods"].message  # (the emulator accepts Entra tokens only)


def test_a_kubeconfig_without_a_ca_fails_the_kubernetes_sources_in_one_line(emulator: AzureEmulator) -> None:
    config = {
        "clusters": [{"name": "c", "cluster": {"server": emulator.url + "/k8s/" + STOREFRONT}}],
        "users": [{"name": "u", "user": {"exec": {"command": "kubelogin"}}}],
    }
    value = base64.b64encode(json.dumps(config).encode()).decode()
    body = json.dumps({"kubeconfigs": [{"name": "clusterUser", "value": value}]})
    emulator.faults.append(Fault(f"{STOREFRONT}/listClusterUserCredential$", 200, times=5, body=body))
    raw = collect(emulator)
    problem = raw.problems["kube:pods"]
    assert problem.kind == "error" and "no certificate-authority-data" in problem.message
    assert "system trust store" in problem.message and "\n" not in problem.message
    assert emulator.kube.requests == 0


def test_the_endpoints_repr_keeps_the_token_out() -> None:
    endpoint = KubeEndpoint("https://aks.example:443", b"---CA---", "eyJ0eXAiOiJKV1QiLCJhbGci.secret")
    assert "eyJ0eXAi" not in repr(endpoint) and "aks.example" in repr(endpoint)
    assert "eyJ0eXAi" not in repr(replace(endpoint, static_token=True))
