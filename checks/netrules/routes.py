"""Where a node subnet's internet-bound traffic goes: its route table's 0.0.0.0/0 route and next hop."""

from __future__ import annotations

from dataclasses import dataclass

from model.arm_ids import same_id
from model.snapshot import AzureFirewall, ClusterSnapshot, NetworkInventory, Route, RouteTable

DEFAULT_ROUTE = "0.0.0.0/0"


@dataclass(frozen=True)
class EgressPath:
    """kind: "internet" (system route), "firewall" (an Azure Firewall in the snapshot), "appliance" (a virtual
    appliance that is not), "none" (the route drops traffic), or "other" (a gateway: on-premises)."""

    kind: str
    route_table: RouteTable | None = None
    route: Route | None = None
    firewall: AzureFirewall | None = None
    next_hop_ip: str | None = None

    def describe(self) -> str:
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


def egress_path(snapshot: ClusterSnapshot, subnet_id: str) -> EgressPath:
    inventory = snapshot.network
    table = route_table_of(inventory, subnet_id) if inventory else None
    route = next((r for r in table.routes if r.address_prefix.strip() == DEFAULT_ROUTE), None) if table else None
    if inventory is None or table is None or route is None:
        return EgressPath("internet", table)
    hop = route.next_hop_type.lower()
    if hop == "internet":
        return EgressPath("internet", table, route)
    if hop == "none":
        return EgressPath("none", table, route)
    if hop != "virtualappliance":
        return EgressPath("other", table, route, next_hop_ip=route.next_hop_ip)
    firewall = next((fw for fw in inventory.firewalls.values() if fw.private_ip == route.next_hop_ip), None)
    return EgressPath("firewall" if firewall else "appliance", table, route, firewall, route.next_hop_ip)


def egress_public_ips(snapshot: ClusterSnapshot) -> tuple[list[str], list[str]]:
    """(public addresses the cluster's nodes egress from, resource ids that could not be resolved)."""
    inventory = snapshot.network
    if inventory is None:
        return [], []
    ids: list[str] = []
    if snapshot.cluster.outbound_type == "userDefinedRouting":
        for subnet_id in snapshot.cluster.node_subnet_ids:
            path = egress_path(snapshot, subnet_id)
            if path.firewall:
                ids += path.firewall.public_ip_ids
    else:
        ids += snapshot.cluster.outbound_ip_ids
        for subnet_id in snapshot.cluster.node_subnet_ids:
            subnet = inventory.subnet(subnet_id)
            gateway = inventory.nat_gateways.get((subnet.nat_gateway_id or "").lower()) if subnet else None
            ids += gateway.public_ip_ids if gateway else ()
    addresses, unresolved = [], []
    for resource_id in dict.fromkeys(ids):
        public_ip = inventory.public_ips.get(resource_id.lower())
        if public_ip and public_ip.ip_address:
            addresses.append(public_ip.ip_address)
        else:
            unresolved.append(resource_id)
    return addresses, unresolved
