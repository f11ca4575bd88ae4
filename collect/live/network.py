"""The network resources one cluster's checks need, found by following the cluster's references.

The walk (node subnets -> VNets -> NSGs and route tables -> the firewall at the default route's next
hop -> its policy chain, rule collection groups and IP groups; outbound IPs; the private DNS zone and
its links; peered and client VNets) reads through a `NetworkSource`. Two sources:

- `NetworkInventory`: the estate's network resources from a few Resource Graph pages (a sweep:
  Resource Graph pages cost one quota unit each, so the whole estate costs tens of queries);
- `ArmNetworkReader`: typed ARM GETs of only what one cluster references (the Function app's
  per-cluster worker: ARM's read limit is per subscription, so fan-out over many subscriptions scales,
  where a Resource Graph read of the whole subscription per cluster would spend the per-user quota).

Firewall policy rule collection groups are not in Resource Graph: both sources read them through ARM.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from azure.core.exceptions import ResourceNotFoundError

from collect.arm import ArmView
from collect.live.clients import LiveClients
from model.arm_ids import last_segment, parent_id, vnet_id_of

JsonObject = dict[str, Any]
RULE_COLLECTION_GROUP = "Microsoft.Network/firewallPolicies/ruleCollectionGroups"


class NetworkSource(Protocol):
    def get(self, resource_id: str | None) -> JsonObject | None: ...

    def firewall_at(self, private_ip: str) -> JsonObject | None:
        """The Azure Firewall whose private IP a route's next hop names."""
        ...

    def rule_collection_groups(self, policy_id: str) -> list[JsonObject]: ...

    def private_dns_zones(self, subscription: str, resource_group: str, zone_suffix: str) -> list[JsonObject]:
        """The zones of a resource group (AKS puts a "system" zone in the node resource group)."""
        ...

    def zone_links(self, zone_id: str) -> list[JsonObject]: ...


class _RuleCollectionGroups:
    """Rule collection groups by policy, read once per policy through ARM (shared by every cluster)."""

    def __init__(self, clients: LiveClients) -> None:
        self._clients = clients
        self._groups: dict[str, list[JsonObject]] = {}
        self._lock = threading.Lock()

    def rule_collection_groups(self, policy_id: str) -> list[JsonObject]:
        key = policy_id.lower()
        with self._lock:
            if key not in self._groups:
                subscription, group = policy_id.split("/")[2], policy_id.split("/")[4]
                operations = self._clients.network(subscription).firewall_policy_rule_collection_groups
                self._groups[key] = [
                    {**item.as_dict(), "type": RULE_COLLECTION_GROUP}
                    for item in operations.list(group, last_segment(policy_id))
                ]
            return self._groups[key]


class NetworkInventory(_RuleCollectionGroups):
    """The estate's network resources by lower-cased id (from Resource Graph), indexed for the walk."""

    def __init__(self, resources: Iterable[JsonObject], clients: LiveClients) -> None:
        super().__init__(clients)
        self.by_id: dict[str, JsonObject] = {str(r["id"]).lower(): r for r in resources}
        self.firewalls_by_ip: dict[str, JsonObject] = {}
        self._zones_by_group: dict[str, list[JsonObject]] = {}
        self._links_by_zone: dict[str, list[JsonObject]] = {}
        for key, resource in self.by_id.items():
            kind = str(resource.get("type")).lower()
            if kind == "microsoft.network/azurefirewalls":
                for config in ArmView(resource).objs("ipConfigurations"):
                    if ip := config.str("privateIPAddress"):
                        self.firewalls_by_ip[ip] = resource
            elif kind == "microsoft.network/privatednszones":
                self._zones_by_group.setdefault("/".join(key.split("/")[:5]), []).append(resource)
            elif kind.endswith("/virtualnetworklinks"):
                self._links_by_zone.setdefault(parent_id(key, "virtualNetworkLinks"), []).append(resource)

    def get(self, resource_id: str | None) -> JsonObject | None:
        return self.by_id.get(resource_id.lower()) if resource_id else None

    def firewall_at(self, private_ip: str) -> JsonObject | None:
        return self.firewalls_by_ip.get(private_ip)

    def private_dns_zones(self, subscription: str, resource_group: str, zone_suffix: str) -> list[JsonObject]:
        group = f"/subscriptions/{subscription}/resourcegroups/{resource_group}".lower()
        return [z for z in self._zones_by_group.get(group, []) if str(z["id"]).lower().endswith(zone_suffix)]

    def zone_links(self, zone_id: str) -> list[JsonObject]:
        return self._links_by_zone.get(zone_id.lower(), [])


def _operations(clients: LiveClients, subscription: str) -> dict[str, tuple[Any, str]]:
    """Typed GET operations by lower-cased resource type, with the type name ARM spells."""
    network = clients.network(subscription)
    return {
        "microsoft.network/virtualnetworks": (network.virtual_networks, "Microsoft.Network/virtualNetworks"),
        "microsoft.network/networksecuritygroups": (
            network.network_security_groups,
            "Microsoft.Network/networkSecurityGroups",
        ),
        "microsoft.network/routetables": (network.route_tables, "Microsoft.Network/routeTables"),
        "microsoft.network/azurefirewalls": (network.azure_firewalls, "Microsoft.Network/azureFirewalls"),
        "microsoft.network/firewallpolicies": (network.firewall_policies, "Microsoft.Network/firewallPolicies"),
        "microsoft.network/ipgroups": (network.ip_groups, "Microsoft.Network/ipGroups"),
        "microsoft.network/publicipaddresses": (network.public_ip_addresses, "Microsoft.Network/publicIPAddresses"),
        "microsoft.network/natgateways": (network.nat_gateways, "Microsoft.Network/natGateways"),
        "microsoft.network/privatednszones": (
            clients.private_dns(subscription).private_zones,
            "Microsoft.Network/privateDnsZones",
        ),
    }


class ArmNetworkReader(_RuleCollectionGroups):
    """Only the resources one cluster references, each by one typed ARM GET (cached for the reader's life).

    A route's next hop is an IP address: the firewall behind it is found by listing the firewalls of the
    subscriptions whose VNets the walk has read (the spoke's and its peered hub's), once per subscription.
    """

    def __init__(self, clients: LiveClients) -> None:
        super().__init__(clients)
        self._read: dict[str, JsonObject | None] = {}
        self._subscriptions: set[str] = set()
        self._firewalls: dict[str, list[JsonObject]] = {}

    def get(self, resource_id: str | None) -> JsonObject | None:
        if not resource_id:
            return None
        key = resource_id.lower()
        if key not in self._read:
            self._read[key] = self._fetch(resource_id)
        return self._read[key]

    def _fetch(self, resource_id: str) -> JsonObject | None:
        parts = resource_id.split("/")
        if len(parts) < 9 or parts[1].lower() != "subscriptions":
            return None
        subscription, group, kind, name = parts[2], parts[4], f"{parts[6]}/{parts[7]}".lower(), parts[8]
        operation = _operations(self._clients, subscription).get(kind)
        if operation is None:
            return None
        operations, type_name = operation
        try:
            body = {**operations.get(group, name).as_dict(), "type": type_name}
        except ResourceNotFoundError:
            return None  # gone, or not readable: the checks say what they could not verify
        if kind == "microsoft.network/virtualnetworks":
            self._subscriptions.add(subscription.lower())
        return body

    def firewall_at(self, private_ip: str) -> JsonObject | None:
        for subscription in sorted(self._subscriptions):
            if subscription not in self._firewalls:
                listed = self._clients.network(subscription).azure_firewalls.list_all()
                self._firewalls[subscription] = [
                    {**item.as_dict(), "type": "Microsoft.Network/azureFirewalls"} for item in listed
                ]
            for firewall in self._firewalls[subscription]:
                ips = {config.str("privateIPAddress") for config in ArmView(firewall).objs("ipConfigurations")}
                if private_ip in ips:
                    return firewall
        return None

    def private_dns_zones(self, subscription: str, resource_group: str, zone_suffix: str) -> list[JsonObject]:
        zones = self._clients.private_dns(subscription).private_zones.list_by_resource_group(resource_group)
        try:
            return [
                {**zone.as_dict(), "type": "Microsoft.Network/privateDnsZones"}
                for zone in zones
                if str(zone.name).lower().endswith(zone_suffix)
            ]
        except ResourceNotFoundError:
            return []  # no such node resource group: no zone, as a bulk read would find none

    def zone_links(self, zone_id: str) -> list[JsonObject]:
        parts = zone_id.split("/")
        links = self._clients.private_dns(parts[2]).virtual_network_links.list(parts[4], parts[8])
        return [{**link.as_dict(), "type": "Microsoft.Network/privateDnsZones/virtualNetworkLinks"} for link in links]


def resources_for_cluster(
    cluster: Mapping[str, Any], context: Mapping[str, Any], inventory: NetworkSource
) -> list[JsonObject]:
    view = ArmView(cluster)
    picked: dict[str, JsonObject] = {}

    def add(resource_id: str | None) -> JsonObject | None:
        resource = inventory.get(resource_id)
        if resource is not None:
            picked.setdefault(str(resource["id"]).lower(), resource)
        return resource

    subnets = {pool.str("vnetSubnetID") for pool in view.objs("agentPoolProfiles")} - {None}
    if apiserver_subnet := view.obj("apiServerAccessProfile").str("subnetId"):
        subnets.add(apiserver_subnet)
    vnet_ids = {vnet_id_of(subnet) for subnet in subnets if subnet}
    vnet_ids |= {
        str(client["vnet"])
        for client in context.get("clients", [])
        if isinstance(client, Mapping) and client.get("vnet")
    }
    for vnet_id in list(vnet_ids):
        vnet = add(vnet_id)
        for peering in ArmView(vnet).objs("virtualNetworkPeerings") if vnet else ():
            add(peering.ref("remoteVirtualNetwork"))
        for subnet in ArmView(vnet).objs("subnets") if vnet else ():
            add(subnet.ref("networkSecurityGroup"))
            _add_route_path(add(subnet.ref("routeTable")), inventory, add, picked)
            nat = add(subnet.ref("natGateway"))
            for ip in ArmView(nat).refs("publicIpAddresses") if nat else ():
                add(ip)
    network = view.obj("networkProfile")
    for ip in network.obj("loadBalancerProfile").refs("effectiveOutboundIPs") + network.obj("natGatewayProfile").refs(
        "effectiveOutboundIPs"
    ):
        add(ip)
    _add_private_dns(view, inventory, add, picked)
    return list(picked.values())


def _add_route_path(
    table: JsonObject | None,
    inventory: NetworkSource,
    add: Callable[[str | None], JsonObject | None],
    picked: dict[str, JsonObject],
) -> None:
    for route in ArmView(table).objs("routes") if table else ():
        firewall = inventory.firewall_at(route.str("nextHopIpAddress") or "")
        if not firewall:
            continue
        picked.setdefault(str(firewall["id"]).lower(), firewall)
        firewall_view = ArmView(firewall)
        for config in firewall_view.objs("ipConfigurations"):
            add(config.ref("publicIPAddress"))
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
            policy = add(policy_id)
            for group in inventory.rule_collection_groups(policy_id):
                picked.setdefault(str(group["id"]).lower(), group)
                rules += [rule for c in ArmView(group).objs("ruleCollections") for rule in c.objs("rules")]
            policy_id = ArmView(policy).ref("basePolicy") if policy else None
        for rule in rules:
            for group_id in rule.strs("sourceIpGroups") + rule.strs("destinationIpGroups"):
                add(group_id)


def _add_private_dns(
    view: ArmView,
    inventory: NetworkSource,
    add: Callable[[str | None], JsonObject | None],
    picked: dict[str, JsonObject],
) -> None:
    access = view.obj("apiServerAccessProfile")
    if not access.bool("enablePrivateCluster"):
        return
    zone_setting = access.str("privateDNSZone") or "system"
    if zone_setting.lower().startswith("/subscriptions/"):
        zones = [zone for zone in [add(zone_setting)] if zone]
    else:
        subscription = str(view.str("id") or "").split("/")[2] if view.str("id") else ""
        suffix = f"privatelink.{(view.str('location') or '').lower()}.azmk8s.io"
        zones = inventory.private_dns_zones(subscription, view.str("nodeResourceGroup") or "", suffix)
    for zone in zones:
        picked.setdefault(str(zone["id"]).lower(), zone)
        for link in inventory.zone_links(str(zone["id"])):
            picked.setdefault(str(link["id"]).lower(), link)
