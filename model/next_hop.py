"""Which appliance a route's next-hop IP names: the one resolution every path uses (a snapshot's checks, the
live sweep, the Function app's per-cluster worker).

A private address is unique only within a virtual network and the networks peered with it; templates give
every hub's firewall the first usable address of its AzureFirewallSubnet (10.0.1.4 for 10.0.1.0/26), so the
same IP names a different firewall in every hub of an estate. The IP is therefore looked up only where the
node subnet can send it: the node VNet's address space and the address spaces of the VNets peered with it
(peering state Connected). Then: the VNet whose prefixes hold the IP -> the subnet whose prefix holds it ->
the IP configurations on that subnet -> the Azure Firewall (or network interface) with that private IP.
When a peered VNet's body cannot be read (a hub in a connectivity subscription), a firewall whose own body puts
that IP on a subnet of that VNet is the appliance. Zero candidates, or two, are reported as such: nothing is chosen by order. When the IP lies only in the address
space of a peering whose state is Disconnected (the other side was deleted), the route is invalid: a next hop must
be reachable over direct connectivity (udr-overview: a route to a virtual appliance whose address the subnet
cannot reach is an invalid configuration), so Azure drops what it carries.

Docs: https://learn.microsoft.com/azure/virtual-network/virtual-networks-udr-overview (next hop type
"Virtual appliance": the private IP of a NIC or internal load balancer in the virtual network or a peered one)
and https://learn.microsoft.com/azure/virtual-network/virtual-network-peering-overview.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from model.arm_ids import last_segment, parent_id, same_id, vnet_id_of
from model.snapshot import AzureFirewall, NetworkInventory, Peering, Subnet, VirtualNetwork

CONNECTED = "connected"
DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class Appliance:
    """What holds a next-hop IP: an Azure Firewall, or a network interface (a network virtual appliance)."""

    id: str
    private_ip: str
    firewall: AzureFirewall | None = None

    def describe(self) -> str:
        if self.firewall is not None:
            return f"Azure Firewall {self.firewall.name}"
        return f"network interface {last_segment(self.id)}"


class NetworkLookup(Protocol):
    """Where the resolution reads: a snapshot's inventory, or ARM reads by id (any subscription)."""

    def virtual_network(self, vnet_id: str) -> VirtualNetwork | None: ...

    def appliances_on(self, subnet: Subnet) -> Sequence[Appliance]:
        """The firewalls and network interfaces with an IP configuration on this subnet."""
        ...

    def unreadable_reason(self, resource_id: str) -> str | None:
        """Why a reference could not be read ("403 ..."), or None when it is simply absent."""
        ...

    def firewalls_in_vnet(self, vnet_id: str) -> Sequence[Appliance]:
        """The Azure Firewalls whose IP configuration sits on a subnet of this VNet, from their own bodies (for a
        VNet whose body could not be read)."""
        ...


@dataclass(frozen=True)
class NextHop:
    ip: str
    appliances: tuple[Appliance, ...] = ()  # every candidate: one is the answer, more is ambiguous
    subnet_id: str | None = None  # the subnet (node VNet or a peered one) whose prefix holds the IP
    missing: tuple[tuple[str, str], ...] = ()  # (resource id, why) of VNets that could not be read
    searched: tuple[str, ...] = ()  # the VNets whose address spaces were searched
    disconnected: tuple[Peering, ...] = ()  # Disconnected peerings whose remote address space holds the IP

    @property
    def invalid(self) -> bool:
        """The IP is reachable only through a Disconnected peering: the route is invalid, the traffic dropped."""
        return bool(self.disconnected) and not self.appliances and not self.subnet_id and not self.missing

    @property
    def appliance(self) -> Appliance | None:
        return self.appliances[0] if len(self.appliances) == 1 else None

    @property
    def firewall(self) -> AzureFirewall | None:
        return self.appliance.firewall if self.appliance else None

    def problem(self) -> str | None:
        """Why the next hop is not one Azure Firewall, in one sentence; None when it is."""
        if self.firewall is not None:
            return None
        if len(self.appliances) > 1:
            names = " and ".join(f"{a.describe()} ({a.id})" for a in self.appliances)
            return f"next hop {self.ip} matches {len(self.appliances)} appliances, {names}: which one carries the traffic cannot be told"
        if self.appliance is not None:
            return f"next hop {self.ip} is {self.appliance.describe()}, a network virtual appliance whose rules cannot be read"
        if self.invalid:
            peerings = ", ".join(f"{p.name} (to {last_segment(p.remote_vnet_id or '')})" for p in self.disconnected)
            return (
                f"next hop {self.ip} lies only behind peering {peerings}, whose state is Disconnected (the other "
                "side was deleted): the route is invalid and Azure drops the traffic it carries"
            )
        if self.missing:
            reasons = "; ".join(f"{last_segment(vnet)} {why}" for vnet, why in self.missing)
            return f"next hop {self.ip} may sit in a virtual network that could not be read ({reasons})"
        if self.subnet_id:
            return f"next hop {self.ip} is in subnet {last_segment(self.subnet_id)}, but no Azure Firewall or network interface there holds that address"
        searched = ", ".join(last_segment(vnet) for vnet in self.searched) or "no virtual network"
        return f"next hop {self.ip} is in no address space of {searched} (the node VNet and its Connected peerings)"


def resolve_next_hop(ip: str, node_vnet_id: str, lookup: NetworkLookup) -> NextHop:
    """The appliance a node subnet's route sends `ip` to (see the module docstring)."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return NextHop(ip)
    node = lookup.virtual_network(node_vnet_id)
    if node is None:
        return NextHop(ip, missing=((node_vnet_id, _why(lookup, node_vnet_id)),))
    missing: list[tuple[str, str]] = []
    holders: list[str] = [node.id] if _holds(node.address_prefixes, address) else []
    searched = [node.id]
    disconnected: list[Peering] = []
    for peering in node.peerings:
        if peering.state.lower() == DISCONNECTED and _holds(peering.remote_address_prefixes, address):
            disconnected.append(peering)  # its remote VNet is gone: the peering's own record of its space says
        if not peering.remote_vnet_id or peering.state.lower() != CONNECTED:
            continue
        searched.append(peering.remote_vnet_id)
        prefixes = peering.remote_address_prefixes
        if not prefixes:  # an older export without remoteAddressSpace: the remote VNet itself says
            remote = lookup.virtual_network(peering.remote_vnet_id)
            if remote is None:
                missing.append((peering.remote_vnet_id, _why(lookup, peering.remote_vnet_id)))
                continue
            prefixes = remote.address_prefixes
        if _holds(prefixes, address):
            holders.append(peering.remote_vnet_id)
    appliances: dict[str, Appliance] = {}
    subnet_id: str | None = None
    for vnet_id in dict.fromkeys(holders):
        vnet = node if same_id(vnet_id, node.id) else lookup.virtual_network(vnet_id)
        if vnet is None:  # the firewall's own body says which subnet its address sits on
            found = [a for a in lookup.firewalls_in_vnet(vnet_id) if _same_ip(a.private_ip, address)]
            for appliance in found:
                appliances.setdefault(appliance.id.lower(), appliance)
                subnet_id = subnet_id or (appliance.firewall.subnet_id if appliance.firewall else None)
            if not found:
                missing.append((vnet_id, _why(lookup, vnet_id)))
            continue
        for subnet in vnet.subnets:
            if not _holds(subnet.address_prefixes, address):
                continue
            subnet_id = subnet_id or subnet.id
            for appliance in lookup.appliances_on(subnet):
                if _same_ip(appliance.private_ip, address):
                    appliances.setdefault(appliance.id.lower(), appliance)
    ordered = tuple(sorted(appliances.values(), key=lambda appliance: appliance.id.lower()))
    return NextHop(ip, ordered, subnet_id, tuple(missing), tuple(searched), tuple(disconnected))


class InventoryLookup:
    """The resolution's reads over a snapshot's `NetworkInventory`."""

    def __init__(self, inventory: NetworkInventory) -> None:
        self._inventory = inventory
        self._unreadable = {key.lower(): why for key, why in inventory.unreadable.items()}

    def virtual_network(self, vnet_id: str) -> VirtualNetwork | None:
        return self._inventory.virtual_networks.get(vnet_id.lower())

    def appliances_on(self, subnet: Subnet) -> list[Appliance]:
        named = {firewall_of_ip_configuration(config).lower() for config in subnet.ip_configuration_ids}
        found = [
            Appliance(firewall.id, firewall.private_ip, firewall)
            for firewall in self._inventory.firewalls.values()
            if firewall.private_ip and (same_id(firewall.subnet_id, subnet.id) or firewall.id.lower() in named)
        ]
        found += [
            Appliance(nic.id, ip)
            for nic in self._inventory.interfaces.values()
            if any(same_id(nic_subnet, subnet.id) for nic_subnet in nic.subnet_ids)
            for ip in nic.private_ips
        ]
        return found

    def unreadable_reason(self, resource_id: str) -> str | None:
        why = self._unreadable.get(resource_id.lower())
        return f"could not be read ({why})" if why else None

    def firewalls_in_vnet(self, vnet_id: str) -> list[Appliance]:
        return [
            Appliance(firewall.id, firewall.private_ip, firewall)
            for firewall in self._inventory.firewalls.values()
            if firewall.private_ip and firewall.subnet_id and same_id(vnet_id_of(firewall.subnet_id), vnet_id)
        ]


def firewall_of_ip_configuration(config_id: str) -> str:
    """`.../azureFirewalls/fw/azureFirewallIpConfigurations/c` -> `.../azureFirewalls/fw` (other ids unchanged)."""
    return parent_id(config_id, "azureFirewallIpConfigurations")


def nic_of_ip_configuration(config_id: str) -> str:
    """`.../networkInterfaces/nic/ipConfigurations/c` -> `.../networkInterfaces/nic` (other ids unchanged)."""
    return parent_id(config_id, "ipConfigurations")


def _why(lookup: NetworkLookup, resource_id: str) -> str:
    return lookup.unreadable_reason(resource_id) or "is not in the snapshot"


def _holds(prefixes: Iterable[str], address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    for prefix in prefixes:
        try:
            if address in ipaddress.ip_network(prefix.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def _same_ip(text: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(text.strip()) == address
    except ValueError:
        return False
