"""Where a node subnet's internet-bound traffic goes: its route table's 0.0.0.0/0 route and next hop.

The subnet's route table applies whatever the cluster's outboundType: a 0.0.0.0/0 route to a virtual
appliance sends a `loadBalancer` cluster's egress there too, and it takes precedence over a NAT gateway on
the subnet ("Virtual appliance UDR / ExpressRoute >> NAT gateway >> instance level public IP addresses >>
outbound rules on Load balancer >> default outbound access",
https://learn.microsoft.com/azure/nat-gateway/troubleshoot-nat-connectivity). Which appliance a next-hop IP
names is `model.next_hop.resolve_next_hop`: only the node VNet and the VNets peered with it are searched.
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.netrules.addresses import Network, network
from model.arm_ids import last_segment, same_id, vnet_id_of
from model.next_hop import InventoryLookup, NextHop, resolve_next_hop
from model.snapshot import (
    AzureFirewall,
    ClusterSnapshot,
    NetworkInventory,
    Route,
    RouteTable,
    VirtualHub,
    VirtualNetwork,
)

DEFAULT_ROUTE = "0.0.0.0/0"


@dataclass(frozen=True)
class EgressPath:
    """kind: "internet" (system route: the load balancer or NAT gateway), "firewall" (the one Azure Firewall the
    next hop names), "appliance" (a virtual appliance that is not one resolved Azure Firewall: `next_hop` says
    why), "none" (the route drops traffic), or "other" (a gateway: on-premises). `hub`: a Virtual WAN hub whose
    routing intent gives the default route (no route of the subnet's own); `hub_problem` why it cannot be judged."""

    kind: str
    route_table: RouteTable | None = None
    route: Route | None = None
    firewall: AzureFirewall | None = None
    next_hop_ip: str | None = None
    next_hop: NextHop | None = None
    hub: VirtualHub | None = None
    hub_problem: str | None = None

    def unresolved(self) -> str | None:
        """Why a virtual appliance next hop cannot be judged (None when it is a resolved Azure Firewall)."""
        if self.kind != "appliance":
            return None
        if self.hub_problem:
            return self.hub_problem
        return self.next_hop.problem() if self.next_hop else f"next hop {self.next_hop_ip} is not an IP address"

    def describe(self) -> str:
        if self.hub is not None:
            target = f"Azure Firewall {self.firewall.name}" if self.firewall else "a next hop that cannot be judged"
            return f"Virtual WAN hub {self.hub.name}'s routing intent (Internet) -> {target}"
        if self.hub_problem:
            return "a Virtual WAN hub that cannot be read"
        if self.route is None or self.route_table is None:
            return "the system route to the Internet (no 0.0.0.0/0 route)"
        via = f" {self.next_hop_ip}" if self.next_hop_ip else ""
        firewall = f" (Azure Firewall {self.firewall.name})" if self.firewall else ""
        return (
            f"route table {self.route_table.name} route {self.route.name} -> {self.route.next_hop_type}{via}{firewall}"
        )


def route_table_of(inventory: NetworkInventory, subnet_id: str) -> RouteTable | None:
    subnet = inventory.subnet(subnet_id)
    if subnet and subnet.route_table_id:
        return inventory.route_tables.get(subnet.route_table_id.lower())
    return next(
        (table for table in inventory.route_tables.values() if any(same_id(s, subnet_id) for s in table.subnet_ids)),
        None,
    )


def peered_address_space(inventory: NetworkInventory, vnet: VirtualNetwork) -> list[str]:
    """The VNet's prefixes and those of the VNets peered with it (Connected: a peering in any other state
    carries nothing), from the peering's remoteAddressSpace or else the remote VNet's body."""
    prefixes = list(vnet.address_prefixes)
    for peering in vnet.peerings:
        if peering.state.lower() != "connected":
            continue
        remote = inventory.virtual_networks.get((peering.remote_vnet_id or "").lower())
        prefixes += peering.remote_address_prefixes or (remote.address_prefixes if remote else ())
    return prefixes


def reaches_directly(inventory: NetworkInventory, subnet_id: str, address: str) -> bool:
    """Whether traffic from the subnet to `address` follows the system route of its VNet or a Connected peering
    rather than a route of its route table: the longest prefix wins, a user route of the same length over the
    system route (https://learn.microsoft.com/azure/virtual-network/virtual-networks-udr-overview, "How Azure
    selects a route")."""
    target = network(address)
    vnet = inventory.vnet_of_subnet(subnet_id)
    if target is None or vnet is None:
        return False
    system = max(_covering(target, peered_address_space(inventory, vnet)), default=None)
    if system is None:
        return False
    table = route_table_of(inventory, subnet_id)
    user = max(_covering(target, [route.address_prefix for route in table.routes] if table else []), default=-1)
    return user < system


def _covering(target: Network, prefixes: list[str]) -> list[int]:
    """The lengths of the prefixes that hold `target`."""
    found = []
    for prefix in prefixes:
        outer = network(prefix)
        if outer is not None and outer.version == target.version and target.subnet_of(outer):  # type: ignore[arg-type]
            found.append(outer.prefixlen)
    return found


def egress_path(snapshot: ClusterSnapshot, subnet_id: str) -> EgressPath:
    inventory = snapshot.network
    table = route_table_of(inventory, subnet_id) if inventory else None
    route = next((r for r in table.routes if r.address_prefix.strip() == DEFAULT_ROUTE), None) if table else None
    if inventory is None:
        return EgressPath("internet", table)
    if table is None or route is None:
        return virtual_wan_path(inventory, vnet_id_of(subnet_id)) or EgressPath("internet", table)
    hop = route.next_hop_type.lower()
    if hop == "internet":
        return EgressPath("internet", table, route)
    if hop == "none":
        return EgressPath("none", table, route)
    if hop != "virtualappliance":
        return EgressPath("other", table, route, next_hop_ip=route.next_hop_ip)
    next_hop = resolve_next_hop(route.next_hop_ip or "", vnet_id_of(subnet_id), InventoryLookup(inventory))
    firewall = next_hop.firewall
    return EgressPath("firewall" if firewall else "appliance", table, route, firewall, route.next_hop_ip, next_hop)


MANAGED_HUB_VNET = "hv_"  # a Virtual WAN hub's managed VNet: HV_<hub name>_<guid>, in a Microsoft subscription


def virtual_wan_path(inventory: NetworkInventory, vnet_id: str) -> EgressPath | None:
    """The default route a spoke connected to a secured Virtual WAN hub gets from the hub's routing intent (no route
    table of its own: https://learn.microsoft.com/azure/virtual-wan/how-to-routing-policies); None when the VNet
    is connected to no hub, or its hub sets no Internet routing policy (the spoke then reaches the Internet
    itself)."""
    lookup = InventoryLookup(inventory)
    hub = inventory.hub_of(vnet_id)
    if hub is None:
        vnet = inventory.virtual_networks.get(vnet_id.lower())
        managed = [
            p
            for p in (vnet.peerings if vnet else ())
            if last_segment(p.remote_vnet_id).lower().startswith(MANAGED_HUB_VNET)
        ]
        if not managed:
            return None
        peering = managed[0]
        return EgressPath(
            "appliance",
            hub_problem=f"VNet {last_segment(vnet_id)} is connected to a Virtual WAN hub (peering {peering.name} to its "
            f"managed VNet {last_segment(peering.remote_vnet_id)}), but no hub's connection naming it was collected: "
            "where the hub's routing intent sends its traffic is not known",
        )
    if not hub.routing_intent_read:
        if hub.firewall_id is None:
            return None  # not a secured hub: nothing in it filters the spoke's traffic
        why = lookup.unreadable_reason(f"{hub.id}/routingIntent") or "was not collected"
        return EgressPath(
            "appliance",
            hub=hub,
            hub_problem=f"Virtual WAN hub {hub.name}'s routing intent ({hub.id}/routingIntent) {why}",
        )
    if not hub.internet_next_hop:
        return None
    firewall = inventory.firewalls.get(hub.internet_next_hop.lower())
    if firewall is not None:
        return EgressPath("firewall", firewall=firewall, hub=hub)
    if "/azurefirewalls/" in hub.internet_next_hop.lower():
        why = lookup.unreadable_reason(hub.internet_next_hop) or "is not in the snapshot"
        problem = f"Virtual WAN hub {hub.name}'s routing intent sends Internet traffic to Azure Firewall {hub.internet_next_hop}, which {why}"
    else:
        problem = (
            f"Virtual WAN hub {hub.name}'s routing intent sends Internet traffic to {hub.internet_next_hop}, a network "
            "virtual appliance or security SaaS whose rules cannot be read"
        )
    return EgressPath("appliance", hub=hub, hub_problem=problem)


@dataclass(frozen=True)
class OnwardRoute:
    """The firewall subnet's own 0.0.0.0/0 route to a next device (forced tunnelling)."""

    route_table: RouteTable
    route: Route

    def describe(self) -> str:
        via = f" {self.route.next_hop_ip}" if self.route.next_hop_ip else ""
        return f"route table {self.route_table.name} route {self.route.name} -> {self.route.next_hop_type}{via}"

    def evidence(self) -> dict[str, str | None]:
        return {
            "routeTable": self.route_table.id,
            "route": self.route.name,
            "nextHopType": self.route.next_hop_type,
            "nextHopIp": self.route.next_hop_ip,
        }


def onward_route(inventory: NetworkInventory, firewall: AzureFirewall) -> OnwardRoute | None:
    """The route that sends what the firewall allows on to another device: a 0.0.0.0/0 route of the
    AzureFirewallSubnet's route table to anything but the Internet (a VPN or ExpressRoute gateway, an NVA;
    https://learn.microsoft.com/azure/firewall/forced-tunneling). None when the subnet routes to the Internet
    or was not collected."""
    if not firewall.subnet_id:
        return None
    table = route_table_of(inventory, firewall.subnet_id)
    route = next((r for r in table.routes if r.address_prefix.strip() == DEFAULT_ROUTE), None) if table else None
    if table is None or route is None or route.next_hop_type.lower() == "internet":
        return None
    return OnwardRoute(table, route)


def firewall_egress_ip_ids(inventory: NetworkInventory, firewall: AzureFirewall) -> tuple[str, ...]:
    """The public IPs a firewall's outbound traffic leaves from: a NAT gateway on its AzureFirewallSubnet takes
    over ("all outbound traffic uses the public IP address of the NAT gateway",
    https://learn.microsoft.com/azure/firewall/integrate-with-nat-gateway), else its own public IPs."""
    subnet = inventory.subnet(firewall.subnet_id)
    if subnet is None or not subnet.nat_gateway_id:
        return firewall.public_ip_ids
    gateway = inventory.nat_gateways.get(subnet.nat_gateway_id.lower())
    return gateway.public_ip_ids if gateway else (subnet.nat_gateway_id,)  # unread: named as unresolved


def egress_public_ips(snapshot: ClusterSnapshot) -> tuple[list[str], list[str]]:
    """(public addresses the cluster's nodes egress from, resource ids that could not be resolved)."""
    inventory = snapshot.network
    if inventory is None:
        return [], []
    ids: list[str] = []
    hub_addresses: list[str] = []
    if not snapshot.cluster.node_subnet_ids:  # AKS-managed VNet: the load balancer or managed NAT gateway
        ids += snapshot.cluster.outbound_ip_ids
    for subnet_id in snapshot.cluster.node_subnet_ids:
        path = egress_path(snapshot, subnet_id)
        if path.firewall:  # the appliance route wins over a NAT gateway and the load balancer
            ids += firewall_egress_ip_ids(inventory, path.firewall)
            hub_addresses += path.firewall.public_addresses  # a secured hub's firewall lists its addresses itself
        elif path.kind == "internet" and snapshot.cluster.outbound_type != "userDefinedRouting":
            subnet = inventory.subnet(subnet_id)
            gateway = inventory.nat_gateways.get((subnet.nat_gateway_id or "").lower()) if subnet else None
            ids += gateway.public_ip_ids if gateway else snapshot.cluster.outbound_ip_ids
    addresses, unresolved = list(dict.fromkeys(hub_addresses)), []
    for resource_id in dict.fromkeys(ids):
        public_ip = inventory.public_ips.get(resource_id.lower())
        if public_ip and public_ip.ip_address:
            addresses.append(public_ip.ip_address)
        else:
            unresolved.append(resource_id)
    return addresses, unresolved
