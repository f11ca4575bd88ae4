"""A Cloud Adoption Framework estate for the emulator: a connectivity subscription with two hubs whose firewalls
both sit at 10.0.1.4 (prod: its policy allows the AKS rules of the egress tutorial; nonprod: its policy, like
the parent base policy, lacks them), and one spoke cluster in each of two workload subscriptions.

- prod: private cluster, outboundType userDefinedRouting, its private DNS zone in the connectivity
  subscription (linked to the spoke but not to the hub, where the declared jumpbox sits);
- nonprod: public cluster, outboundType loadBalancer, whose node subnet still routes 0.0.0.0/0 to its hub.

Shapes come from the example-estate generator (SDK models: the AKS landing-zone accelerator's hub, the egress
tutorial's rules, REST examples' peerings with remoteAddressSpace).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

from azure.mgmt.network import models as net

from collect.raw import RawCluster
from tests.emulator.server import EmulatedCluster
from tools import make_example_estate as estate

PROD_SUB = "1a2b3c4d-0000-4000-8000-00000000a001"
NONPROD_SUB = "1a2b3c4d-0000-4000-8000-00000000a002"
CONNECTIVITY_SUB = estate.CONNECTIVITY_SUB
DNS_RG = "rg-private-dns"
ZONE = estate.rid(DNS_RG, "Microsoft.Network/privateDnsZones", "privatelink.westeurope.azmk8s.io", CONNECTIVITY_SUB)


@dataclass(frozen=True)
class LandingZone:
    clusters: list[EmulatedCluster]
    network: list[dict[str, Any]]
    prod_hub: str  # hub VNet ids
    nonprod_hub: str

    @property
    def context(self) -> dict[str, Any]:
        """Who must reach the private prod API server: a jumpbox in the prod hub."""
        return {"clients": [{"name": "hub-jumpbox", "ips": ["10.0.10.4"], "vnet": self.prod_hub}]}


def landing_zone() -> LandingZone:
    prod = estate.Spoke("aks-orders-prod", 241, subscription=PROD_SUB)
    nonprod = estate.Spoke("aks-orders-dev", 242, subscription=NONPROD_SUB)
    prod_hub, prod_resources = estate.landing_zone_hub(
        "prod", [prod], aks_rules=True, firewall_public_ip="198.51.100.70"
    )
    nonprod_hub, nonprod_resources = estate.landing_zone_hub(
        "nonprod", [nonprod], aks_rules=False, firewall_public_ip="198.51.100.80"
    )
    prod_cluster = estate.landing_zone_cluster(
        prod, "team-orders", "198.51.100.70", outbound="userDefinedRouting", private=True, private_dns_zone=ZONE
    )
    nonprod_cluster = estate.landing_zone_cluster(nonprod, "team-orders-dev", "198.51.100.80")
    network = [
        *estate.landing_zone_spoke(prod, prod_hub),
        *prod_resources,
        *estate.landing_zone_spoke(nonprod, nonprod_hub),
        *nonprod_resources,
        *estate.platform_base_policy(),
        *estate.private_zone(ZONE, [prod.vnet_id]),
    ]
    clusters = [
        EmulatedCluster(RawCluster(cluster=prod_cluster, kube=prod.kube())),
        EmulatedCluster(RawCluster(cluster=nonprod_cluster, kube=nonprod.kube())),
    ]
    return LandingZone(clusters, network, prod_hub, nonprod_hub)


# --- Shapes of issue 26: one spoke cluster (loadBalancer, routed to its hub firewall) and its hub, each built from
# the docs the verdict follows; `tests/checks/test_landing_zone_shapes.py` judges them offline, the live tests
# serve them through the emulator.

SHAPES_SUB = "1a2b3c4d-0000-4000-8000-00000000a003"


def hub_spoke(
    name: str,
    octet: int,
    *,
    dns_proxy: bool = False,
    dns_servers: list[str] | None = None,
    extra_collections: list[net.FirewallPolicyFilterRuleCollection] = (),  # type: ignore[assignment]
    firewall_public_ip: str = "198.51.100.90",
) -> RawCluster:
    """The egress tutorial's spoke behind a CAF hub (the hub's firewall policy holds the AKS rules): `dns_proxy`
    the hub policy's dnsSettings.enableProxy, `dns_servers` the spoke VNet's, `extra_collections` more Allow
    collections in the AKS rule collection group."""
    spoke = estate.Spoke(name, octet, subscription=SHAPES_SUB)
    hub_id, hub_resources = estate.landing_zone_hub(
        name, [spoke], aks_rules=True, firewall_public_ip=firewall_public_ip, dns_proxy=dns_proxy
    )
    for resource in hub_resources:
        if resource["type"].endswith("/ruleCollectionGroups"):
            resource["properties"]["ruleCollections"] += [collection.as_dict() for collection in extra_collections]
    return RawCluster(
        cluster=estate.landing_zone_cluster(spoke, "team-shapes", firewall_public_ip),
        network=[
            *estate.landing_zone_spoke(spoke, hub_id, dns_servers),
            *hub_resources,
            *estate.platform_base_policy(),
        ],
        kube=spoke.kube(),
    )


def spoke_ip_group(raw: RawCluster) -> str:
    return next(r["id"] for r in raw.network or () if r["type"] == "Microsoft.Network/ipGroups")


def udp53_to_firewall(ip_group: str) -> net.FirewallPolicyFilterRuleCollection:
    """A network rule allowing UDP 53 from the spoke to the firewall's own address (what a rule can't make answer)."""
    rule = net.NetworkRule(
        name="dns-to-firewall",
        ip_protocols=["UDP"],
        source_ip_groups=[ip_group],
        destination_addresses=[estate.FIREWALL_IP],
        destination_ports=["53"],
    )
    return estate.allow_collection("dns", 90, [rule])


def hub_deleted(raw: RawCluster) -> RawCluster:
    """virtual-network-manage-peering.md: deleting one side of a peering leaves the other Disconnected (it keeps its
    record of the remote address space); the hub VNet and its firewall are gone."""
    network = []
    for resource in copy.deepcopy(raw.network or []):
        if "/rg-hub-" in resource["id"]:
            continue
        for peering in resource.get("properties", {}).get("virtualNetworkPeerings", []):
            peering["properties"]["peeringState"] = "Disconnected"
        network.append(resource)
    return replace(raw, network=network)


def without(
    raw: RawCluster, kind: str, why: str = "403 AuthorizationFailed: the identity may not read it"
) -> RawCluster:
    """The shape with the resources of one type (`virtualNetworks`, `ipGroups`, ...) in the hub's connectivity
    subscription unreadable, recorded as the collector records them."""
    network, unread = [], dict(raw.unread_references)
    for resource in raw.network or ():
        if (
            resource["type"].lower().endswith(f"/{kind.lower()}")
            and f"/subscriptions/{CONNECTIVITY_SUB}/" in (resource["id"])
        ):
            unread[resource["id"]] = why
        else:
            network.append(resource)
    return replace(raw, network=network, unread_references=unread)


def nat_on_firewall_subnet(raw: RawCluster, address: str) -> RawCluster:
    """integrate-with-nat-gateway.md: a NAT gateway (its public IP `address`) associated with the hub's
    AzureFirewallSubnet; the firewall's outbound traffic then leaves from the NAT gateway's address."""
    network = copy.deepcopy(raw.network or [])
    hub = next(r for r in network if r["type"] == "Microsoft.Network/virtualNetworks" and "/rg-hub-" in r["id"])
    group = hub["id"].split("/")[4]
    pip = estate.public_ip(group, "pip-ng-afw", address, subscription=CONNECTIVITY_SUB)
    gateway_id = estate.rid(group, "Microsoft.Network/natGateways", "ng-afw", CONNECTIVITY_SUB)
    gateway = estate.arm(
        net.NatGateway(
            location="westeurope",
            sku=net.NatGatewaySku(name="Standard"),
            public_ip_addresses=[net.SubResource(id=pip["id"])],
            subnets=[net.SubResource(id=f"{hub['id']}/subnets/AzureFirewallSubnet")],
        ),
        gateway_id,
        "Microsoft.Network/natGateways",
    )
    for subnet in hub["properties"]["subnets"]:
        if subnet["name"] == "AzureFirewallSubnet":
            subnet["properties"]["natGateway"] = {"id": gateway_id}
    return replace(raw, network=[*network, gateway, pip])


def forced_tunnel(raw: RawCluster, next_hop_type: str = "VirtualNetworkGateway", ip: str | None = None) -> RawCluster:
    """forced-tunneling.md: the AzureFirewallSubnet's own route table sends 0.0.0.0/0 to the on-premises VPN or
    ExpressRoute gateway (or an NVA at `ip`), with BGP route propagation on."""
    network = copy.deepcopy(raw.network or [])
    hub = next(r for r in network if r["type"] == "Microsoft.Network/virtualNetworks" and "/rg-hub-" in r["id"])
    group = hub["id"].split("/")[4]
    table_id = estate.rid(group, "Microsoft.Network/routeTables", "rt-afw-forced-tunnel", CONNECTIVITY_SUB)
    route = net.Route(
        name="default-to-onprem",
        address_prefix="0.0.0.0/0",
        next_hop_type=next_hop_type,
        next_hop_ip_address=ip,
    )
    table = estate.arm(
        net.RouteTable(
            location="westeurope",
            routes=[route],
            subnets=[net.Subnet(id=f"{hub['id']}/subnets/AzureFirewallSubnet")],
            disable_bgp_route_propagation=False,
        ),
        table_id,
        "Microsoft.Network/routeTables",
    )
    for subnet in hub["properties"]["subnets"]:
        if subnet["name"] == "AzureFirewallSubnet":
            subnet["properties"]["routeTable"] = {"id": table_id}
    return replace(raw, network=[*network, table])


# An excerpt of the Service Tag Discovery API's answer for the public cloud (`az network list-service-tags -l
# westeurope -o json`: name "Public", type Microsoft.Network/serviceTags, values with properties.addressPrefixes).
WESTEUROPE_TAGS = {
    "AzureCloud.westeurope": ["20.50.0.0/18", "20.103.0.0/16", "40.74.0.0/18"],
    "AzureCloud": ["20.33.0.0/16", "20.50.0.0/18", "20.103.0.0/16", "40.74.0.0/18", "52.239.128.0/24"],
}


def service_tags(subscription: str, tags: dict[str, list[str]] = WESTEUROPE_TAGS) -> dict[str, Any]:
    return {
        "name": "Public",
        "id": f"/subscriptions/{subscription}/providers/Microsoft.Network/serviceTags/Public",
        "type": "Microsoft.Network/serviceTags",
        "changeNumber": "63",
        "cloud": "Public",
        "values": [
            {
                "name": name,
                "id": name,
                "properties": {
                    "changeNumber": "12",
                    "region": name.partition(".")[2].lower(),
                    "platform": "Azure",
                    "systemService": "",
                    "addressPrefixes": prefixes,
                    "networkFeatures": ["API", "NSG", "UDR", "FW"],
                },
            }
            for name, prefixes in tags.items()
        ],
    }


def nsg_to_azure_cloud_only(name: str, octet: int, apiserver: str | None = None) -> RawCluster:
    """A loadBalancer cluster whose node NSG allows TCP 443 to AzureCloud.westeurope and then denies the Internet
    (the pattern outbound-rules-control-egress.md warns NSGs cannot serve: the required FQDNs sit behind global
    front ends). `apiserver`: the probe's resolved API server address."""
    spoke = estate.Spoke(name, octet, subscription=SHAPES_SUB)
    rules = [
        estate.security_rule(
            "allow-azurecloud-https", 100, "Outbound", "Allow", "Tcp", "VirtualNetwork", "AzureCloud.westeurope", "443"
        ),
        estate.security_rule("deny-internet", 200, "Outbound", "Deny", "*", "*", "Internet", "*"),
    ]
    cluster = estate.managed_cluster(
        spoke.name, spoke.group, spoke.location, spoke.subnet_id, "team-shapes", subscription=SHAPES_SUB
    )
    probes = None
    if apiserver:
        fqdn = cluster["properties"]["fqdn"]
        probes = {"apiserver": {"target": fqdn, "addresses": [apiserver], "tcpMs": 20.0, "tlsMs": 40.0, "alpn": "h2"}}
    return RawCluster(cluster=cluster, network=spoke.network(rules), kube=spoke.kube(), probes=probes)
