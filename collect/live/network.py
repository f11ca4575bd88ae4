"""The network resources one cluster's checks need, picked from the estate's bulk inventory.

Resource Graph gives every NSG, route table, VNet, firewall, policy, IP group, public IP, NAT
gateway and private DNS zone of the scope in a few pages; this module follows the references
from the cluster (node subnets -> VNets -> NSGs and route tables -> the firewall at the default
route's next hop -> its policy chain, rule collection groups and IP groups; outbound IPs; the
private DNS zone and its links; peered and client VNets). Firewall policy rule collection groups
are not in Resource Graph: they are read through ARM once per policy for the whole estate.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from collect.arm import ArmView, last_segment, parent_id
from collect.live.clients import LiveClients
from collect.model import vnet_id_of

JsonObject = dict[str, Any]


class NetworkInventory:
    """The estate's network resources by lower-cased id, plus rule collection groups read on demand."""

    def __init__(self, resources: Iterable[JsonObject], clients: LiveClients) -> None:
        self.by_id: dict[str, JsonObject] = {str(r["id"]).lower(): r for r in resources}
        self._clients = clients
        self._groups: dict[str, list[JsonObject]] = {}
        self._lock = threading.Lock()
        self.firewalls_by_ip: dict[str, JsonObject] = {}
        for resource in self.by_id.values():
            if str(resource.get("type")).lower() == "microsoft.network/azurefirewalls":
                for config in ArmView(resource).objs("ipConfigurations"):
                    if ip := config.str("privateIPAddress"):
                        self.firewalls_by_ip[ip] = resource

    def get(self, resource_id: str | None) -> JsonObject | None:
        return self.by_id.get(resource_id.lower()) if resource_id else None

    def rule_collection_groups(self, policy_id: str) -> list[JsonObject]:
        key = policy_id.lower()
        with self._lock:
            if key not in self._groups:
                subscription, group = policy_id.split("/")[2], policy_id.split("/")[4]
                operations = self._clients.network(subscription).firewall_policy_rule_collection_groups
                self._groups[key] = [
                    {**item.as_dict(), "type": "Microsoft.Network/firewallPolicies/ruleCollectionGroups"}
                    for item in operations.list(group, last_segment(policy_id))
                ]
            return self._groups[key]


def resources_for_cluster(
    cluster: Mapping[str, Any], context: Mapping[str, Any], inventory: NetworkInventory
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
    table: JsonObject | None, inventory: NetworkInventory, add: Any, picked: dict[str, JsonObject]
) -> None:
    for route in ArmView(table).objs("routes") if table else ():
        firewall = inventory.firewalls_by_ip.get(route.str("nextHopIpAddress") or "")
        if not firewall:
            continue
        add(firewall["id"])
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


def _add_private_dns(view: ArmView, inventory: NetworkInventory, add: Any, picked: dict[str, JsonObject]) -> None:
    access = view.obj("apiServerAccessProfile")
    if not access.bool("enablePrivateCluster"):
        return
    zone_setting = access.str("privateDNSZone") or "system"
    suffix = f"privatelink.{(view.str('location') or '').lower()}.azmk8s.io"
    if zone_setting.lower().startswith("/subscriptions/"):
        zones = [zone_setting.lower()]
    else:
        node_group = f"/resourcegroups/{(view.str('nodeResourceGroup') or '').lower()}/"
        zones = [
            key
            for key, resource in inventory.by_id.items()
            if str(resource.get("type")).lower() == "microsoft.network/privatednszones"
            and node_group in key
            and key.endswith(suffix)
        ]
    for zone in zones:
        add(zone)
        for key, resource in inventory.by_id.items():
            if (
                str(resource.get("type")).lower().endswith("/virtualnetworklinks")
                and parent_id(key, "virtualNetworkLinks") == zone
            ):
                picked.setdefault(key, resource)
