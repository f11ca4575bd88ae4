"""The typed, read-only picture of one cluster that every check reads.

Collectors (snapshot folders, live Azure) build a `ClusterSnapshot`; checks only read it.
A field that is `None` was not collected; `ClusterSnapshot.problems` says why
(an `error` when collection failed, `unavailable` when it could not be attempted).
Resource ids are kept as Azure prints them; compare them with `same_id`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from model.arm_ids import same_id, vnet_id_of


def frozen_map(items: Mapping[Any, Any] | None = None) -> Mapping[Any, Any]:
    """A read-only mapping, so a snapshot cannot be changed by the checks that read it."""
    return MappingProxyType(dict(items or {}))


class Source(StrEnum):
    """Each independently collected input; a check names the ones it requires."""

    NETWORK = "network"
    PODS = "kube:pods"
    NODES = "kube:nodes"
    NODE_METRICS = "kube:node-metrics"
    EVENTS = "kube:events"
    HELM = "kube:helm"
    POD_LOGS = "kube:logs"
    AUDIT = "logs:apiserver-requests"
    APISERVER_PROBE = "probe:apiserver"
    KUBELET_PROBE = "probe:kubelet"
    CONTEXT = "context"  # context.json: the clients that must reach the API server


@dataclass(frozen=True)
class Problem:
    """Why a source is missing: `error` (collection failed) or `unavailable` (not attempted)."""

    kind: str
    message: str


# --- Cluster (ARM managedClusters) -------------------------------------------------------


@dataclass(frozen=True)
class AgentPool:
    name: str
    mode: str  # "System" or "User"
    vnet_subnet_id: str | None
    count: int | None = None


@dataclass(frozen=True)
class Cluster:
    id: str
    name: str
    subscription: str
    resource_group: str
    location: str
    tags: Mapping[str, str] = field(default_factory=frozen_map)
    kubernetes_version: str | None = None
    fqdn: str | None = None
    private_fqdn: str | None = None
    is_private: bool = False
    private_public_fqdn_enabled: bool = False
    private_dns_zone: str | None = None  # "system", "none", or a privateDnsZones resource id
    authorized_ranges: tuple[str, ...] = ()
    vnet_integration: bool = False
    apiserver_subnet_id: str | None = None
    outbound_type: str | None = (
        None  # loadBalancer, managedNATGateway, userAssignedNATGateway, userDefinedRouting, none, block
    )
    network_plugin: str | None = None
    node_resource_group: str | None = None
    agent_pools: tuple[AgentPool, ...] = ()
    outbound_ip_ids: tuple[str, ...] = ()  # effective outbound public IPs (load balancer or NAT gateway)
    # The Standard load balancer's effective outbound public IPs alone: AKS adds these to the API server's
    # authorized IP ranges itself (a NAT gateway's or firewall's egress IPs it does not add).
    load_balancer_outbound_ip_ids: tuple[str, ...] = ()
    aad_enabled: bool = False
    local_accounts_disabled: bool = False

    @property
    def node_subnet_ids(self) -> tuple[str, ...]:
        seen: dict[str, str] = {}
        for pool in self.agent_pools:
            if pool.vnet_subnet_id:
                seen.setdefault(pool.vnet_subnet_id.lower(), pool.vnet_subnet_id)
        return tuple(seen.values())

    @property
    def apiserver_host(self) -> str | None:
        """The name clients dial: the private FQDN for private clusters without a public one."""
        if self.is_private and not (self.private_public_fqdn_enabled and self.fqdn):
            return self.private_fqdn or self.fqdn
        return self.fqdn or self.private_fqdn


@dataclass(frozen=True)
class Client:
    """Someone who must reach the API server: declared in context.json, settings or tags."""

    name: str
    ips: tuple[str, ...] = ()
    vnet: str | None = None  # ARM id of the client's virtual network, when it sits on one


# --- Network (ARM Microsoft.Network) ---------------------------------------------------


@dataclass(frozen=True)
class SecurityRule:
    name: str
    priority: int
    direction: str  # Inbound / Outbound
    access: str  # Allow / Deny
    protocol: str  # Tcp, Udp, Icmp, Esp, Ah, *
    source_prefixes: tuple[str, ...]
    source_ports: tuple[str, ...]
    destination_prefixes: tuple[str, ...]
    destination_ports: tuple[str, ...]
    source_asg_ids: tuple[str, ...] = ()
    destination_asg_ids: tuple[str, ...] = ()
    default: bool = False


@dataclass(frozen=True)
class NetworkSecurityGroup:
    id: str
    name: str
    rules: tuple[SecurityRule, ...]  # custom rules then default rules, as ARM returns them
    subnet_ids: tuple[str, ...] = ()
    nic_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    name: str
    address_prefix: str
    next_hop_type: str  # VirtualAppliance, Internet, VnetLocal, VirtualNetworkGateway, None
    next_hop_ip: str | None = None


@dataclass(frozen=True)
class RouteTable:
    id: str
    name: str
    routes: tuple[Route, ...]
    subnet_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Subnet:
    id: str
    name: str
    address_prefixes: tuple[str, ...]
    nsg_id: str | None = None
    route_table_id: str | None = None
    nat_gateway_id: str | None = None
    delegations: tuple[str, ...] = ()  # service names, e.g. Microsoft.ContainerService/managedClusters
    # The IP configurations ARM lists on the subnet (read-only): a firewall's
    # `.../azureFirewalls/<fw>/azureFirewallIpConfigurations/<name>`, a NIC's `.../networkInterfaces/<nic>/ipConfigurations/<name>`.
    ip_configuration_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Peering:
    name: str
    remote_vnet_id: str | None
    state: str  # Connected, Initiated, Disconnected
    remote_address_prefixes: tuple[str, ...] = ()  # the peering's `remoteAddressSpace`: the remote VNet's prefixes


@dataclass(frozen=True)
class VirtualNetwork:
    id: str
    name: str
    address_prefixes: tuple[str, ...]
    subnets: tuple[Subnet, ...] = ()
    peerings: tuple[Peering, ...] = ()
    dns_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetworkInterface:
    id: str
    name: str
    nsg_id: str | None
    subnet_ids: tuple[str, ...] = ()
    private_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublicIpAddress:
    id: str
    name: str
    ip_address: str | None
    prefix_id: str | None = None


@dataclass(frozen=True)
class NatGateway:
    id: str
    name: str
    public_ip_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class IpGroup:
    id: str
    name: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class FirewallRule:
    """A network or application rule, from classic collections or a firewall policy.

    Network rules use `protocols` (TCP, UDP, ICMP, Any) with `destination_ports`;
    application rules use `protocols` as "Https:443" pairs with `target_fqdns` / `fqdn_tags`.
    """

    name: str
    kind: str  # "network" or "application"
    protocols: tuple[str, ...] = ()
    source_addresses: tuple[str, ...] = ()
    source_ip_groups: tuple[str, ...] = ()
    destination_addresses: tuple[str, ...] = ()
    destination_ip_groups: tuple[str, ...] = ()
    destination_fqdns: tuple[str, ...] = ()
    destination_ports: tuple[str, ...] = ()
    target_fqdns: tuple[str, ...] = ()
    fqdn_tags: tuple[str, ...] = ()
    terminate_tls: bool = False


@dataclass(frozen=True)
class RuleCollection:
    name: str
    priority: int
    action: str  # Allow / Deny
    kind: str  # "network" / "application" / "nat"
    rules: tuple[FirewallRule, ...]
    group: str | None = None  # rule collection group name (policies only)
    group_priority: int | None = None
    policy_id: str | None = None  # where it came from, to name it in findings


@dataclass(frozen=True)
class AzureFirewall:
    id: str
    name: str
    private_ip: str | None
    public_ip_ids: tuple[str, ...] = ()
    policy_id: str | None = None
    rule_collections: tuple[RuleCollection, ...] = ()  # classic rules
    subnet_id: str | None = None  # the AzureFirewallSubnet of the IP configuration holding `private_ip`
    # classic firewalls: additionalProperties "Network.DNS.EnableProxy" (a policy's firewalls: its dnsSettings)
    dns_proxy: bool = False
    # A secured virtual hub's firewall (Virtual WAN): its hub, and its public addresses (hubIPAddresses.publicIPs)
    virtual_hub_id: str | None = None
    public_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class FirewallPolicy:
    id: str
    name: str
    parent_policy_id: str | None = None
    rule_collection_group_ids: tuple[str, ...] = ()
    tls_inspection: bool = False
    dns_proxy: bool = False  # dnsSettings.enableProxy: the firewalls answer DNS on their private IP


@dataclass(frozen=True)
class RuleCollectionGroup:
    id: str
    name: str
    policy_id: str
    priority: int
    rule_collections: tuple[RuleCollection, ...]


@dataclass(frozen=True)
class PrivateDnsZone:
    id: str
    name: str
    linked_vnet_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class VirtualHub:
    """A Virtual WAN hub: the spokes its hubVirtualNetworkConnections name, and its routing intent."""

    id: str
    name: str
    address_prefix: str | None = None
    firewall_id: str | None = None  # properties.azureFirewall: a secured hub's Azure Firewall
    connected_vnet_ids: tuple[str, ...] = ()  # remoteVirtualNetwork of each hubVirtualNetworkConnection
    routing_intent_read: bool = False  # its routingIntent was collected (then the next hops below are facts)
    internet_next_hop: str | None = None  # the routing policy for "Internet": a firewall's (or NVA's) id
    private_next_hop: str | None = None  # the routing policy for "PrivateTraffic"


GENERIC_ADDRESS_SPECS = frozenset(("*", "any", "0.0.0.0/0", "internet", "virtualnetwork", "azureloadbalancer"))


def is_service_tag(spec: str) -> bool:
    """An NSG address spec that names a service tag's address list (AzureCloud.westeurope, Storage,
    AzureFrontDoor.Frontend): not an address or prefix, nor one of the tags with a fixed meaning."""
    text = spec.strip()
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return text.lower() not in GENERIC_ADDRESS_SPECS
    return False


@dataclass(frozen=True)
class ServiceTag:
    """A service tag's address prefixes, from the Service Tag Discovery API (`az network list-service-tags`)."""

    name: str  # AzureCloud, AzureCloud.westeurope, ...
    address_prefixes: tuple[str, ...]


@dataclass(frozen=True)
class NetworkInventory:
    """Every network resource collected for a cluster, by lower-cased ARM id."""

    security_groups: Mapping[str, NetworkSecurityGroup] = field(default_factory=frozen_map)
    route_tables: Mapping[str, RouteTable] = field(default_factory=frozen_map)
    virtual_networks: Mapping[str, VirtualNetwork] = field(default_factory=frozen_map)
    interfaces: Mapping[str, NetworkInterface] = field(default_factory=frozen_map)
    public_ips: Mapping[str, PublicIpAddress] = field(default_factory=frozen_map)
    nat_gateways: Mapping[str, NatGateway] = field(default_factory=frozen_map)
    ip_groups: Mapping[str, IpGroup] = field(default_factory=frozen_map)
    firewalls: Mapping[str, AzureFirewall] = field(default_factory=frozen_map)
    firewall_policies: Mapping[str, FirewallPolicy] = field(default_factory=frozen_map)
    rule_collection_groups: Mapping[str, RuleCollectionGroup] = field(default_factory=frozen_map)
    private_dns_zones: Mapping[str, PrivateDnsZone] = field(default_factory=frozen_map)
    service_tags: Mapping[str, ServiceTag] = field(default_factory=frozen_map)  # by lower-cased tag name
    virtual_hubs: Mapping[str, VirtualHub] = field(default_factory=frozen_map)
    # References the collector followed but could not read: ARM id (as Azure spells it) -> why ("403 ...").
    unreadable: Mapping[str, str] = field(default_factory=frozen_map)

    def subnet(self, subnet_id: str | None) -> Subnet | None:
        """The subnet with this id, from its virtual network (subnets are not top-level)."""
        if not subnet_id:
            return None
        vnet = self.virtual_networks.get(vnet_id_of(subnet_id).lower())
        for subnet in vnet.subnets if vnet else ():
            if same_id(subnet.id, subnet_id):
                return subnet
        return None

    def vnet_of_subnet(self, subnet_id: str) -> VirtualNetwork | None:
        return self.virtual_networks.get(vnet_id_of(subnet_id).lower())

    def hub_of(self, vnet_id: str) -> VirtualHub | None:
        """The Virtual WAN hub whose hubVirtualNetworkConnection names this VNet."""
        return next(
            (hub for hub in self.virtual_hubs.values() if any(same_id(v, vnet_id) for v in hub.connected_vnet_ids)),
            None,
        )


# --- Kubernetes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    node_name: str | None = None
    phase: str | None = None
    ready: bool = False
    restarts: int = 0
    waiting_reasons: tuple[str, ...] = ()  # e.g. CrashLoopBackOff, ImagePullBackOff


@dataclass(frozen=True)
class Node:
    name: str
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    ready: bool = False
    internal_ip: str | None = None
    allocatable_cpu_millicores: int | None = None
    allocatable_memory_bytes: int | None = None
    created: str | None = None  # metadata.creationTimestamp (RFC 3339): when the node was provisioned

    @property
    def mode(self) -> str | None:
        """AKS pool mode label: "system" or "user"."""
        return self.labels.get("kubernetes.azure.com/mode")


@dataclass(frozen=True)
class NodeUsage:
    node: str
    cpu_millicores: int
    memory_bytes: int


@dataclass(frozen=True)
class Event:
    namespace: str
    involved_object: str
    reason: str
    message: str
    count: int = 1


@dataclass(frozen=True)
class HelmRevision:
    """One stored release revision: Helm 3 secret or Helm 2 (Tiller) configmap, metadata only."""

    namespace: str
    release: str
    revision: int
    storage: str  # "secret" (Helm 3) or "configmap" (Helm 2)
    status: str | None = None


# --- Log Analytics and probes --------------------------------------------------------------


@dataclass(frozen=True)
class ApiServerRequests:
    """One row of the `apiserver-requests` query: a user agent's calls with one verb."""

    user_agent: str
    verb: str
    requests: int
    throttled: int


@dataclass(frozen=True)
class QueryScope:
    """What a Log Analytics query ran against: the resource it was scoped to (a workspace, or the cluster
    itself) and the time window, so "no rows" can say where and when nobody answered."""

    resource: str | None = None
    window_minutes: int | None = None
    start: str | None = None  # ISO 8601, UTC
    end: str | None = None

    def describe(self) -> str:
        where = f"Log Analytics scope {self.resource}" if self.resource else "an unrecorded Log Analytics scope"
        if self.start and self.end:
            return f"{where}, {self.start} to {self.end}"
        return f"{where}, last {self.window_minutes} minutes" if self.window_minutes else where


@dataclass(frozen=True)
class ApiServerProbe:
    target: str
    addresses: tuple[str, ...] = ()
    tcp_ms: float | None = None
    tls_ms: float | None = None
    alpn: str | None = None
    error: str | None = None
    # the first measure when it was taken amid the sweep's load and the probe was measured again alone
    under_load_ms: tuple[float | None, float | None] | None = None  # (TCP, TLS)


@dataclass(frozen=True)
class KubeletProbe:
    node: str
    ok: bool
    error: str | None = None


# --- The snapshot --------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterSnapshot:
    cluster: Cluster
    clients: tuple[Client, ...] | None = ()  # None: context.json could not be read
    owners: tuple[str, ...] = ()
    network: NetworkInventory | None = None
    pods: tuple[Pod, ...] | None = None  # kube-system pods
    nodes: tuple[Node, ...] | None = None
    node_metrics: tuple[NodeUsage, ...] | None = None
    events: tuple[Event, ...] | None = None
    helm_revisions: tuple[HelmRevision, ...] | None = None
    pod_logs: Mapping[str, str] | None = None  # "namespace/pod" -> log tail
    apiserver_requests: tuple[ApiServerRequests, ...] | None = None
    apiserver_requests_scope: QueryScope | None = None  # where and when the rows were queried, when recorded
    apiserver_probe: ApiServerProbe | None = None
    kubelet_probes: tuple[KubeletProbe, ...] | None = None
    problems: Mapping[Source, Problem] = field(default_factory=frozen_map)

    def collected(self, source: Source) -> bool:
        return getattr(self, _FIELD_OF_SOURCE[source]) is not None


_FIELD_OF_SOURCE: Mapping[Source, str] = {
    Source.NETWORK: "network",
    Source.PODS: "pods",
    Source.NODES: "nodes",
    Source.NODE_METRICS: "node_metrics",
    Source.EVENTS: "events",
    Source.HELM: "helm_revisions",
    Source.POD_LOGS: "pod_logs",
    Source.AUDIT: "apiserver_requests",
    Source.APISERVER_PROBE: "apiserver_probe",
    Source.KUBELET_PROBE: "kubelet_probes",
    Source.CONTEXT: "clients",
}
