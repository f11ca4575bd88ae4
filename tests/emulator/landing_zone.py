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

from dataclasses import dataclass
from typing import Any

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
