"""A route's next hop names an appliance only within the node VNet and its Connected peerings; the subnet's route
table applies whatever the outbound type (appliance route >> NAT gateway >> load balancer)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from checks import egress_rules
from checks.engine import run_check
from model.finding import Status
from model.next_hop import InventoryLookup, resolve_next_hop
from model.snapshot import (
    AzureFirewall,
    FirewallRule,
    NatGateway,
    NetworkInterface,
    NetworkInventory,
    Peering,
    PublicIpAddress,
    Route,
    RouteTable,
    RuleCollection,
    Subnet,
    VirtualNetwork,
)
from tests.builders import NODE_SUBNET_ID, RG_ID, VNET_ID, make_cluster, make_snapshot

CONNECTIVITY = "/subscriptions/c0ffee00-0000-4000-8000-000000000001/resourceGroups"
RT_ID = f"{RG_ID}/providers/Microsoft.Network/routeTables/rt-nodes"
NAT_ID = f"{RG_ID}/providers/Microsoft.Network/natGateways/ng-nodes"
FQDN_TAG = FirewallRule("aks", "application", ("Https:443",), ("10.224.0.0/16",), fqdn_tags=("AzureKubernetesService",))


def hub(name: str) -> tuple[VirtualNetwork, AzureFirewall]:
    """A landing-zone hub: 10.0.0.0/16, AzureFirewallSubnet 10.0.1.0/26, its firewall at 10.0.1.4."""
    vnet_id = f"{CONNECTIVITY}/rg-hub-{name}/providers/Microsoft.Network/virtualNetworks/vnet-hub-{name}"
    firewall_id = f"{CONNECTIVITY}/rg-hub-{name}/providers/Microsoft.Network/azureFirewalls/afw-hub-{name}"
    subnet = Subnet(
        f"{vnet_id}/subnets/AzureFirewallSubnet",
        "AzureFirewallSubnet",
        ("10.0.1.0/26",),
        ip_configuration_ids=(f"{firewall_id}/azureFirewallIpConfigurations/ipconfig1",),
    )
    rules = (RuleCollection("aks", 100, "Allow", "application", (FQDN_TAG,)),) if name == "prod" else ()
    firewall = AzureFirewall(firewall_id, f"afw-hub-{name}", "10.0.1.4", rule_collections=rules)
    return VirtualNetwork(vnet_id, f"vnet-hub-{name}", ("10.0.0.0/16",), (subnet,)), firewall


PROD, PROD_FW = hub("prod")
NONPROD, NONPROD_FW = hub("nonprod")


def inventory(
    peer: VirtualNetwork = PROD,
    state: str = "Connected",
    remote_space: tuple[str, ...] = ("10.0.0.0/16",),
    hubs: tuple[VirtualNetwork, ...] = (PROD, NONPROD),
    firewalls: tuple[AzureFirewall, ...] = (PROD_FW, NONPROD_FW),
    next_hop: str = "10.0.1.4",
    nat: bool = False,
    **extra: object,
) -> NetworkInventory:
    node_subnet = Subnet(
        NODE_SUBNET_ID, "snet-nodes", ("10.224.0.0/16",), route_table_id=RT_ID, nat_gateway_id=NAT_ID if nat else None
    )
    spoke = VirtualNetwork(
        VNET_ID, "vnet-aks", ("10.224.0.0/12",), (node_subnet,), (Peering("to-hub", peer.id, state, remote_space),)
    )
    table = RouteTable(RT_ID, "rt-nodes", (Route("default", "0.0.0.0/0", "VirtualAppliance", next_hop),))
    return NetworkInventory(
        virtual_networks={v.id.lower(): v for v in (spoke, *hubs)},
        route_tables={RT_ID.lower(): table},
        firewalls={f.id.lower(): f for f in firewalls},
        **extra,  # type: ignore[arg-type]
    )


def resolve(network: NetworkInventory, ip: str = "10.0.1.4"):
    return resolve_next_hop(ip, VNET_ID, InventoryLookup(network))


def egress(network: NetworkInventory, outbound: str = "userDefinedRouting"):
    snapshot = make_snapshot(make_cluster(outbound_type=outbound), network=network)
    return run_check(egress_rules.CHECK, snapshot, egress_rules.CHECK.limits())


def test_two_hubs_at_the_same_ip_each_spoke_gets_its_own_firewall() -> None:
    assert resolve(inventory(PROD)).firewall == PROD_FW
    assert resolve(inventory(NONPROD)).firewall == NONPROD_FW
    assert egress(inventory(PROD)).status is Status.PASS
    blocked = egress(inventory(NONPROD))
    assert blocked.status is Status.FAIL and "no rule of Azure Firewall afw-hub-nonprod allows it" in blocked.detail


@given(st.permutations([PROD_FW, NONPROD_FW]), st.permutations([PROD, NONPROD]), st.sampled_from([PROD, NONPROD]))
def test_the_answer_never_depends_on_the_order_resources_were_read(firewalls, hubs, peer) -> None:
    hop = resolve(inventory(peer, hubs=tuple(hubs), firewalls=tuple(firewalls)))
    assert hop.firewall == (PROD_FW if peer is PROD else NONPROD_FW)


def test_only_connected_peerings_are_searched() -> None:
    initiated = resolve(inventory(PROD, state="Initiated"))
    assert initiated.firewall is None and "is in no address space of vnet-aks" in (initiated.problem() or "")
    assert egress(inventory(PROD, state="Initiated")).status is Status.WARN
    disconnected = resolve(inventory(PROD, state="Disconnected"))  # a fact: the route is invalid
    assert disconnected.firewall is None and disconnected.invalid
    assert "whose state is Disconnected" in (disconnected.problem() or "")
    assert egress(inventory(PROD, state="Disconnected")).status is Status.FAIL


def test_a_peering_without_its_remote_address_space_reads_the_remote_vnet() -> None:
    assert resolve(inventory(PROD, remote_space=())).firewall == PROD_FW
    gone = resolve(inventory(PROD, remote_space=(), hubs=(NONPROD,)))
    assert gone.firewall is None and gone.missing == ((PROD.id, "is not in the snapshot"),)


def test_a_hub_that_could_not_be_read_is_named_with_why() -> None:
    unreadable = {PROD.id: "403 AuthorizationFailed"}
    finding = egress(inventory(PROD, hubs=(NONPROD,), unreadable=unreadable))
    assert finding.status is Status.WARN
    assert "vnet-hub-prod could not be read (403 AuthorizationFailed)" in finding.detail
    assert finding.evidence["subnets"]["snet-nodes"]["nextHop"]["unreadable"] == {
        PROD.id: "could not be read (403 AuthorizationFailed)"
    }


def test_two_candidates_warn_naming_both() -> None:
    impostor = replace(NONPROD_FW, subnet_id=PROD.subnets[0].id)  # a stale export claiming the same subnet and IP
    hop = resolve(inventory(PROD, firewalls=(PROD_FW, impostor)))
    assert hop.firewall is None and len(hop.appliances) == 2
    finding = egress(inventory(PROD, firewalls=(PROD_FW, impostor)))
    assert finding.status is Status.WARN
    assert "matches 2 appliances" in finding.detail
    assert "Azure Firewall afw-hub-nonprod" in finding.detail and "Azure Firewall afw-hub-prod" in finding.detail


def test_a_network_virtual_appliance_in_the_spoke_itself() -> None:
    nva_subnet = f"{VNET_ID}/subnets/snet-nva"
    nic = NetworkInterface(
        f"{RG_ID}/providers/Microsoft.Network/networkInterfaces/nic-nva",
        "nic-nva",
        None,
        (nva_subnet,),
        ("10.225.0.4",),
    )
    network = inventory(PROD, next_hop="10.225.0.4", interfaces={nic.id.lower(): nic})
    spoke = network.virtual_networks[VNET_ID.lower()]
    spoke = replace(spoke, subnets=(*spoke.subnets, Subnet(nva_subnet, "snet-nva", ("10.225.0.0/24",))))
    network = replace(network, virtual_networks={**network.virtual_networks, VNET_ID.lower(): spoke})
    finding = egress(network)
    assert finding.status is Status.WARN and "network interface nic-nva, a network virtual appliance" in finding.detail


def test_the_route_table_applies_to_load_balancer_clusters_too() -> None:
    blocked = egress(inventory(NONPROD), outbound="loadBalancer")
    assert blocked.status is Status.FAIL and "afw-hub-nonprod" in blocked.detail
    assert egress(inventory(PROD), outbound="loadBalancer").status is Status.PASS


def test_an_appliance_route_takes_precedence_over_the_nat_gateway() -> None:
    nat = NatGateway(NAT_ID, "ng-nodes", (f"{RG_ID}/pip-nat",))
    pip_nat = PublicIpAddress(f"{RG_ID}/pip-nat", "pip-nat", "198.51.100.99")
    network = inventory(NONPROD, nat=True, nat_gateways={NAT_ID.lower(): nat}, public_ips={pip_nat.id.lower(): pip_nat})
    finding = egress(network, outbound="userAssignedNATGateway")
    assert finding.status is Status.FAIL and "afw-hub-nonprod" in finding.detail


def test_a_dropping_or_tunnelled_default_route_for_load_balancer_clusters() -> None:
    network = inventory(PROD)
    for hop_type, status, text in (("None", Status.FAIL, "dropped"), ("VirtualNetworkGateway", Status.WARN, "gateway")):
        table = RouteTable(RT_ID, "rt-nodes", (Route("default", "0.0.0.0/0", hop_type),))
        finding = egress(replace(network, route_tables={RT_ID.lower(): table}), outbound="loadBalancer")
        assert finding.status is status and text in finding.detail
