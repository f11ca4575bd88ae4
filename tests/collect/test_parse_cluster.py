"""The cluster body in both spellings: the ARM wire format (from the SDK model) and `az aks show -o json`."""

from __future__ import annotations

import re

import pytest
from azure.mgmt.containerservice import models as aks

from collect.parse import SnapshotError, cluster_from_arm, parse_cluster
from collect.raw import RawCluster
from model.snapshot import Source

SUB = "11111111-2222-3333-4444-555555555555"
CLUSTER_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-prod/providers/Microsoft.ContainerService/managedClusters/aks-prod"
)
SUBNET = (
    f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-spoke/subnets/nodes"
)
NODE_RG = f"/subscriptions/{SUB}/resourceGroups/MC_rg-prod_aks-prod_westeurope"
PIP = f"{NODE_RG}/providers/Microsoft.Network/publicIPAddresses/pip"


def arm_body() -> dict:
    model = aks.ManagedCluster(
        location="westeurope",
        tags={"Owner": "team-payments, team-platform"},
        kubernetes_version="1.30",
        dns_prefix="aks-prod",
        agent_pool_profiles=[
            aks.ManagedClusterAgentPoolProfile(name="system", mode="System", count=3, vnet_subnet_id=SUBNET),
            aks.ManagedClusterAgentPoolProfile(name="user", mode="User", count=5, vnet_subnet_id=SUBNET),
        ],
        api_server_access_profile=aks.ManagedClusterAPIServerAccessProfile(
            authorized_ip_ranges=["203.0.113.0/24"], enable_private_cluster=False
        ),
        network_profile=aks.ContainerServiceNetworkProfile(
            network_plugin="azure",
            outbound_type="loadBalancer",
            load_balancer_profile=aks.ManagedClusterLoadBalancerProfile(
                effective_outbound_i_ps=[aks.ResourceReference(id=PIP)]
            ),
        ),
    )
    body = model.as_dict()  # the REST wire format of this (TypeSpec-generated) model
    body.update(id=CLUSTER_ID, name="aks-prod", type="Microsoft.ContainerService/managedClusters")
    body["properties"]["fqdn"] = "aks-prod-abc123.hcp.westeurope.azmk8s.io"
    return body


def az_body() -> dict:
    """As `az aks show -o json` prints it: flattened, camelCase (vnetSubnetId, privateFqdn)."""
    return {
        "id": CLUSTER_ID.replace("resourceGroups", "resourcegroups"),
        "name": "aks-prod",
        "location": "westeurope",
        "type": "Microsoft.ContainerService/ManagedClusters",
        "tags": None,
        "currentKubernetesVersion": "1.30.5",
        "fqdn": None,
        "privateFqdn": "aks-prod-abc.4f0c.privatelink.westeurope.azmk8s.io",
        "agentPoolProfiles": [{"name": "system", "mode": "System", "count": 3, "vnetSubnetId": SUBNET}],
        "apiServerAccessProfile": {
            "authorizedIpRanges": None,
            "enablePrivateCluster": True,
            "enablePrivateClusterPublicFqdn": False,
            "privateDnsZone": "system",
            "enableVnetIntegration": None,
        },
        "networkProfile": {"outboundType": "userDefinedRouting", "networkPlugin": "azure", "loadBalancerProfile": None},
        "aadProfile": {"managed": True, "enableAzureRbac": True},
        "disableLocalAccounts": True,
    }


def test_arm_wire_format_from_the_sdk_model() -> None:
    cluster = cluster_from_arm(arm_body())
    assert (cluster.subscription, cluster.resource_group, cluster.name) == (SUB, "rg-prod", "aks-prod")
    assert cluster.authorized_ranges == ("203.0.113.0/24",)
    assert cluster.outbound_type == "loadBalancer"
    assert cluster.outbound_ip_ids == (PIP,)
    assert cluster.node_subnet_ids == (SUBNET,)
    assert [pool.mode for pool in cluster.agent_pools] == ["System", "User"]
    assert not cluster.is_private
    assert cluster.apiserver_host == "aks-prod-abc123.hcp.westeurope.azmk8s.io"


def test_az_flattened_camel_case() -> None:
    cluster = cluster_from_arm(az_body())
    assert cluster.is_private and cluster.private_dns_zone == "system"
    assert cluster.apiserver_host == "aks-prod-abc.4f0c.privatelink.westeurope.azmk8s.io"
    assert cluster.authorized_ranges == ()
    assert cluster.node_subnet_ids == (SUBNET,)
    assert cluster.aad_enabled and cluster.local_accounts_disabled
    assert cluster.kubernetes_version == "1.30.5"


def test_old_api_version_body_without_access_profile_or_outbound_type() -> None:
    body = {
        "id": CLUSTER_ID,
        "name": "aks-prod",
        "location": "eastus",
        "properties": {"fqdn": "x.hcp.eastus.azmk8s.io"},
    }
    cluster = cluster_from_arm(body)
    assert cluster.outbound_type is None and cluster.authorized_ranges == () and cluster.agent_pools == ()


def test_owners_come_from_the_tag_case_insensitively_and_context() -> None:
    raw = RawCluster(cluster=arm_body(), context={"owners": ["sre"]})
    assert parse_cluster(raw, owner_tag="owner").owners == ("team-payments", "team-platform", "sre")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda body: body.pop("id"), 'cluster.json: no "id"'),
        (lambda body: body.update(id="/subscriptions/x/resourceGroups/y"), "is not an AKS cluster resource id"),
        (
            lambda body: body["properties"]["apiServerAccessProfile"].update(authorizedIPRanges="nope,[]"),
            None,
        ),
        (lambda body: body["properties"]["agentPoolProfiles"][0].update(count="three"), '"count" should be a number'),
        (lambda body: body.update(tags=["a"]), '"tags" should be an object'),
    ],
)
def test_malformed_cluster_bodies_name_the_problem(mutate, message) -> None:
    body = arm_body()
    mutate(body)
    if message is None:  # a lone string where a list is expected is ARM's singular form: accepted
        assert cluster_from_arm(body).authorized_ranges == ("nope,[]",)
        return
    with pytest.raises(SnapshotError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_cluster(RawCluster(cluster=body))


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"clients": {"name": "x"}}, '"clients" should be a list'),
        ({"clients": [{"ips": ["10.0.0.1"]}]}, 'clients\\[0\\] should be an object with a "name"'),
        ({"clients": [{"name": "ci", "ips": ["10.0.0.300"]}]}, "'10.0.0.300' is not an IP address or CIDR"),
        ({"clients": [{"name": "ci", "vnet": "/subscriptions/x/foo"}]}, '"vnet" should be a virtual network'),
    ],
)
def test_malformed_context_names_the_client_and_costs_only_the_context(context, message) -> None:
    snapshot = parse_cluster(RawCluster(cluster=arm_body(), context=context))
    problem = snapshot.problems[Source.CONTEXT]
    assert problem.kind == "error" and re.match(f"^context.json: .*{message}", problem.message)
    assert snapshot.clients is None and snapshot.cluster.location == "westeurope"


def test_clients_are_read() -> None:
    vnet = f"/subscriptions/{SUB}/resourceGroups/hub/providers/Microsoft.Network/virtualNetworks/vnet-hub"
    context = {
        "clients": [{"name": "ci", "ips": ["203.0.113.0/28"]}, {"name": "jump", "ips": ["10.1.0.4"], "vnet": vnet}]
    }
    clients = parse_cluster(RawCluster(cluster=arm_body(), context=context)).clients
    assert [(c.name, c.ips, c.vnet) for c in clients] == [
        ("ci", ("203.0.113.0/28",), None),
        ("jump", ("10.1.0.4",), vnet),
    ]
