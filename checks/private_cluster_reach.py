"""private-cluster-reach: every declared client of a private cluster sits on a network that reaches it.

skipped: not private. warn: private with no declared client. fail, per client: no `vnet` (a public
network cannot reach a private API server); a VNet that is neither the cluster's nor peered with
it (peering state Connected); the cluster's private DNS zone (when in the snapshot) not linked to
the client VNet, unless the private cluster's public FQDN is enabled. pass when every client is
reachable. warn when the zone (in a connectivity subscription, say) or its list of links could not be
read (403), naming it: the links are then not judged. Only the per-client branch reads the network (peerings and DNS links): without it that
branch is skipped, while "not private" and "no declared client" are judged from the cluster alone.
Follows https://learn.microsoft.com/azure/aks/private-clusters (options for connecting to the private
cluster: a VM in the cluster's VNet or a peered VNet, with the private DNS zone linked to that VNet; "Hub and
spoke with custom DNS": the zone linked to the hub VNet only, the spokes' DNS servers a forwarder or DNS Private
Resolver inbound endpoint in the hub). A client VNet with custom DNS servers (dhcpOptions.dnsServers) resolves
where its first DNS server sits: the link is judged on the VNet (its own or a Connected peer) whose address space
holds that server; a client on Azure-provided DNS needs the link on its own VNet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from checks.check import Check, Verdict, need
from model.arm_ids import last_segment, same_id, vnet_id_of
from model.finding import Severity, Status
from model.next_hop import InventoryLookup
from model.root_cause import CauseKind, RootCause
from model.snapshot import Client, ClusterSnapshot, NetworkInventory, PrivateDnsZone, Source

DOCS = "https://learn.microsoft.com/azure/aks/private-clusters"


def evaluate(snapshot: ClusterSnapshot, limits: object) -> Verdict:
    cluster = snapshot.cluster
    if not cluster.is_private:
        return Verdict(
            Status.SKIPPED, "Not a private cluster", "The API server has a public endpoint; see authorized-ip-ranges."
        )
    clients = need(snapshot.clients, Source.CONTEXT)
    if not clients:
        return Verdict(
            Status.WARN,
            "Private cluster with no declared client",
            "Nobody is declared to need the API server, so nothing says which networks must reach it.",
            'Declare clients with their VNet in context.json: {"clients": [{"name": "jumpbox", "ips": ["10.10.1.4"], "vnet": "<vnet id>"}]}',
        )
    network = need(snapshot.network, Source.NETWORK)
    # Lower-cased ids for matching, to the cluster's own spelling for the commands.
    cluster_vnets = {vnet_id_of(subnet).lower(): vnet_id_of(subnet) for subnet in cluster.node_subnet_ids}
    zone = _private_zone(cluster.private_dns_zone, network, cluster.location)
    unread_zone = _unread_zone(cluster.private_dns_zone, zone, network)
    if unread_zone:
        zone = None  # its links are unknown: not a reason to fail a client
    failures: list[str] = []
    fixes: list[str] = []
    causes: dict[str, RootCause] = {}
    doubts: list[str] = []
    for client in clients:
        problem, fix, cause = _client_problem(
            client, cluster_vnets, network, zone, cluster.private_public_fqdn_enabled, doubts
        )
        if problem:
            failures.append(problem)
            fixes += fix
        if cause:
            causes[cause.key] = causes[cause.key].joined(cause) if cause.key in causes else cause
    evidence = {
        "clusterVnets": sorted(cluster_vnets.values()),
        "privateDnsZone": zone.id if zone else cluster.private_dns_zone,
        "zoneLinks": list(zone.linked_vnet_ids) if zone else [],
        "clients": [{"name": c.name, "vnet": c.vnet} for c in clients],
        "dnsServers": {
            c.name: {"address": server.address, "vnet": server.vnet_id}
            for c in clients
            if c.vnet and (server := _resolving_vnet(network, c.vnet))
        },
    }
    if failures:
        return Verdict(
            Status.FAIL,
            f"{len(failures)} client(s) cannot reach the private API server",
            "; ".join(failures),
            "; ".join(fixes),
            evidence,
            tuple(causes.values()),
        )
    if unread_zone:
        zone_id, why = unread_zone
        return Verdict(
            Status.WARN,
            "Private DNS zone links cannot be verified",
            f"Clients {', '.join(c.name for c in clients)} sit on networks peered with the cluster, but private DNS "
            f"zone {last_segment(zone_id)} {why}: whether their VNets resolve the API server name is not known.",
            f"Grant the checker Reader on the zone: az role assignment create --assignee-object-id <identity principal id> "
            f"--assignee-principal-type ServicePrincipal --role Reader --scope {zone_id.rsplit('/providers/', 1)[0]}",
            {**evidence, "unreadable": {zone_id: why}},
        )
    if doubts:
        return Verdict(
            Status.WARN,
            "Name resolution of the private API server cannot be verified",
            "; ".join(doubts),
            f"Check the DNS server forwards {zone.name if zone else 'privatelink.<region>.azmk8s.io'} to Azure DNS "
            "(168.63.129.16) from a VNet linked to the zone, e.g. with a DNS Private Resolver inbound endpoint in the hub",
            evidence,
        )
    dns_note = "" if zone else " (private DNS zone not in the snapshot: links not verified)"
    return Verdict(
        Status.PASS,
        f"All {len(clients)} client(s) sit on networks that reach the API server",
        f"Clients: {', '.join(c.name for c in clients)}{dns_note}",
        "",
        evidence,
    )


def _client_problem(
    client: Client,
    cluster_vnets: dict[str, str],
    network: NetworkInventory,
    zone: PrivateDnsZone | None,
    public_fqdn: bool,
    doubts: list[str],
) -> tuple[str | None, list[str], RootCause | None]:
    """(what is wrong, the fixes, the shared resource at fault): a client VNet without a Connected peering (the
    client's VNet, a hub say, is the cause every cluster it cannot reach shares), or the zone without a link for
    the VNet the client resolves in (its own, or the one holding its DNS server). A client on no VNet is the
    declaration's own matter: no shared cause. A DNS server outside every peered network adds to `doubts`."""
    if not client.vnet:
        return (
            f"{client.name} ({', '.join(client.ips) or 'no address'}) is on no Azure VNet: a private API server is only reachable from connected networks",
            [
                f"{client.name}: run from a VNet peered with the cluster's, or use az aks command invoke / enable the public FQDN"
            ],
            None,
        )
    client_vnet = client.vnet.lower()
    if client_vnet not in cluster_vnets and not _peered(network, client_vnet, cluster_vnets):
        group, name = _vnet_parts(next(iter(cluster_vnets.values()), ""))
        fix = f"az network vnet peering create -g {group} --vnet-name {name} -n to-{last_segment(client.vnet)} --remote-vnet {client.vnet} --allow-vnet-access (and the reverse peering from {last_segment(client.vnet)})"
        summary = f"VNet {last_segment(client.vnet)} of client {client.name} has no Connected peering with these clusters' VNets"
        cause = RootCause.of(
            CauseKind.PEERING, client.vnet, summary=summary, fixes=(fix,), items=(f"no peering with {name}",)
        )
        return (
            f"{client.name}'s VNet {last_segment(client.vnet)} has no Connected peering with the cluster VNet {name}",
            [fix],
            cause,
        )
    if zone and not public_fqdn and not any(same_id(link, client.vnet) for link in zone.linked_vnet_ids):
        resolver = _resolving_vnet(network, client.vnet)
        if resolver is not None and resolver.vnet_id is None:
            doubts.append(
                f"{client.name}'s DNS server {resolver.address} sits outside its VNet and the VNets peered with it "
                "(on premises?): whether it forwards the private zone to a VNet linked to it is not known"
            )
            return None, [], None
        if resolver is not None and any(same_id(link, resolver.vnet_id) for link in zone.linked_vnet_ids):
            return None, [], None  # its DNS server sits in a linked VNet (the hub): the name resolves there
        zone_group, _ = _vnet_parts(zone.id)
        target = resolver.vnet_id if resolver and resolver.vnet_id else client.vnet
        fix = f"az network private-dns link vnet create -g {zone_group} -z {zone.name} -n {last_segment(target)}-link -v {target} -e false"
        summary = f"private DNS zone {zone.name} has no link for VNet {last_segment(target)} (client {client.name})"
        problem = (
            f"{client.name}'s DNS server {resolver.describe()} sits in VNet {last_segment(target)}, which is not linked "
            f"to private DNS zone {zone.name}: the API server name does not resolve there"
            if resolver
            else f"{client.name}'s VNet {last_segment(client.vnet)} is not linked to private DNS zone {zone.name} (it "
            "uses Azure-provided DNS): the API server name does not resolve there"
        )
        return (
            problem,
            [fix],
            RootCause.of(CauseKind.PRIVATE_DNS_LINK, zone.id, target, summary=summary, fixes=(fix,)),
        )
    return None, [], None


@dataclass(frozen=True)
class _DnsServer:
    """The client VNet's DNS server and the VNet (its own, or a Connected peer) whose address space holds it."""

    address: str
    vnet_id: str | None  # None: in no address space of the client VNet and its Connected peerings
    resolver_subnet: bool = False  # the subnet holding it is delegated to DNS Private Resolver (an inbound endpoint)

    def describe(self) -> str:
        return f"{self.address} (a DNS Private Resolver inbound endpoint)" if self.resolver_subnet else self.address


def _resolving_vnet(network: NetworkInventory, client_vnet: str) -> _DnsServer | None:
    """Where the client's queries are answered: the VNet holding the first of its dhcpOptions.dnsServers (a DNS
    forwarder, a DNS Private Resolver inbound endpoint, or the hub firewall as DNS proxy) among its own VNet and
    its Connected peerings (no VNet when it sits in none of them); None with Azure-provided DNS."""
    vnet = network.virtual_networks.get(client_vnet.lower())
    if vnet is None or not vnet.dns_servers:
        return None
    server = vnet.dns_servers[0]  # the first answers; the others only when it does not
    candidates = [(vnet.id, vnet.address_prefixes)] + [
        (peering.remote_vnet_id, peering.remote_address_prefixes or _prefixes(network, peering.remote_vnet_id))
        for peering in vnet.peerings
        if peering.remote_vnet_id and peering.state.lower() == "connected"
    ]
    for vnet_id, prefixes in candidates:
        if any(_holds(prefix, server) for prefix in prefixes):
            holder = network.virtual_networks.get(vnet_id.lower())
            subnet = (
                next((s for s in holder.subnets if any(_holds(p, server) for p in s.address_prefixes)), None)
                if holder
                else None
            )
            delegated = bool(subnet and any(d.lower() == RESOLVER_DELEGATION for d in subnet.delegations))
            return _DnsServer(server, vnet_id, delegated)
    return _DnsServer(server, None)


RESOLVER_DELEGATION = "microsoft.network/dnsresolvers"


def _prefixes(network: NetworkInventory, vnet_id: str) -> tuple[str, ...]:
    vnet = network.virtual_networks.get(vnet_id.lower())
    return vnet.address_prefixes if vnet else ()


def _holds(prefix: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip()) in ipaddress.ip_network(prefix.strip(), strict=False)
    except ValueError:
        return False


def _peered(network: NetworkInventory, client_vnet: str, cluster_vnets: dict[str, str]) -> bool:
    for vnet_id in {*cluster_vnets, client_vnet}:
        vnet = network.virtual_networks.get(vnet_id)
        others = set(cluster_vnets) if vnet_id == client_vnet else {client_vnet}
        for peering in vnet.peerings if vnet else ():
            if (peering.remote_vnet_id or "").lower() in others and peering.state.lower() == "connected":
                return True
    return False


def _private_zone(setting: str | None, network: NetworkInventory, region: str) -> PrivateDnsZone | None:
    if setting and setting.lower().startswith("/subscriptions/"):
        return network.private_dns_zones.get(setting.lower())
    suffix = f"privatelink.{region}.azmk8s.io".lower()
    return next((zone for zone in network.private_dns_zones.values() if zone.name.lower().endswith(suffix)), None)


def _unread_zone(setting: str | None, zone: PrivateDnsZone | None, network: NetworkInventory) -> tuple[str, str] | None:
    """(zone id, why) when the cluster's private DNS zone, or its list of VNet links, could not be read."""
    zone_id = zone.id if zone else setting if (setting or "").lower().startswith("/subscriptions/") else None
    if not zone_id:
        return None
    lookup = InventoryLookup(network)
    why = lookup.unreadable_reason(zone_id) or lookup.unreadable_reason(f"{zone_id}/virtualNetworkLinks")
    return (zone_id, why) if why else None


def _vnet_parts(resource_id: str) -> tuple[str, str]:
    """(resource group, name) of a resource id."""
    parts = resource_id.split("/")
    return (parts[4] if len(parts) > 4 else ""), last_segment(resource_id)


CHECK = Check(
    id="private-cluster-reach",
    title="Private cluster reachability",
    severity=Severity.HIGH,
    docs=DOCS,
    evaluate=evaluate,
)
