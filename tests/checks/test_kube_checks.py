"""Every verdict branch of konnectivity-agent, helm-history, apiserver-load and apiserver-probe."""

from __future__ import annotations

from dataclasses import replace

import pytest

from checks import apiserver_load, apiserver_probe, helm_history, konnectivity_agent
from checks.engine import run_check
from model.finding import Status
from model.snapshot import ApiServerProbe, ApiServerRequests, HelmRevision, Node, NodeUsage, Pod
from tests.builders import make_cluster, make_snapshot

SYSTEM, USER = "aks-system-1-vmss000000", "aks-user-1-vmss000000"


def tunnel(name: str = "konnectivity-agent-7d8f-a", node: str = SYSTEM, **kwargs) -> Pod:
    return Pod(
        namespace="kube-system",
        name=name,
        labels={"app": "konnectivity-agent"},
        node_name=node,
        phase="Running",
        **{"ready": True, **kwargs},
    )


def node(name: str, mode: str = "system", ready: bool = True) -> Node:
    return Node(
        name=name,
        labels={"kubernetes.azure.com/mode": mode},
        ready=ready,
        allocatable_cpu_millicores=2000,
        allocatable_memory_bytes=8 * 2**30,
    )


NODES = (node(SYSTEM), node(USER, "user"))


def konnectivity(pods, nodes=NODES, metrics=(), **cluster):
    snapshot = make_snapshot(make_cluster(**cluster), pods=tuple(pods), nodes=nodes, node_metrics=metrics)
    return run_check(konnectivity_agent.CHECK, snapshot, konnectivity_agent.Limits())


def test_konnectivity_pass_and_autoscaler_is_not_a_tunnel_pod() -> None:
    autoscaler = Pod(
        namespace="kube-system",
        name="konnectivity-agent-autoscaler-6b9d-x",
        labels={"app": "konnectivity-agent"},
        ready=False,
    )
    finding = konnectivity([tunnel(), autoscaler])
    assert finding.status is Status.PASS and "autoscaler" not in finding.detail


def test_konnectivity_pass_says_what_it_could_not_judge() -> None:
    finding = konnectivity([tunnel()], nodes=None, metrics=None)
    assert finding.status is Status.PASS and "nodes and node metrics not collected" in finding.detail


def test_konnectivity_skipped_with_vnet_integration_and_without_pods() -> None:
    assert konnectivity([], vnet_integration=True).status is Status.SKIPPED
    missing = run_check(konnectivity_agent.CHECK, make_snapshot(), konnectivity_agent.Limits())
    assert missing.status is Status.SKIPPED and "kube:pods" in missing.title


def test_konnectivity_fail_without_tunnel_pods() -> None:
    finding = konnectivity([Pod(namespace="kube-system", name="coredns-1", ready=True)])
    assert finding.status is Status.FAIL and "az aks update" in finding.remediation


def test_konnectivity_fail_when_none_ready() -> None:
    finding = konnectivity([tunnel(ready=False, restarts=9, waiting_reasons=("CrashLoopBackOff",))])
    assert (
        finding.status is Status.FAIL and "CrashLoopBackOff" in finding.detail and "restarted 9 times" in finding.detail
    )


def test_konnectivity_fail_when_every_ready_pod_is_on_an_overloaded_node() -> None:
    finding = konnectivity([tunnel()], metrics=(NodeUsage(SYSTEM, cpu_millicores=1900, memory_bytes=2**30),))
    assert finding.status is Status.FAIL and "CPU at 95% of allocatable" in finding.detail


def test_konnectivity_fail_when_its_node_is_not_ready() -> None:
    assert konnectivity([tunnel()], nodes=(node(SYSTEM, ready=False),)).status is Status.FAIL


@pytest.mark.parametrize(
    ("pods", "metrics", "text"),
    [
        ([tunnel(), tunnel("konnectivity-agent-7d8f-b", ready=False)], (), "konnectivity-agent-7d8f-b is not Ready"),
        ([tunnel(restarts=5)], (), "restarted 5 times"),
        ([tunnel(), tunnel("konnectivity-agent-7d8f-b", node=USER)], (), "runs on user-mode node"),
        (
            [tunnel(), tunnel("konnectivity-agent-7d8f-b", node=USER)],
            (NodeUsage(USER, 100, int(7.5 * 2**30)),),
            "memory at 94%",
        ),
    ],
)
def test_konnectivity_warn(pods, metrics, text) -> None:
    finding = konnectivity(pods, metrics=metrics)
    assert finding.status is Status.WARN and text in finding.detail


def test_konnectivity_legacy_names_count_as_tunnel_pods() -> None:
    pods = [
        Pod(namespace="kube-system", name="tunnelfront-6c8d-x", ready=True, node_name=SYSTEM),
        Pod(namespace="kube-system", name="aks-link-5f-y", ready=True, node_name=SYSTEM),
    ]
    assert konnectivity(pods).status is Status.PASS


def helm(counts: dict[tuple[str, str], int], storage: str = "secret"):
    revisions = tuple(
        HelmRevision(ns, release, n, storage) for (ns, release), total in counts.items() for n in range(1, total + 1)
    )
    return run_check(helm_history.CHECK, make_snapshot(helm_revisions=revisions), helm_history.Limits())


def test_helm_history_branches() -> None:
    assert helm({("web", "shop"): 10}).status is Status.PASS
    assert helm({}).status is Status.PASS
    warn = helm({("web", "shop"): 11})
    assert warn.status is Status.WARN and "helm upgrade shop <chart> -n web" in warn.remediation
    fail = helm({("web", "shop"): 51, ("web", "cart"): 12})
    assert (
        fail.status is Status.FAIL
        and "web/shop (51 revisions, Helm 3)" in fail.detail
        and "also above 10: web/cart" in fail.detail
    )
    tiller = helm({("kube-system", "legacy"): 60}, storage="configmap")
    assert tiller.status is Status.FAIL and "helm init --history-max 10 --upgrade" in tiller.remediation
    assert run_check(helm_history.CHECK, make_snapshot(), helm_history.Limits()).status is Status.SKIPPED


def load(rows):
    snapshot = make_snapshot(apiserver_requests=tuple(ApiServerRequests(*row) for row in rows))
    return run_check(apiserver_load.CHECK, snapshot, apiserver_load.Limits())


def test_apiserver_load_branches() -> None:
    assert load([("kubectl", "get", 1000, 0)]).status is Status.PASS
    leak = load([("inventory-operator/v0.3", "list", 36_000, 0), ("kubectl", "get", 100, 0)])
    assert leak.status is Status.WARN and "inventory-operator/v0.3 averages 10.0" in leak.title
    throttled = load([("ci-bot", "list", 9_000, 150), ("kubectl", "get", 1_000, 0)])
    assert throttled.status is Status.FAIL and "ci-bot (150 throttled)" in throttled.detail
    # 429s below either bound: 2% but only 50, or 200 but 0.5%
    assert load([("ci-bot", "list", 2_500, 50)]).status is Status.PASS
    assert load([("ci-bot", "create", 40_000, 200)]).status is Status.PASS
    assert run_check(apiserver_load.CHECK, make_snapshot(), apiserver_load.Limits()).status is Status.SKIPPED


def probe(**fields):
    snapshot = make_snapshot(
        apiserver_probe=ApiServerProbe(target="aks.hcp.westeurope.azmk8s.io", addresses=("20.1.2.3",), **fields)
    )
    return run_check(apiserver_probe.CHECK, snapshot, apiserver_probe.Limits())


def test_apiserver_probe_branches() -> None:
    assert probe(tcp_ms=20.0, tls_ms=40.0, alpn="h2").status is Status.PASS
    assert probe(tcp_ms=20.0, tls_ms=1500.0, alpn="h2").status is Status.WARN
    failed = probe(error="timeout")
    assert failed.status is Status.FAIL and "TCP timed out" in failed.detail
    assert run_check(apiserver_probe.CHECK, make_snapshot(), apiserver_probe.Limits()).status is Status.SKIPPED


def test_thresholds_are_settings() -> None:
    finding = run_check(
        helm_history.CHECK,
        replace(make_snapshot(), helm_revisions=(HelmRevision("a", "b", 1, "secret"),) * 3),
        helm_history.Limits(warn_revisions=2),
    )
    assert finding.status is Status.WARN
