"""Kubernetes documents as kubectl prints them, built from the kubernetes client's own models."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from collect.parse_kube import KubeInventory, KubeParseError, parse_document, parse_kube, parse_quantity
from model.snapshot import Source

API = k8s.ApiClient()


def as_json(model, kind: str | None = None) -> dict:
    body = API.sanitize_for_serialization(model)
    if kind:
        for item in body.get("items", []):
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", "v1")
        body.update(kind="List", apiVersion="v1")
    return body


def tunnel_pod(name: str, ready: bool, restarts: int, waiting: str | None = None, namespace="kube-system") -> k8s.V1Pod:
    state = k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason=waiting)) if waiting else None
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, namespace=namespace, labels={"app": "konnectivity-agent"}),
        spec=k8s.V1PodSpec(node_name="aks-system-12345678-vmss000000", containers=[]),
        status=k8s.V1PodStatus(
            phase="Running",
            conditions=[k8s.V1PodCondition(type="Ready", status="True" if ready else "False")],
            container_statuses=[
                k8s.V1ContainerStatus(
                    name="agent", image="x", image_id="", ready=ready, restart_count=restarts, state=state
                )
            ],
        ),
    )


def test_pods_from_a_kubectl_list_only_kube_system() -> None:
    pods = k8s.V1PodList(
        items=[
            tunnel_pod("konnectivity-agent-7d8f9c6b5-x2k4j", True, 0),
            tunnel_pod("konnectivity-agent-7d8f9c6b5-q9w8e", False, 12, "CrashLoopBackOff"),
            tunnel_pod("web-1", True, 0, namespace="default"),
        ]
    )
    inventory = parse_kube([as_json(pods, "Pod")])
    assert [pod.name for pod in inventory.pods] == [
        "konnectivity-agent-7d8f9c6b5-x2k4j",
        "konnectivity-agent-7d8f9c6b5-q9w8e",
    ]
    crashing = inventory.pods[1]
    assert (crashing.ready, crashing.restarts, crashing.waiting_reasons) == (False, 12, ("CrashLoopBackOff",))
    assert crashing.node_name == "aks-system-12345678-vmss000000"
    assert inventory.listed == {Source.PODS}


def test_nodes_and_metrics_quantities() -> None:
    node = k8s.V1Node(
        metadata=k8s.V1ObjectMeta(name="aks-system-1", labels={"kubernetes.azure.com/mode": "system"}),
        status=k8s.V1NodeStatus(
            allocatable={"cpu": "1900m", "memory": "5543740Ki"},
            conditions=[k8s.V1NodeCondition(type="Ready", status="True")],
            addresses=[k8s.V1NodeAddress(type="InternalIP", address="10.224.0.4")],
        ),
    )
    metrics = {
        "kind": "NodeMetricsList",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "items": [{"metadata": {"name": "aks-system-1"}, "usage": {"cpu": "1805123456n", "memory": "5Gi"}}],
    }
    inventory = parse_kube([as_json(k8s.V1NodeList(items=[node]), "Node"), metrics])
    (parsed,) = inventory.nodes
    assert parsed.allocatable_cpu_millicores == 1900 and parsed.allocatable_memory_bytes == 5543740 * 1024
    assert parsed.ready and parsed.internal_ip == "10.224.0.4" and parsed.mode == "system"
    (usage,) = inventory.node_metrics
    assert usage.cpu_millicores == 1805 and usage.memory_bytes == 5 * 2**30


def test_helm3_secrets_as_metadata_and_helm2_configmaps() -> None:
    secrets = {
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "items": [
            {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {
                    "name": f"sh.helm.release.v1.web.v{n}",
                    "namespace": "shop",
                    "labels": {"owner": "helm", "name": "web", "version": str(n), "status": "superseded"},
                },
            }
            for n in (1, 2)
        ],
    }
    configmap = k8s.V1ConfigMap(
        kind="ConfigMap",
        metadata=k8s.V1ObjectMeta(
            name="legacy.v7", namespace="kube-system", labels={"OWNER": "TILLER", "NAME": "legacy", "VERSION": "7"}
        ),
    )
    other = k8s.V1ConfigMap(kind="ConfigMap", metadata=k8s.V1ObjectMeta(name="coredns", namespace="kube-system"))
    inventory = parse_kube([secrets, as_json(configmap), as_json(other)])
    assert [(r.release, r.revision, r.storage) for r in inventory.helm_revisions] == [
        ("web", 1, "secret"),
        ("web", 2, "secret"),
        ("legacy", 7, "configmap"),
    ]


def test_an_empty_typed_list_records_that_the_listing_was_made() -> None:
    inventory = parse_kube(
        [{"kind": "SecretList", "apiVersion": "v1", "items": []}, {"kind": "EventList", "items": []}]
    )
    assert inventory.listed == {Source.HELM, Source.EVENTS} and inventory.helm_revisions == []


def test_events_core_and_events_k8s_io() -> None:
    core = {
        "kind": "Event",
        "metadata": {"namespace": "kube-system"},
        "involvedObject": {"kind": "Pod", "name": "p"},
        "reason": "Failed",
        "message": "dial tcp 10.224.0.5:10250: i/o timeout",
        "count": 3,
    }
    new = {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": {"namespace": "kube-system"},
        "regarding": {"kind": "Node", "name": "n"},
        "reason": "X",
        "note": "hello",
        "series": {"count": 4},
    }
    first, second = parse_kube([core, new]).events
    assert (first.involved_object, first.count, first.message) == ("Pod/p", 3, "dial tcp 10.224.0.5:10250: i/o timeout")
    assert (second.involved_object, second.count, second.message) == ("Node/n", 4, "hello")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"items": []}, 'without "kind"'),
        ({"kind": "List", "items": {}}, '"items" should be a list'),
        (
            {
                "kind": "NodeMetricsList",
                "items": [{"metadata": {"name": "n1"}, "usage": {"cpu": "lots", "memory": "1Gi"}}],
            },
            "NodeMetrics n1: 'lots' is not a Kubernetes quantity",
        ),
        ({"kind": "Pod", "metadata": {"namespace": "kube-system"}}, "Pod \\(no name\\): missing field 'metadata.name'"),
        (
            {"kind": "Pod", "metadata": {"name": "p"}, "status": {"containerStatuses": "nope"}},
            "Pod p: a field has the wrong type",
        ),
        ({"kind": "Pod", "metadata": 5}, "Pod \\(no name\\): a field has the wrong type"),
    ],
)
def test_malformed_documents_name_the_object(document, message) -> None:
    with pytest.raises(KubeParseError, match=message):
        parse_document(document, KubeInventory())


def test_a_malformed_document_costs_only_its_own_sources() -> None:
    pods = {"kind": "PodList", "items": [{"metadata": {"name": "konnectivity-agent-1", "namespace": "kube-system"}}]}
    metrics = {"kind": "NodeMetricsList", "items": [{"metadata": {"name": "n1"}, "usage": {"cpu": "1e400"}}]}
    generic = {"kind": "List", "items": 1}
    inventory = parse_kube([pods, metrics, generic])
    assert [pod.name for pod in inventory.pods] == ["konnectivity-agent-1"] and inventory.listed == {Source.PODS}
    assert set(inventory.errors) == {Source.NODE_METRICS} and "NodeMetrics n1" in inventory.errors[Source.NODE_METRICS]
    assert inventory.unattributed == ['List: "items" should be a list']


@pytest.mark.parametrize(("text", "value"), [("250m", 0.25), ("2", 2), ("1Ki", 1024), ("1e3", 1000), ("500u", 0.0005)])
def test_quantities(text, value) -> None:
    assert float(parse_quantity(text)) == pytest.approx(value)
