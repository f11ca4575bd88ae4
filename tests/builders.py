"""Small builders for typed snapshots in unit tests: defaults describe a healthy public cluster."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from model.snapshot import AgentPool, Cluster, ClusterSnapshot

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "rg-aks"
RG_ID = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
VNET_ID = f"{RG_ID}/providers/Microsoft.Network/virtualNetworks/vnet-aks"
NODE_SUBNET_ID = f"{VNET_ID}/subnets/snet-nodes"


def make_cluster(**overrides: Any) -> Cluster:
    name = overrides.pop("name", "aks-test")
    cluster = Cluster(
        id=f"{RG_ID}/providers/Microsoft.ContainerService/managedClusters/{name}",
        name=name,
        subscription=SUBSCRIPTION,
        resource_group=RESOURCE_GROUP,
        location="westeurope",
        kubernetes_version="1.30.5",
        fqdn=f"{name}-dns-1a2b3c4d.hcp.westeurope.azmk8s.io",
        outbound_type="loadBalancer",
        network_plugin="azure",
        node_resource_group=f"MC_{RESOURCE_GROUP}_{name}_westeurope",
        agent_pools=(
            AgentPool(name="system", mode="System", vnet_subnet_id=NODE_SUBNET_ID, count=3),
            AgentPool(name="user", mode="User", vnet_subnet_id=NODE_SUBNET_ID, count=3),
        ),
    )
    return replace(cluster, **overrides)


def make_snapshot(cluster: Cluster | None = None, **overrides: Any) -> ClusterSnapshot:
    return ClusterSnapshot(cluster=cluster or make_cluster(), **overrides)
