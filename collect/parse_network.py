"""ARM network resources (either spelling) -> `NetworkInventory`, told apart by "type"."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from collect.arm import ArmValueError, ArmView
from model.arm_ids import last_segment, parent_id, vnet_id_of
from model.snapshot import (
    AzureFirewall,
    FirewallPolicy,
    FirewallRule,
    IpGroup,
    NatGateway,
    NetworkInterface,
    NetworkInventory,
    NetworkSecurityGroup,
    Peering,
    PrivateDnsZone,
    PublicIpAddress,
    Route,
    RouteTable,
    RuleCollection,
    RuleCollectionGroup,
    SecurityRule,
    ServiceTag,
    Subnet,
    VirtualHub,
    VirtualNetwork,
    frozen_map,
)

log = logging.getLogger(__name__)


class NetworkParseError(ValueError):
    """A network resource that cannot be read; the message names it."""


def parse_network(
    resources: Iterable[Mapping[str, Any]], unreadable: Mapping[str, str] | None = None
) -> NetworkInventory:
    """`unreadable`: references the collector followed but could not read (ARM id -> why), kept to name them."""
    found: dict[str, dict[str, Any]] = {kind: {} for kind in _FIELDS}
    standalone_subnets: list[Subnet] = []
    dns_links: list[tuple[str, str]] = []  # (zone id, linked vnet id)
    hub_parts: dict[str, dict[str, Any]] = {}  # virtual hub id -> what its child resources say
    for body in resources:
        view = ArmView(body)
        resource_type = (view.str("type") or "").lower()
        try:
            if resource_type == "microsoft.network/virtualnetworks/subnets":
                standalone_subnets.append(_subnet(view))
            elif resource_type == "microsoft.network/privatednszones/virtualnetworklinks":
                if linked := view.ref("virtualNetwork"):
                    dns_links.append((parent_id(view.str("id") or "", "virtualNetworkLinks"), linked))
            elif resource_type == HUB_CONNECTIONS:
                if remote := view.ref("remoteVirtualNetwork"):
                    hub_parts.setdefault(parent_id(_need_id(view), "hubVirtualNetworkConnections"), {}).setdefault(
                        "connected_vnet_ids", []
                    ).append(remote)
            elif resource_type == ROUTING_INTENT:
                hub_parts.setdefault(parent_id(_need_id(view), "routingIntent"), {}).update(_routing_intent(view))
            elif resource_type == SERVICE_TAGS:
                for tag in _service_tags(view):
                    found["service_tags"][tag.name.lower()] = tag
            elif resource_type in _PARSERS:
                field, parser = _PARSERS[resource_type]
                parsed = parser(view)
                found[field][parsed.id.lower()] = parsed
            else:
                log.debug("ignoring network resource of type %r (%s)", resource_type, view.str("id"))
        except (ArmValueError, KeyError) as exc:
            raise NetworkParseError(f"{view.str('type')} {view.str('name') or view.str('id')}: {exc}") from None
    _attach_subnets(found["virtual_networks"], standalone_subnets)
    _attach_links(found["private_dns_zones"], dns_links)
    _attach_hub_parts(found["virtual_hubs"], hub_parts)
    return NetworkInventory(
        **{field: frozen_map(items) for field, items in found.items()}, unreadable=frozen_map(unreadable)
    )


def parse_resource(body: Mapping[str, Any]) -> Any:
    """One ARM resource of a type the walk follows (virtual network, firewall, NIC, ...) as its typed model;
    None for other types."""
    view = ArmView(body)
    parser = _PARSERS.get((view.str("type") or "").lower())
    return parser[1](view) if parser else None


def _need_id(view: ArmView) -> str:
    resource_id = view.str("id")
    if not resource_id:
        raise ArmValueError('no "id"')
    return resource_id


def _security_rule(view: ArmView, default: bool) -> SecurityRule:
    priority = view.int("priority")
    if priority is None:
        raise ArmValueError(f'security rule {view.str("name")!r} has no "priority"')
    return SecurityRule(
        name=view.str("name") or "",
        priority=priority,
        direction=view.str("direction") or "",
        access=view.str("access") or "",
        protocol=view.str("protocol") or "*",
        source_prefixes=view.strs("sourceAddressPrefix") + view.strs("sourceAddressPrefixes"),
        source_ports=view.strs("sourcePortRange") + view.strs("sourcePortRanges"),
        destination_prefixes=view.strs("destinationAddressPrefix") + view.strs("destinationAddressPrefixes"),
        destination_ports=view.strs("destinationPortRange") + view.strs("destinationPortRanges"),
        source_asg_ids=view.refs("sourceApplicationSecurityGroups"),
        destination_asg_ids=view.refs("destinationApplicationSecurityGroups"),
        default=default,
    )


def _nsg(view: ArmView) -> NetworkSecurityGroup:
    rules = [_security_rule(rule, default=False) for rule in view.objs("securityRules")]
    rules += [_security_rule(rule, default=True) for rule in view.objs("defaultSecurityRules")]
    return NetworkSecurityGroup(
        id=_need_id(view),
        name=view.str("name") or "",
        rules=tuple(rules),
        subnet_ids=view.refs("subnets"),
        nic_ids=view.refs("networkInterfaces"),
    )


def _route_table(view: ArmView) -> RouteTable:
    return RouteTable(
        id=_need_id(view),
        name=view.str("name") or "",
        routes=tuple(
            Route(
                name=route.str("name") or "",
                address_prefix=route.str("addressPrefix") or "",
                next_hop_type=route.str("nextHopType") or "",
                next_hop_ip=route.str("nextHopIpAddress"),
            )
            for route in view.objs("routes")
        ),
        subnet_ids=view.refs("subnets"),
    )


def _subnet(view: ArmView) -> Subnet:
    return Subnet(
        id=_need_id(view),
        name=view.str("name") or "",
        address_prefixes=view.strs("addressPrefix") + view.strs("addressPrefixes"),
        nsg_id=view.ref("networkSecurityGroup"),
        route_table_id=view.ref("routeTable"),
        nat_gateway_id=view.ref("natGateway"),
        delegations=tuple(name for item in view.objs("delegations") if (name := item.str("serviceName"))),
        ip_configuration_ids=view.refs("ipConfigurations"),
    )


def _vnet(view: ArmView) -> VirtualNetwork:
    return VirtualNetwork(
        id=_need_id(view),
        name=view.str("name") or "",
        address_prefixes=view.obj("addressSpace").strs("addressPrefixes"),
        subnets=tuple(_subnet(subnet) for subnet in view.objs("subnets")),
        peerings=tuple(
            Peering(
                name=peering.str("name") or "",
                remote_vnet_id=peering.ref("remoteVirtualNetwork"),
                state=peering.str("peeringState") or "",
                remote_address_prefixes=peering.obj("remoteAddressSpace").strs("addressPrefixes")
                or peering.obj("remoteVirtualNetworkAddressSpace").strs("addressPrefixes"),
            )
            for peering in view.objs("virtualNetworkPeerings")
        ),
        dns_servers=view.obj("dhcpOptions").strs("dnsServers"),
    )


def _nic(view: ArmView) -> NetworkInterface:
    configs = view.objs("ipConfigurations")
    return NetworkInterface(
        id=_need_id(view),
        name=view.str("name") or "",
        nsg_id=view.ref("networkSecurityGroup"),
        subnet_ids=tuple(subnet for config in configs if (subnet := config.ref("subnet"))),
        private_ips=tuple(ip for config in configs if (ip := config.str("privateIPAddress"))),
    )


def _public_ip(view: ArmView) -> PublicIpAddress:
    return PublicIpAddress(
        id=_need_id(view),
        name=view.str("name") or "",
        ip_address=view.str("ipAddress"),
        prefix_id=view.ref("publicIPPrefix"),
    )


def _nat_gateway(view: ArmView) -> NatGateway:
    return NatGateway(id=_need_id(view), name=view.str("name") or "", public_ip_ids=view.refs("publicIpAddresses"))


def _ip_group(view: ArmView) -> IpGroup:
    return IpGroup(id=_need_id(view), name=view.str("name") or "", addresses=view.strs("ipAddresses"))


def _firewall_rule(view: ArmView, kind: str) -> FirewallRule:
    if kind == "application":
        protocols = tuple(
            f"{protocol.str('protocolType')}:{protocol.int('port') or ''}".rstrip(":")
            for protocol in view.objs("protocols")
        )
    else:
        protocols = view.strs("protocols") + view.strs("ipProtocols")
    return FirewallRule(
        name=view.str("name") or "",
        kind=kind,
        protocols=protocols,
        source_addresses=view.strs("sourceAddresses"),
        source_ip_groups=view.strs("sourceIpGroups"),
        destination_addresses=view.strs("destinationAddresses"),
        destination_ip_groups=view.strs("destinationIpGroups"),
        destination_fqdns=view.strs("destinationFqdns"),
        destination_ports=view.strs("destinationPorts"),
        target_fqdns=view.strs("targetFqdns"),
        fqdn_tags=view.strs("fqdnTags"),
        terminate_tls=view.bool("terminateTLS"),
    )


def _classic_collections(view: ArmView, key: str, kind: str) -> list[RuleCollection]:
    return [
        RuleCollection(
            name=collection.str("name") or "",
            priority=collection.int("priority") or 0,
            action=collection.obj("action").str("type") or ("Dnat" if kind == "nat" else "Allow"),
            kind=kind,
            rules=tuple(_firewall_rule(rule, kind) for rule in collection.objs("rules")),
        )
        for collection in view.objs(key)
    ]


CLASSIC_DNS_PROXY = "Network.DNS.EnableProxy"  # a classic firewall's DNS proxy switch, in additionalProperties


def _firewall(view: ArmView) -> AzureFirewall:
    configs = view.objs("ipConfigurations")
    holder = next((config for config in configs if config.str("privateIPAddress")), None)
    private_ip = holder.str("privateIPAddress") if holder else view.obj("hubIPAddresses").str("privateIPAddress")
    public_ips = tuple(ip for config in configs if (ip := config.ref("publicIPAddress")))
    collections = (
        _classic_collections(view, "networkRuleCollections", "network")
        + _classic_collections(view, "applicationRuleCollections", "application")
        + _classic_collections(view, "natRuleCollections", "nat")
    )
    return AzureFirewall(
        id=_need_id(view),
        name=view.str("name") or "",
        private_ip=private_ip,
        public_ip_ids=public_ips,
        policy_id=view.ref("firewallPolicy"),
        rule_collections=tuple(collections),
        subnet_id=holder.ref("subnet") if holder else None,
        dns_proxy=view.obj("additionalProperties").bool(CLASSIC_DNS_PROXY),
        virtual_hub_id=view.ref("virtualHub"),
        public_addresses=tuple(
            address
            for item in view.obj("hubIPAddresses").obj("publicIPs").objs("addresses")
            if (address := item.str("address"))
        ),
    )


def _firewall_policy(view: ArmView) -> FirewallPolicy:
    return FirewallPolicy(
        id=_need_id(view),
        name=view.str("name") or "",
        parent_policy_id=view.ref("basePolicy"),
        rule_collection_group_ids=view.refs("ruleCollectionGroups"),
        tls_inspection=bool(view.obj("transportSecurity").obj("certificateAuthority")),
        dns_proxy=view.obj("dnsSettings").bool("enableProxy"),
    )


_POLICY_RULE_KINDS = {"applicationrule": "application", "networkrule": "network", "natrule": "nat"}


def _rule_collection_group(view: ArmView) -> RuleCollectionGroup:
    group_id = _need_id(view)
    policy_id = parent_id(group_id, "ruleCollectionGroups")
    group_priority = view.int("priority") or 0
    collections = []
    for collection in view.objs("ruleCollections"):
        rules = tuple(
            _firewall_rule(rule, _POLICY_RULE_KINDS.get((rule.str("ruleType") or "").lower(), "network"))
            for rule in collection.objs("rules")
        )
        is_nat = (collection.str("ruleCollectionType") or "").lower() == "firewallpolicynatrulecollection"
        kinds = {rule.kind for rule in rules}
        collections.append(
            RuleCollection(
                name=collection.str("name") or "",
                priority=collection.int("priority") or 0,
                action=collection.obj("action").str("type") or "Allow",
                kind="nat" if is_nat else (kinds.pop() if len(kinds) == 1 else "network"),
                rules=rules,
                group=view.str("name"),
                group_priority=group_priority,
                policy_id=policy_id,
            )
        )
    return RuleCollectionGroup(
        id=group_id,
        name=view.str("name") or "",
        policy_id=policy_id,
        priority=group_priority,
        rule_collections=tuple(collections),
    )


def _private_dns_zone(view: ArmView) -> PrivateDnsZone:
    return PrivateDnsZone(id=_need_id(view), name=view.str("name") or "")


HUB_CONNECTIONS = "microsoft.network/virtualhubs/hubvirtualnetworkconnections"
ROUTING_INTENT = "microsoft.network/virtualhubs/routingintent"


def _virtual_hub(view: ArmView) -> VirtualHub:
    return VirtualHub(
        id=_need_id(view),
        name=view.str("name") or "",
        address_prefix=view.str("addressPrefix"),
        firewall_id=view.ref("azureFirewall"),
    )


def _routing_intent(view: ArmView) -> dict[str, Any]:
    """The next hops of the "Internet" and "PrivateTraffic" routing policies
    (https://learn.microsoft.com/azure/virtual-wan/how-to-routing-policies)."""
    parts: dict[str, Any] = {"routing_intent_read": True}
    for policy in view.objs("routingPolicies"):
        destinations = {destination.lower() for destination in policy.strs("destinations")}
        if "internet" in destinations:
            parts["internet_next_hop"] = policy.str("nextHop")
        if "privatetraffic" in destinations:
            parts["private_next_hop"] = policy.str("nextHop")
    return parts


def _attach_hub_parts(hubs: dict[str, VirtualHub], parts: dict[str, dict[str, Any]]) -> None:
    """Connections and routing intent (child resources, exported on their own) join their hub's entry."""
    for hub_id, found in parts.items():
        hub = hubs.get(hub_id.lower()) or VirtualHub(id=hub_id, name=last_segment(hub_id))
        connected = (*hub.connected_vnet_ids, *found.pop("connected_vnet_ids", []))
        hubs[hub_id.lower()] = replace(hub, connected_vnet_ids=connected, **found)


SERVICE_TAGS = "microsoft.network/servicetags"  # the Service Tag Discovery API's answer (one list per cloud)


def _service_tags(view: ArmView) -> list[ServiceTag]:
    return [
        ServiceTag(name=name, address_prefixes=value.obj("properties").strs("addressPrefixes"))
        for value in view.objs("values")
        if (name := value.str("name"))
    ]


def _attach_subnets(vnets: dict[str, VirtualNetwork], subnets: list[Subnet]) -> None:
    """Subnets exported on their own (`az network vnet subnet show`) join their VNet's entry."""
    for subnet in subnets:
        vnet_id = vnet_id_of(subnet.id)
        vnet = vnets.get(vnet_id.lower()) or VirtualNetwork(
            id=vnet_id, name=vnet_id.rsplit("/", 1)[-1], address_prefixes=()
        )
        others = tuple(existing for existing in vnet.subnets if existing.id.lower() != subnet.id.lower())
        vnets[vnet_id.lower()] = replace(vnet, subnets=(*others, subnet))


def _attach_links(zones: dict[str, PrivateDnsZone], links: list[tuple[str, str]]) -> None:
    for zone_id, vnet_id in links:
        zone = zones.get(zone_id.lower()) or PrivateDnsZone(id=zone_id, name=zone_id.rsplit("/", 1)[-1])
        zones[zone_id.lower()] = PrivateDnsZone(
            id=zone.id, name=zone.name, linked_vnet_ids=(*zone.linked_vnet_ids, vnet_id)
        )


_PARSERS: Mapping[str, tuple[str, Callable[[ArmView], Any]]] = {
    "microsoft.network/networksecuritygroups": ("security_groups", _nsg),
    "microsoft.network/routetables": ("route_tables", _route_table),
    "microsoft.network/virtualnetworks": ("virtual_networks", _vnet),
    "microsoft.network/networkinterfaces": ("interfaces", _nic),
    "microsoft.network/publicipaddresses": ("public_ips", _public_ip),
    "microsoft.network/natgateways": ("nat_gateways", _nat_gateway),
    "microsoft.network/ipgroups": ("ip_groups", _ip_group),
    "microsoft.network/azurefirewalls": ("firewalls", _firewall),
    "microsoft.network/firewallpolicies": ("firewall_policies", _firewall_policy),
    "microsoft.network/firewallpolicies/rulecollectiongroups": ("rule_collection_groups", _rule_collection_group),
    "microsoft.network/privatednszones": ("private_dns_zones", _private_dns_zone),
    "microsoft.network/virtualhubs": ("virtual_hubs", _virtual_hub),
}
_FIELDS = (*dict.fromkeys(field for field, _ in _PARSERS.values()), "service_tags")
