"""The network resources one cluster's checks need, found by following the cluster's references.

The walk (node subnets -> VNets -> NSGs and route tables -> the appliance a route's next hop names,
resolved within the VNet and its Connected peerings by `model.next_hop` -> the firewall's policy chain,
rule collection groups and IP groups; outbound IPs; the private DNS zone and its links; peered and client
VNets) reads through a `NetworkSource`. Every reference is followed by its ARM id, in whatever subscription
it lives: a landing zone's hub (VNet, firewall, policies, IP groups, private DNS zones) sits in a
connectivity subscription outside the swept scope. Two sources:

- `BulkNetworkIndex`: the swept subscriptions' network resources from a few Resource Graph pages (Resource
  Graph pages cost one quota unit each, so the whole estate costs tens of queries), and any other reference
  by ARM GET, read once per sweep;
- `ArmNetworkReader`: typed ARM GETs of only what one cluster references (the Function app's
  per-cluster worker: ARM's read limit is per subscription, so fan-out over many subscriptions scales,
  where a Resource Graph read of the whole subscription per cluster would spend the per-user quota).

Firewall policy rule collection groups are not in Resource Graph: both sources read them through ARM. A
reference the identity cannot read (403) or that is gone (404) is recorded, and the cluster's snapshot names
it (`ClusterNetwork.unreadable`, `problems.json` "unreadableReferences").

Every body a source holds has met the loader's bounds (`collect.documents.bounded`) once, when it was read:
a hub firewall shared by a thousand spokes is checked once, not once per spoke.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from collect.arm import ArmView
from collect.documents import DocumentError, bounded, packed_json, unpacked_json
from collect.live import resource_graph
from collect.live.clients import LiveClients
from collect.live.resource_manager import ResourceIdError
from collect.parse_network import parse_resource
from model.arm_ids import last_segment, parent_id, same_id, vnet_id_of
from model.next_hop import Appliance, firewall_of_ip_configuration, nic_of_ip_configuration, resolve_next_hop
from model.snapshot import AzureFirewall, NetworkInterface, Subnet, VirtualNetwork, is_service_tag

JsonObject = dict[str, Any]
RULE_COLLECTION_GROUP = "Microsoft.Network/firewallPolicies/ruleCollectionGroups"
VIRTUAL_HUBS_QUERY = (
    "resources | where type =~ 'microsoft.network/virtualhubs' | project id, name, type, location, properties"
)
MANAGED_HUB_VNET = "hv_"  # a Virtual WAN hub's managed VNet: HV_<hub name>_<guid>, in a subscription Microsoft owns


class NetworkSource(Protocol):
    def get(self, resource_id: str | None) -> JsonObject | None: ...

    def why_unreadable(self, resource_id: str) -> str | None:
        """Why a reference (or a listing: `<policy>/ruleCollectionGroups`, `<zone>/virtualNetworkLinks`) could
        not be read, e.g. "403 AuthorizationFailed"; None when it was read or never asked for."""
        ...

    def rule_collection_groups(self, policy_id: str) -> list[JsonObject]: ...

    def firewalls_in_group(self, group_id: str) -> list[JsonObject]:
        """The Azure Firewalls of a resource group (`/subscriptions/<s>/resourceGroups/<g>`)."""
        ...

    def private_dns_zones(self, subscription: str, resource_group: str, zone_suffix: str) -> list[JsonObject]:
        """The zones of a resource group (AKS puts a "system" zone in the node resource group)."""
        ...

    def zone_links(self, zone_id: str) -> list[JsonObject]: ...

    def virtual_hubs_named(self, name: str) -> list[JsonObject]:
        """The Virtual WAN hubs of this name in every subscription the identity can read (a spoke's peering to the
        hub's managed VNet names the hub, not its id)."""
        ...

    def hub_children(self, hub_id: str, child: str) -> list[JsonObject]:
        """A hub's `hubVirtualNetworkConnections` or `routingIntent`, listed through ARM."""
        ...

    def service_tags(self, subscription: str, location: str) -> JsonObject | None:
        """The Service Tag Discovery API's answer for the cloud of this subscription (Reader suffices)."""
        ...


# The types a reference is read as by ARM id (lower-cased), with the type name ARM spells.
READABLE_TYPES = {
    name.lower(): name
    for name in (
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network/networkSecurityGroups",
        "Microsoft.Network/routeTables",
        "Microsoft.Network/azureFirewalls",
        "Microsoft.Network/firewallPolicies",
        "Microsoft.Network/ipGroups",
        "Microsoft.Network/publicIPAddresses",
        "Microsoft.Network/natGateways",
        "Microsoft.Network/networkInterfaces",
        "Microsoft.Network/privateDnsZones",
        "Microsoft.Network/virtualHubs",
    )
}
HUB_CHILD_TYPES = {
    "hubVirtualNetworkConnections": "Microsoft.Network/virtualHubs/hubVirtualNetworkConnections",
    "routingIntent": "Microsoft.Network/virtualHubs/routingIntent",
}
SERVICE_TAGS_TYPE = "Microsoft.Network/serviceTags"


class ArmNetworkReader:
    """References read by ARM id, in whatever subscription they live, each by one GET (cached for the
    reader's life, shared by a sweep's threads). A reference the identity may not read (403) or that does not
    exist (404) is recorded with why, so the cluster's findings can name it."""

    def __init__(self, clients: LiveClients) -> None:
        self._clients = clients
        self._read: dict[str, Any] = {}  # lower-cased id (or listing key) -> what ARM answered, None if nothing
        self._reading: dict[str, threading.Lock] = {}
        self._unreadable: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, resource_id: str | None) -> JsonObject | None:
        if not resource_id:
            return None
        return self._once(resource_id.lower(), lambda: self._fetch(resource_id))

    def _once(self, key: str, read: Callable[[], Any]) -> Any:
        """`read()` once per key for the reader's life, however many sweep threads ask at the same time."""
        if key in self._read:
            return self._read[key]
        with self._lock:
            pending = self._reading.setdefault(key, threading.Lock())
        with pending:
            if key not in self._read:
                self._read[key] = bounded(read())  # once per body, however many clusters reference it
        return self._read[key]

    def why_unreadable(self, resource_id: str) -> str | None:
        return self._unreadable.get(resource_id.lower())

    def _fetch(self, resource_id: str) -> JsonObject | None:
        parts = resource_id.split("/")
        if len(parts) < 9 or parts[1].lower() != "subscriptions":
            return None
        type_name = READABLE_TYPES.get(f"{parts[6]}/{parts[7]}".lower())
        if type_name is None:
            return None
        top_level = "/".join(parts[:9])  # a subnet's id reads its VNet
        return self._guarded(resource_id, lambda: {**self._clients.arm.get(top_level), "type": type_name})

    def _listing(self, key: str, type_name: str, items: Callable[[], Iterable[JsonObject]]) -> list[JsonObject]:
        """A list read once per reader (`key`, the list's ARM path, names it like a reference), empty when ARM
        answers 403 or 404."""

        def read() -> list[JsonObject]:
            return [{**item, "type": type_name} for item in items()]

        return self._once(key.lower(), lambda: self._guarded(key, read)) or []

    def _guarded(self, key: str, read: Callable[[], Any]) -> Any:
        """`read()`, or None with the reason recorded when ARM answers 403 or 404, or the id is no resource's."""
        try:
            return read()
        except ResourceIdError as exc:  # an id from an answer that names no resource the reads serve
            self._unreadable[key.lower()] = f"not readable by its id ({exc})"
        except ResourceNotFoundError:
            self._unreadable[key.lower()] = "404 not found"
        except HttpResponseError as exc:
            if exc.status_code != 403:
                raise
            code = getattr(exc.error, "code", None) or "Forbidden"
            self._unreadable[key.lower()] = f"403 {code}: the identity may not read it"
        return None

    def rule_collection_groups(self, policy_id: str) -> list[JsonObject]:
        """A policy's rule collection groups (not in Resource Graph), listed once per policy through ARM."""
        return self._listing(
            f"{policy_id}/ruleCollectionGroups",
            RULE_COLLECTION_GROUP,
            lambda: self._clients.arm.rule_collection_groups(policy_id),
        )

    def firewalls_in_group(self, group_id: str) -> list[JsonObject]:
        kind = "Microsoft.Network/azureFirewalls"
        return self._listing(
            f"{group_id}/providers/{kind}", kind, lambda: self._clients.arm.firewalls_in_group(group_id)
        )

    def private_dns_zones(self, subscription: str, resource_group: str, zone_suffix: str) -> list[JsonObject]:
        kind = "Microsoft.Network/privateDnsZones"
        zones = self._clients.arm.private_dns_zones(f"/subscriptions/{subscription}/resourceGroups/{resource_group}")
        try:
            return [{**zone, "type": kind} for zone in zones if str(zone.get("name")).lower().endswith(zone_suffix)]
        except ResourceNotFoundError:
            return []  # no such node resource group: no zone, as a bulk read would find none

    def zone_links(self, zone_id: str) -> list[JsonObject]:
        return self._listing(
            f"{zone_id}/virtualNetworkLinks",
            "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
            lambda: self._clients.arm.zone_links(zone_id),
        )

    def virtual_hubs_named(self, name: str) -> list[JsonObject]:
        """One Resource Graph query per reader for every readable hub (few: one per region of a Virtual WAN)."""
        hubs = self._once(
            "resourcegraph:virtualhubs",
            lambda: self._guarded(
                "resourcegraph:virtualhubs", lambda: list(resource_graph.query(self._clients, VIRTUAL_HUBS_QUERY))
            ),
        )
        return [{**hub, "type": "Microsoft.Network/virtualHubs"} for hub in hubs or () if hub.get("name") == name]

    def hub_children(self, hub_id: str, child: str) -> list[JsonObject]:
        return self._listing(
            f"{hub_id}/{child}", HUB_CHILD_TYPES[child], lambda: self._clients.arm.hub_children(hub_id, child)
        )

    def service_tags(self, subscription: str, location: str) -> JsonObject | None:
        path = f"/subscriptions/{subscription}/providers/Microsoft.Network/locations/{location}/serviceTags"
        return self._once(
            path.lower(),
            lambda: self._guarded(
                path, lambda: {**self._clients.arm.service_tags(subscription, location), "type": SERVICE_TAGS_TYPE}
            ),
        )


class BulkNetworkIndex(ArmNetworkReader):
    """A sweep's network resources: those of the swept clusters' subscriptions from a few Resource Graph pages
    (by lower-cased id), and any other reference (a hub in the connectivity subscription) by ARM id.

    The bodies are kept as compressed compact JSON and read back on each lookup: a 5,000-cluster estate's
    15,000 resources are ~60 MB as Python objects, ~20 MB as text and a third of that compressed; each cluster reads
    about eight of them (0.1 ms). Private DNS zones and their links, listed per resource group or zone, stay
    objects (few)."""

    def __init__(self, resources: Iterable[JsonObject], clients: LiveClients) -> None:
        super().__init__(clients)
        self._bodies: dict[str, bytes] = {}
        self._zones_by_group: dict[str, list[JsonObject]] = {}
        self._links_by_zone: dict[str, list[JsonObject]] = {}
        self.add(resources)

    def add(self, resources: Iterable[JsonObject]) -> None:
        """More rows (a sweep reads its subscriptions in chunks). Lookups of other subscriptions may run
        meanwhile: each row is a key of its own, and a subscription is looked up once its rows are all in."""
        for resource in resources:
            key = str(resource["id"]).lower()
            try:
                body = bounded(resource)
            except DocumentError as exc:  # one malformed body costs the clusters that reference it, named
                self._read[key], self._unreadable[key] = None, f"malformed answer: {exc}"
                continue
            self._bodies[key] = packed_json(body)
            kind = str(body.get("type")).lower()
            if kind == "microsoft.network/privatednszones":
                self._zones_by_group.setdefault("/".join(key.split("/")[:5]), []).append(body)
            elif kind.endswith("/virtualnetworklinks"):
                self._links_by_zone.setdefault(parent_id(key, "virtualNetworkLinks"), []).append(body)

    def get(self, resource_id: str | None) -> JsonObject | None:
        if not resource_id:
            return None
        body = self._bodies.get(resource_id.lower())
        return unpacked_json(body) if body is not None else super().get(resource_id)

    def private_dns_zones(self, subscription: str, resource_group: str, zone_suffix: str) -> list[JsonObject]:
        group = f"/subscriptions/{subscription}/resourcegroups/{resource_group}".lower()
        return [z for z in self._zones_by_group.get(group, []) if str(z["id"]).lower().endswith(zone_suffix)]

    def zone_links(self, zone_id: str) -> list[JsonObject]:
        if zone_id.lower() in self._bodies:
            return self._links_by_zone.get(zone_id.lower(), [])
        return super().zone_links(zone_id)  # a zone outside the swept subscriptions: its links by ARM


NIC_READS_PER_SUBNET = 16  # an appliance subnet holds a few NICs; a shared subnet is not worth reading whole


class _References:
    """`model.next_hop.NetworkLookup` over a `NetworkSource`: every resource it reads joins the cluster's set."""

    def __init__(self, source: NetworkSource, add: Callable[[str | None], JsonObject | None]) -> None:
        self._source = source
        self._add = add

    def virtual_network(self, vnet_id: str) -> VirtualNetwork | None:
        body = self._add(vnet_id)
        parsed = parse_resource(body) if body else None
        return parsed if isinstance(parsed, VirtualNetwork) else None

    def appliances_on(self, subnet: Subnet) -> list[Appliance]:
        found: list[Appliance] = []
        nics = [config for config in subnet.ip_configuration_ids if "/networkinterfaces/" in config.lower()]
        firewall_ids = [
            firewall_of_ip_configuration(config)
            for config in subnet.ip_configuration_ids
            if "/azurefirewalls/" in config.lower()
        ]
        if not subnet.ip_configuration_ids:  # a body without the subnet's read-only list: the VNet's group says
            firewall_ids = [
                str(body["id"])
                for body in self._source.firewalls_in_group(vnet_id_of(subnet.id).rsplit("/providers/", 1)[0])
                if any(same_id(ref, subnet.id) for ref in _firewall_subnets(body))
            ]
        for firewall_id in firewall_ids:
            firewall = self._typed(firewall_id, AzureFirewall)
            if firewall and firewall.private_ip:
                found.append(Appliance(firewall.id, firewall.private_ip, firewall))
        for config in nics[:NIC_READS_PER_SUBNET]:
            nic = self._typed(nic_of_ip_configuration(config), NetworkInterface)
            found += [Appliance(nic.id, ip) for ip in nic.private_ips] if nic else []
        return found

    def unreadable_reason(self, resource_id: str) -> str | None:
        why = self._source.why_unreadable(resource_id)
        return f"could not be read ({why})" if why else None

    def firewalls_in_vnet(self, vnet_id: str) -> list[Appliance]:
        """The firewalls of the VNet's resource group whose IP configuration sits on one of its subnets (the group
        may be readable where the VNet itself is not)."""
        group = vnet_id.rsplit("/providers/", 1)[0]
        found: list[Appliance] = []
        for body in self._source.firewalls_in_group(group):
            if not any(same_id(vnet_id_of(ref), vnet_id) for ref in _firewall_subnets(body)):
                continue
            firewall = self._typed(str(body["id"]), AzureFirewall)
            if firewall and firewall.private_ip:
                found.append(Appliance(firewall.id, firewall.private_ip, firewall))
        return found

    def _typed(self, resource_id: str, kind: type) -> Any:
        body = self._add(resource_id)
        parsed = parse_resource(body) if body else None
        return parsed if isinstance(parsed, kind) else None


def _firewall_subnets(body: JsonObject) -> list[str]:
    return [ref for config in ArmView(body).objs("ipConfigurations") if (ref := config.ref("subnet"))]


@dataclass
class ClusterNetwork:
    """What the walk read for one cluster, and the references it could not read (ARM id -> why)."""

    resources: list[JsonObject]
    unreadable: dict[str, str]


def resources_for_cluster(
    cluster: Mapping[str, Any], context: Mapping[str, Any], inventory: NetworkSource
) -> ClusterNetwork:
    view = ArmView(cluster)
    walk = _Walk(inventory)
    add = walk.add
    subnets = {pool.str("vnetSubnetID") for pool in view.objs("agentPoolProfiles")} - {None}
    if apiserver_subnet := view.obj("apiServerAccessProfile").str("subnetId"):
        subnets.add(apiserver_subnet)
    vnet_ids = {vnet_id_of(subnet) for subnet in subnets if subnet}
    vnet_ids |= {
        str(client["vnet"])
        for client in context.get("clients", [])
        if isinstance(client, Mapping) and client.get("vnet")
    }
    for vnet_id in sorted(vnet_ids, key=str.lower):
        vnet = add(vnet_id)
        for peering in ArmView(vnet).objs("virtualNetworkPeerings") if vnet else ():
            remote = peering.ref("remoteVirtualNetwork")
            if last_segment(remote).lower().startswith(MANAGED_HUB_VNET):
                _add_virtual_hub(remote or "", vnet_id, walk)  # a hub's managed VNet cannot be read: its hub is
                continue
            add(remote)
        for subnet in ArmView(vnet).objs("subnets") if vnet else ():
            add(subnet.ref("networkSecurityGroup"))
            _add_route_path(add(subnet.ref("routeTable")), vnet_id, walk)
            nat = add(subnet.ref("natGateway"))
            for ip in ArmView(nat).refs("publicIpAddresses") if nat else ():
                add(ip)
    network = view.obj("networkProfile")
    for ip in network.obj("loadBalancerProfile").refs("effectiveOutboundIPs") + network.obj("natGatewayProfile").refs(
        "effectiveOutboundIPs"
    ):
        add(ip)
    _add_private_dns(view, walk)
    _add_service_tags(view, walk)
    return ClusterNetwork(list(walk.picked.values()), walk.unreadable())


class _Walk:
    """The resources one cluster's walk picked, and every reference it tried (to name those it could not read)."""

    def __init__(self, source: NetworkSource) -> None:
        self.source = source
        self.picked: dict[str, JsonObject] = {}
        self.tried: dict[str, str] = {}

    def add(self, resource_id: str | None) -> JsonObject | None:
        if resource_id:
            self.tried.setdefault(resource_id.lower(), resource_id)
        resource = self.source.get(resource_id)
        if resource is not None:
            self.keep(resource)
        return resource

    def keep(self, resource: JsonObject) -> None:
        self.picked.setdefault(str(resource["id"]).lower(), resource)

    def listing(self, key: str) -> None:
        """A listing tried (a policy's rule collection groups, a zone's links), named like a reference."""
        self.tried.setdefault(key.lower(), key)

    def unreadable(self) -> dict[str, str]:
        return {
            resource_id: why
            for resource_id in sorted(self.tried.values(), key=str.lower)
            if (why := self.source.why_unreadable(resource_id))
        }


def _add_route_path(table: JsonObject | None, vnet_id: str, walk: _Walk) -> None:
    """The appliances the table's routes send traffic to (resolved within the VNet and its Connected peerings,
    `model.next_hop`), and for each Azure Firewall: its public IPs, policy chain, rule collection groups and IP
    groups, by ARM id wherever they live."""
    lookup = _References(walk.source, walk.add)
    for route in ArmView(table).objs("routes") if table else ():
        if (route.str("nextHopType") or "").lower() != "virtualappliance" or not route.str("nextHopIpAddress"):
            continue
        hop = resolve_next_hop(route.str("nextHopIpAddress") or "", vnet_id, lookup)
        for appliance in hop.appliances:
            firewall = walk.add(appliance.id) if appliance.firewall else None
            if firewall is not None:
                _add_firewall(firewall, walk)


def _add_firewall(firewall: JsonObject, walk: _Walk) -> None:
    firewall_view = ArmView(firewall)
    for config in firewall_view.objs("ipConfigurations"):
        walk.add(config.ref("publicIPAddress"))
        _add_firewall_subnet(config.ref("subnet"), walk)
    rules: list[ArmView] = [
        rule
        for kind in ("networkRuleCollections", "applicationRuleCollections")
        for c in firewall_view.objs(kind)
        for rule in c.objs("rules")
    ]
    policy_id = firewall_view.ref("firewallPolicy")
    seen: set[str] = set()
    while policy_id and policy_id.lower() not in seen:
        seen.add(policy_id.lower())
        policy = walk.add(policy_id)
        walk.listing(f"{policy_id}/ruleCollectionGroups")
        for group in walk.source.rule_collection_groups(policy_id):
            walk.keep(group)
            rules += [rule for c in ArmView(group).objs("ruleCollections") for rule in c.objs("rules")]
        policy_id = ArmView(policy).ref("basePolicy") if policy else None
    for rule in rules:
        for group_id in rule.strs("sourceIpGroups") + rule.strs("destinationIpGroups"):
            walk.add(group_id)


def _add_firewall_subnet(subnet_id: str | None, walk: _Walk) -> None:
    """What the AzureFirewallSubnet itself holds: a NAT gateway (the firewall's egress IPs then are the gateway's)
    and its own route table (forced tunnelling: 0.0.0.0/0 onward to a gateway or another appliance)."""
    vnet = walk.add(vnet_id_of(subnet_id)) if subnet_id else None
    for subnet in ArmView(vnet).objs("subnets") if vnet else ():
        if not same_id(subnet.str("id"), subnet_id):
            continue
        walk.add(subnet.ref("routeTable"))
        nat = walk.add(subnet.ref("natGateway"))
        for ip in ArmView(nat).refs("publicIpAddresses") if nat else ():
            walk.add(ip)


def _add_virtual_hub(managed_vnet: str, spoke_vnet: str, walk: _Walk) -> None:
    """A spoke peered with a Virtual WAN hub's managed VNet (`HV_<hub>_<guid>`): the hub of that name whose
    hubVirtualNetworkConnection names the spoke, its routing intent, and the firewall its Internet policy names
    (with the firewall's policy chain), wherever they live."""
    hub_name = last_segment(managed_vnet)[len(MANAGED_HUB_VNET) :].rsplit("_", 1)[0]
    for hub in walk.source.virtual_hubs_named(hub_name):
        hub_id = str(hub["id"])
        walk.listing(f"{hub_id}/hubVirtualNetworkConnections")
        connections = [
            connection
            for connection in walk.source.hub_children(hub_id, "hubVirtualNetworkConnections")
            if same_id(ArmView(connection).ref("remoteVirtualNetwork"), spoke_vnet)
        ]
        if not connections:
            continue
        for kept in (hub, *connections):
            walk.keep(kept)
        walk.listing(f"{hub_id}/routingIntent")
        for intent in walk.source.hub_children(hub_id, "routingIntent"):
            walk.keep(intent)
            for policy in ArmView(intent).objs("routingPolicies"):
                firewall = (
                    walk.add(policy.str("nextHop"))
                    if "/azurefirewalls/" in (policy.str("nextHop") or "").lower()
                    else None
                )
                if firewall is not None:
                    _add_firewall(firewall, walk)
        return


def _add_service_tags(view: ArmView, walk: _Walk) -> None:
    """The Service Tag Discovery API's answer, cut to the tags the cluster's NSG rules name (the whole list is a
    few MB; a rule names a handful)."""
    named = {
        spec.lower()
        for body in walk.picked.values()
        if str(body.get("type")).lower() == "microsoft.network/networksecuritygroups"
        for rule in ArmView(body).objs("securityRules")
        for spec in (*rule.strs("destinationAddressPrefix"), *rule.strs("destinationAddressPrefixes"))
        if is_service_tag(spec)
    }
    cluster_id = view.str("id") or ""
    if not named or not cluster_id.lower().startswith("/subscriptions/"):
        return
    tags = walk.source.service_tags(cluster_id.split("/")[2], view.str("location") or "")
    if tags is None:
        walk.listing(
            f"/subscriptions/{cluster_id.split('/')[2]}/providers/Microsoft.Network/locations/{view.str('location')}/serviceTags"
        )
        return
    values = [value for value in tags.get("values") or () if str(value.get("name")).lower() in named]
    walk.keep({**{key: value for key, value in tags.items() if key != "values"}, "values": values})


def _add_private_dns(view: ArmView, walk: _Walk) -> None:
    access = view.obj("apiServerAccessProfile")
    if not access.bool("enablePrivateCluster"):
        return
    zone_setting = access.str("privateDNSZone") or "system"
    if zone_setting.lower().startswith("/subscriptions/"):
        zones = [zone for zone in [walk.add(zone_setting)] if zone]
    else:
        subscription = str(view.str("id") or "").split("/")[2] if view.str("id") else ""
        suffix = f"privatelink.{(view.str('location') or '').lower()}.azmk8s.io"
        zones = walk.source.private_dns_zones(subscription, view.str("nodeResourceGroup") or "", suffix)
    for zone in zones:
        walk.keep(zone)
        walk.listing(f"{zone['id']}/virtualNetworkLinks")
        for link in walk.source.zone_links(str(zone["id"])):
            walk.keep(link)
