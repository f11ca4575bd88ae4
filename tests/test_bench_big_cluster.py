"""The big-cluster benchmark's cluster: the shape it claims (its speed and memory targets are the benchmark's)."""

from __future__ import annotations

import json

from bench.big_cluster import DAEMONSETS, big_cluster


def test_the_big_cluster_has_its_pools_daemonsets_events_and_helm_releases() -> None:
    raw = big_cluster("aks-big-0", scale=0.01)  # 10 pools of 5 nodes
    kinds = {document["kind"]: document["items"] for document in raw.kube or []}
    nodes = kinds["NodeList"]
    assert len(nodes) == 50 and len({n["metadata"]["labels"]["kubernetes.azure.com/agentpool"] for n in nodes}) == 10
    assert all(len(n["status"]["images"]) == 40 for n in nodes)
    pods = kinds["PodList"]
    assert len(pods) == len(DAEMONSETS) * 50 + 20 + 3
    proxies = [p for p in pods if p["metadata"]["labels"].get("component") == "kube-proxy"]
    assert len({p["spec"]["nodeName"] for p in proxies}) == 50  # one per node
    assert len(kinds["EventList"]) == 1_000 and len(kinds["SecretList"]) == 30
    assert len(json.dumps(kinds["SecretList"][0])) > 50_000  # the release payload a metadata list leaves out
    assert raw.cluster["name"] == "aks-big-0" and raw.cluster["id"].endswith("/aks-big-0")
