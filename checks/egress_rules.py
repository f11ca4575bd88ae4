"""egress-rules: the node subnets can reach every endpoint AKS requires (data/egress_requirements.json).

Follows https://learn.microsoft.com/azure/aks/outbound-rules-control-egress (required outbound rules),
https://learn.microsoft.com/azure/aks/limit-egress-traffic (the firewall tutorial), and
https://learn.microsoft.com/azure/aks/api-server-vnet-integration ("Network security group (NSG)
security rules").

- outboundType none / block: skipped (the cluster is meant to have no egress; says why).
- Every outbound type: the node subnets' and node NICs' NSG outbound rules (Azure semantics) must
  allow each network requirement. A service tag is an address list (Service Tag Discovery API): it holds a
  destination only when its published prefixes do. The required FQDNs sit behind global front ends ("you
  can't use network security groups to lock down the outbound traffic" by FQDN, outbound-rules-control-egress),
  so an NSG whose verdict on them hangs on a service-tag rule (allow AzureCloud.<region>, then deny Internet)
  is a warning naming the tag, not a pass.
- userDefinedRouting: the node subnet's route table must send 0.0.0.0/0 to a virtual appliance
  (else fail).
- Every outbound type: a subnet route table's 0.0.0.0/0 route applies whatever outboundType says, and
  a route to a virtual appliance takes precedence over a NAT gateway and the load balancer
  ("Virtual appliance UDR / ExpressRoute >> NAT gateway >> instance level public IP addresses >>
  outbound rules on Load balancer", https://learn.microsoft.com/azure/nat-gateway/troubleshoot-nat-connectivity;
  the AKS egress tutorial, https://learn.microsoft.com/azure/aks/limit-egress-traffic, pairs such a route
  with outboundType loadBalancer too). A route to next hop None drops the traffic (fail).
- The next hop is resolved within the node VNet and its Connected peerings (`model.next_hop`). When it
  is one Azure Firewall, its classic rule collections or firewall policy (with parent) must allow every
  required FQDN and port (wildcards, the AzureKubernetesService FQDN tag, network rules before
  application rules); each blocked endpoint is listed with the rule collection that decided. Any other
  outcome (a network virtual appliance, two candidates, a hub VNet or policy that could not be read) is
  warn, naming what could not be verified and why. A firewall whose own subnet routes 0.0.0.0/0 onward to a
  gateway or another appliance (forced tunnelling, https://learn.microsoft.com/azure/firewall/forced-tunneling)
  passes what it allows to a device whose rules are not in the data: warn naming that route, at best. A spoke
  connected to a Virtual WAN hub gets its default route from the hub's routing intent, with no route table of
  its own (https://learn.microsoft.com/azure/virtual-wan/how-to-routing-policies): its "Internet" policy's
  next hop, the secured hub's Azure Firewall, is judged like a hub firewall; a hub, routing intent or firewall
  that cannot be read is a warning naming it. A next hop that lies only behind a peering whose state is
  Disconnected (its other side deleted) makes the route invalid
  (https://learn.microsoft.com/azure/virtual-network/virtual-networks-udr-overview): fail, with the
  commands that re-create the peering.
- Legacy tunnel ports only for the tunnel that runs: TCP 9000 with tunnelfront, UDP 1194 with
  aks-link (tunnel-connectivity-issues, cause 4); neither for konnectivity-agent, private clusters or
  API Server VNet Integration. NTP (UDP 123) only when a node was provisioned before April 2021 (the
  public-cloud table: "not required for nodes provisioned after March 2021"). The public API server
  FQDN not for private clusters.
- API Server VNet Integration: "no tunnel is required", so tunnel ports are not required (the
  finding says so); instead the NSGs must allow TCP 443 and 4443 from every node subnet to the API
  server subnet (outbound at the node subnet, inbound at the API server subnet) and TCP 9988 from
  AzureLoadBalancer into the API server subnet. A custom deny (say deny-all at 4096, before the
  default AllowAzureLoadBalancerInBound at 65001) fails, naming the rule and the `az` command that
  adds the Allow rule above it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from checks.check import Check, Verdict
from checks.netrules.addresses import AZURE_LOAD_BALANCER
from checks.netrules.firewall import (
    Requirement,
    dns_proxy,
    dns_proxy_command,
    evaluate_firewall,
    missing_groups,
    unknown_policy,
)
from checks.netrules.nsg import (
    Flow,
    NsgDecision,
    allow_rule_command,
    effective_decision,
    first_denial,
    first_doubt,
    nic_nsgs_of_subnet,
)
from checks.netrules.routes import egress_path, onward_route, reaches_directly
from checks.tunnel import legacy_tunnels
from model.arm_ids import last_segment, vnet_id_of
from model.finding import Severity, Status
from model.next_hop import InventoryLookup, NextHop, resolve_next_hop
from model.root_cause import CauseKind, RootCause
from model.snapshot import AzureFirewall, ClusterSnapshot, NetworkInventory, Peering, Source, Subnet, is_service_tag

REQUIREMENTS_FILE = Path(__file__).parent / "data" / "egress_requirements.json"
DOCS = "https://learn.microsoft.com/azure/aks/outbound-rules-control-egress"


@cache
def requirement_table() -> dict[str, Any]:
    return json.loads(REQUIREMENTS_FILE.read_text())


TUNNELS = ("tunnelfront", "aks-link")
VNET_INTEGRATION_PORTS = (443, 4443)  # node subnets -> API server subnet
LOAD_BALANCER_PROBE_PORT = 9988  # AzureLoadBalancer -> API server subnet


def requirements_for(snapshot: ClusterSnapshot, cloud: str = "AzureCloud") -> list[Requirement]:
    cluster = snapshot.cluster
    tunnels = set() if cluster.is_private or cluster.vnet_integration else legacy_tunnels(snapshot)
    dns_servers = sorted({dns for vnet in _node_vnets(snapshot) for dns in vnet.dns_servers})
    wanted: list[Requirement] = []
    for entry in requirement_table()["clouds"][cloud]:
        when = entry.get("when")
        if (
            (when == "public" and cluster.is_private)
            or (when in TUNNELS and when not in tunnels)
            or (when == "nodesProvisionedBefore" and not _nodes_before(snapshot, entry["before"]))
        ):
            continue
        fqdn = entry.get("fqdn")
        if fqdn and "*" in fqdn:
            example = entry.get("example", "")
            fqdn = (
                cluster.fqdn
                if example == "cluster" and cluster.fqdn
                else example.format(region=cluster.location) or fqdn
            )
        destinations = dns_servers if when == "customDns" else [entry.get("destination")]
        for destination in destinations:
            wanted.append(
                Requirement(
                    name=entry["name"] if when != "customDns" else f"{entry['name']} {destination}",
                    protocol=entry["protocol"],
                    port=entry["port"],
                    fqdn=fqdn,
                    destination=destination.format(region=cluster.location) if destination else None,
                    fqdn_tag=bool(entry.get("fqdnTag")),
                    dns=when == "customDns",
                )
            )
    return wanted


def _nodes_before(snapshot: ClusterSnapshot, cutoff: str) -> list[str]:
    """Nodes created before `cutoff` (ISO date); none when nodes were not collected (AKS reimages nodes on
    upgrade, so a cluster of unknown age is judged by today's images)."""
    return [node.name for node in snapshot.nodes or () if node.created and node.created[:10] < cutoff]


def _notes(snapshot: ClusterSnapshot) -> list[str]:
    """Why tunnel and NTP requirements are in or out, for the finding's detail."""
    cluster = snapshot.cluster
    if cluster.vnet_integration:
        notes = ["API Server VNet Integration: no tunnel is required, so tunnel rules (TCP 9000, UDP 1194) are skipped"]
    elif cluster.is_private:
        notes = ["private cluster: tunnel ports TCP 9000 and UDP 1194 are not required"]
    else:
        running = sorted(legacy_tunnels(snapshot))
        ports = {"tunnelfront": "TCP 9000", "aks-link": "UDP 1194"}
        notes = [f"{name} runs: {ports[name]} to AzureCloud.{cluster.location} required" for name in running]
    old_nodes = _nodes_before(snapshot, "2021-04-01")
    if old_nodes:
        notes.append(f"node(s) {', '.join(old_nodes[:3])} provisioned before April 2021: NTP UDP 123 required")
    return notes


def _node_vnets(snapshot: ClusterSnapshot) -> list[Any]:
    network = snapshot.network
    vnets = [network.vnet_of_subnet(subnet) for subnet in snapshot.cluster.node_subnet_ids] if network else []
    return [vnet for vnet in vnets if vnet]


@dataclass
class _Findings:
    blocked: list[str]
    fixes: list[str]
    unverifiable: list[str]
    firewalls: list[str]  # the Azure Firewalls the subnets' traffic was judged against
    notes: list[str]  # why requirements are in or out, or judged as they are, for the finding's detail
    causes: dict[str, RootCause] = field(default_factory=dict)  # the shared resources at fault, by key

    def blame(self, cause: RootCause) -> None:
        known = self.causes.get(cause.key)
        self.causes[cause.key] = known.joined(cause) if known else cause


def evaluate(snapshot: ClusterSnapshot, limits: object) -> Verdict:
    cluster = snapshot.cluster
    network = snapshot.network
    assert network is not None  # required source
    if (cluster.outbound_type or "").lower() in ("none", "block"):
        return Verdict(
            Status.SKIPPED,
            f"outboundType {cluster.outbound_type}: the cluster is built without egress",
            "Egress is deliberately absent (network-isolated cluster); required images come from a private registry.",
        )
    subnets = cluster.node_subnet_ids
    if not subnets:
        return Verdict(
            Status.SKIPPED,
            "Node subnets are AKS-managed",
            "The agent pools use the VNet AKS manages in the node resource group, whose NSG and routes AKS keeps open.",
        )
    requirements = requirements_for(snapshot)
    result = _Findings([], [], [], [], _notes(snapshot))
    evidence: dict[str, Any] = {"requirements": [r.name for r in requirements], "subnets": {}}
    for subnet_id in subnets:
        _evaluate_subnet(snapshot, network, subnet_id, requirements, result, evidence)
    if cluster.vnet_integration:
        _evaluate_vnet_integration(snapshot, network, result, evidence)
    notes = evidence["notes"] = list(dict.fromkeys(result.notes))
    noted = f" ({'; '.join(notes)})" if notes else ""
    if result.blocked:
        return Verdict(
            Status.FAIL,
            f"{len(result.blocked)} required flow(s) blocked",
            "; ".join(result.blocked) + noted,
            "; ".join(dict.fromkeys(result.fixes)),
            evidence,
            tuple(result.causes.values()),
        )
    if result.unverifiable:
        return Verdict(
            Status.WARN,
            "Egress cannot be fully verified",
            "; ".join(result.unverifiable) + noted,
            f"Run from the cluster: az aks check-network outbound -g {cluster.resource_group} -n {cluster.name}",
            evidence,
        )
    api_flows = " and the API server subnet flows" if evidence.get("apiServerSubnet") else ""
    return Verdict(
        Status.PASS,
        f"All {len(requirements)} required egress flows allowed",
        f"From {', '.join(last_segment(s) for s in subnets)}: NSGs{' and firewall' if result.firewalls else ''} allow every requirement{api_flows}.{noted}",
        "",
        evidence,
    )


def _evaluate_vnet_integration(
    snapshot: ClusterSnapshot, network: NetworkInventory, result: _Findings, evidence: dict[str, Any]
) -> None:
    """The documented NSG rules of API Server VNet Integration: TCP 443 and 4443 from the node subnets to
    the API server subnet, TCP 9988 from AzureLoadBalancer to it."""
    api_subnet_id = snapshot.cluster.apiserver_subnet_id
    if not api_subnet_id:
        evidence["apiServerSubnet"] = None  # AKS-managed subnet: AKS keeps its rules
        return
    api_name = last_segment(api_subnet_id)
    api_subnet = _known_subnet(network, api_subnet_id, "API server subnet", result)
    if api_subnet is None:
        return
    target = api_subnet.address_prefixes[0]
    evidence["apiServerSubnet"] = {"name": api_name, "prefix": target}
    api_nics = nic_nsgs_of_subnet(network, api_subnet_id)
    for subnet_id in snapshot.cluster.node_subnet_ids:
        subnet = network.subnet(subnet_id)
        if subnet is None or not subnet.address_prefixes:
            continue  # already reported by the subnet's own evaluation
        source = subnet.address_prefixes[0]
        for port in VNET_INTEGRATION_PORTS:
            label = f"TCP {port} from {last_segment(subnet_id)} ({source}) to API server subnet {api_name} ({target})"
            outbound = Flow("Outbound", "Tcp", source, target, port)
            inbound = Flow("Inbound", "Tcp", source, target, port)
            for flow, where, nics in (
                (outbound, subnet_id, nic_nsgs_of_subnet(network, subnet_id)),
                (inbound, api_subnet_id, api_nics),
            ):
                _judge_flow(network, where, flow, nics, label, f"allow-aks-apiserver-{port}", result)
    probe = Flow("Inbound", "Tcp", AZURE_LOAD_BALANCER, target, LOAD_BALANCER_PROBE_PORT)
    label = f"TCP {LOAD_BALANCER_PROBE_PORT} from AzureLoadBalancer to API server subnet {api_name} ({target})"
    _judge_flow(network, api_subnet_id, probe, api_nics, label, "allow-azure-lb-9988", result, "AzureLoadBalancer")


def _known_subnet(network: NetworkInventory, subnet_id: str, what: str, result: _Findings) -> Subnet | None:
    """The subnet with its prefixes (the first stands for its hosts in flows), or None after noting it is missing."""
    subnet = network.subnet(subnet_id)
    if subnet is None or not subnet.address_prefixes:
        result.unverifiable.append(f"{what} {last_segment(subnet_id)} is not in the snapshot (collect its VNet)")
        return None
    return subnet


def _judge_flow(
    network: NetworkInventory,
    subnet_id: str,
    flow: Flow,
    nic_nsgs: list[str],
    label: str,
    rule_name: str,
    result: _Findings,
    source_label: str | None = None,
) -> None:
    denial = first_denial(effective_decision(network, subnet_id, flow, nic_nsgs))
    if denial:
        result.blocked.append(
            f"API Server VNet Integration: {label} {flow.direction.lower()}: denied by {denial.describe()}"
        )
        shown = replace(flow, source=source_label) if source_label else flow  # the fix names the service tag
        result.fixes.append(allow_rule_command(denial, shown, rule_name))
        result.blame(_nsg_cause(denial, shown, rule_name))


def _evaluate_subnet(
    snapshot: ClusterSnapshot,
    network: NetworkInventory,
    subnet_id: str,
    requirements: list[Requirement],
    result: _Findings,
    evidence: dict[str, Any],
) -> None:
    name = last_segment(subnet_id)
    subnet = _known_subnet(network, subnet_id, "subnet", result)
    if subnet is None:
        return
    source = subnet.address_prefixes[0]
    nic_nsgs = nic_nsgs_of_subnet(network, subnet_id)
    doubts: list[dict[str, Any]] = []
    for requirement in requirements:
        flow = _nsg_flow(snapshot, requirement, source)
        decisions = effective_decision(network, subnet_id, flow, nic_nsgs)
        denial = first_denial(decisions)
        if denial:
            result.blocked.append(f"{_label(requirement)} from {name}: denied by {denial.describe()}")
            rule_name = f"allow-aks-{requirement.protocol.lower()}-{requirement.port}"
            result.fixes.append(allow_rule_command(denial, flow, rule_name))
            result.blame(_nsg_cause(denial, flow, rule_name))
        elif doubt := first_doubt(decisions):
            result.unverifiable.append(f"{_label(requirement)} from {name}: {_doubt_text(doubt, flow)}")
            doubts.append(
                {
                    "requirement": requirement.name,
                    "nsg": doubt.nsg.id,
                    "decidingRule": doubt.rule.name,
                    "serviceTagRules": {rule.name: list(rule.destination_prefixes) for rule in doubt.doubts},
                }
            )
    path_record: dict[str, Any] = {"source": source, "nicNsgs": nic_nsgs}
    if doubts:
        path_record["serviceTagDoubts"] = doubts
    evidence["subnets"][name] = path_record
    routed_dns = _judge_dns_servers(network, subnet_id, requirements, result, path_record)
    requirements = [requirement for requirement in requirements if not requirement.dns or requirement in routed_dns]
    udr = snapshot.cluster.outbound_type == "userDefinedRouting"
    path = egress_path(snapshot, subnet_id)
    if not udr and path.kind == "internet":  # no appliance route: the load balancer or the NAT gateway
        path_record["path"] = "load balancer / NAT gateway"
        return
    path_record["path"] = path.describe()
    if path.hub is not None:
        path_record["virtualHub"] = {
            "id": path.hub.id,
            "routingIntentInternetNextHop": path.hub.internet_next_hop,
            "firewall": path.hub.firewall_id,
        }
    if path.kind in ("internet", "none", "other"):
        why = {
            "internet": "has no 0.0.0.0/0 route to a virtual appliance",
            "none": "drops 0.0.0.0/0 (next hop None)",
            "other": "sends 0.0.0.0/0 to a gateway, not a virtual appliance",
        }[path.kind]
        if path.kind == "other" and not udr:
            result.unverifiable.append(
                f"subnet {name} {why} ({path.describe()}): egress leaves through a network the snapshot does not show"
            )
            return
        table = path.route_table.name if path.route_table else "<route-table>"
        group = path.route_table.id.split("/")[4] if path.route_table else snapshot.cluster.resource_group
        if udr:
            result.blocked.append(f"subnet {name} {why} ({path.describe()}), but outboundType is userDefinedRouting")
        else:
            result.blocked.append(f"subnet {name} {why} ({path.describe()}): its internet-bound traffic is dropped")
        fix = f"az network route-table route create -g {group} --route-table-name {table} -n default-to-firewall --address-prefix 0.0.0.0/0 --next-hop-type VirtualAppliance --next-hop-ip-address <firewall private IP>"
        result.fixes.append(fix)
        if path.route_table is not None:  # without a route table the subnet is the cluster's own setting
            route = path.route.name if path.route else ""
            summary = f"route table {path.route_table.name} {why}"
            result.blame(RootCause.of(CauseKind.ROUTE, path.route_table.id, route, summary=summary, fixes=(fix,)))
        return
    if path.next_hop is not None and path.next_hop.invalid:
        result.blocked.append(f"subnet {name} sends 0.0.0.0/0 to {path.describe()}, but the {path.unresolved()}")
        for peering in path.next_hop.disconnected:
            fix = _repeer_command(subnet_id, peering)
            result.fixes.append(fix)
            summary = f"peering {peering.name} is Disconnected: the route to {path.next_hop.ip} through it is invalid"
            result.blame(
                RootCause.of(CauseKind.PEERING, vnet_id_of(subnet_id), peering.name, summary=summary, fixes=(fix,))
            )
        path_record["nextHop"] = _next_hop_evidence(path.next_hop)
        return
    if path.firewall is None:
        result.unverifiable.append(f"subnet {name} egresses through a virtual appliance: {path.unresolved()}")
        if path.next_hop is not None:
            path_record["nextHop"] = _next_hop_evidence(path.next_hop)
        return
    result.firewalls.append(path.firewall.name)
    lookup = InventoryLookup(network)
    policy = unknown_policy(network, path.firewall)
    if policy is not None:
        why = lookup.unreadable_reason(policy) or lookup.unreadable_reason(f"{policy}/ruleCollectionGroups")
        groups = missing_groups(network, policy)
        if why is None and groups:
            why = "are not all in the snapshot: " + "; ".join(f"{group} {_why(lookup, group)}" for group in groups)
        result.unverifiable.append(
            f"firewall {path.firewall.name} uses policy {last_segment(policy)} whose rule collection groups "
            + (why or "were not collected")
        )
        path_record["unreadable"] = {resource: _why(lookup, resource) for resource in [policy, *groups]}
        return
    onward = onward_route(network, path.firewall)
    if onward is not None:
        path_record["forcedTunnel"] = onward.evidence()
        result.unverifiable.append(
            f"Azure Firewall {path.firewall.name}'s subnet sends 0.0.0.0/0 onward ({onward.describe()}): what the "
            "firewall allows then passes a device whose rules are not in the snapshot (forced tunnelling)"
        )
    for requirement in requirements:
        decision = evaluate_firewall(network, path.firewall, subnet.address_prefixes, requirement)
        if decision.unknown:
            named = "; ".join(f"{group} {_why(lookup, group)}" for group in decision.unknown)
            result.unverifiable.append(
                f"{_label(requirement)} from {name}: Azure Firewall {path.firewall.name}'s verdict depends on IP "
                f"group(s) the snapshot lacks: {named}"
            )
            path_record.setdefault("unreadable", {}).update({group: _why(lookup, group) for group in decision.unknown})
            continue
        if not decision.allowed:
            result.blocked.append(f"{_label(requirement)} from {name}: {decision.describe(path.firewall)}")
            result.fixes.append(_firewall_fix(path.firewall, requirement, source, snapshot.cluster.subscription))
            result.blame(_firewall_cause(path.firewall, requirement, source, snapshot.cluster.subscription))


def _nsg_cause(denial: NsgDecision, flow: Flow, rule_name: str) -> RootCause:
    what = f"{flow.protocol.upper()} {flow.port} {flow.direction.lower()} to {flow.destination}"
    return RootCause.of(
        CauseKind.NSG_RULE,
        denial.nsg.id,
        denial.rule.name,
        summary=f"{denial.describe()} denies required AKS traffic",
        fixes=(allow_rule_command(denial, flow, rule_name),),
        items=(what,),
    )


def _firewall_cause(firewall: AzureFirewall, requirement: Requirement, source: str, subscription: str) -> RootCause:
    """The policy the firewall applies (its classic rules when it has none) lacks the flow; the fix admits every
    spoke the estate finds behind it (`{sources}`)."""
    where = f"policy {last_segment(firewall.policy_id)}" if firewall.policy_id else "classic rules"
    return RootCause.of(
        CauseKind.FIREWALL,
        firewall.policy_id or firewall.id,
        summary=f"Azure Firewall {firewall.name} ({where}) lacks the AKS egress rules",
        fixes=(_firewall_fix(firewall, requirement, "{sources}", subscription),),
        items=(f"{requirement.name} ({requirement.protocol} {requirement.port})",),
        sources=(source,),
        related=(("firewall", firewall.id),),
    )


def _nsg_flow(snapshot: ClusterSnapshot, requirement: Requirement, source: str) -> Flow:
    """The flow NSGs judge: to the requirement's address or service tag, or to an FQDN (in the Internet tag, its
    addresses unknown), except the public API server when the probe resolved its address."""
    probe = snapshot.apiserver_probe
    if requirement.fqdn and probe and probe.addresses and probe.target.lower() == requirement.fqdn.lower():
        return Flow("Outbound", requirement.protocol, source, probe.addresses[0], requirement.port)
    if requirement.destination:
        return Flow("Outbound", requirement.protocol, source, requirement.destination, requirement.port)
    return Flow("Outbound", requirement.protocol, source, "Internet", requirement.port, fqdn=requirement.fqdn)


def _doubt_text(decision: NsgDecision, flow: Flow) -> str:
    rules = " and ".join(
        f"rule {rule.name} (priority {rule.priority}, {rule.access}) to service tag "
        + ", ".join(spec for spec in rule.destination_prefixes if is_service_tag(spec))
        for rule in decision.doubts
    )
    target = flow.fqdn or flow.destination
    why = (
        "it sits behind global front ends whose addresses no NSG rule can name"
        if flow.fqdn
        else "the tag's address prefixes were not collected (Service Tag Discovery API)"
    )
    return (
        f"NSG {decision.nsg.name} {rules} may or may not match {target} ({why}); otherwise "
        f"{decision.describe()} decides"
    )


def _judge_dns_servers(
    network: NetworkInventory,
    subnet_id: str,
    requirements: list[Requirement],
    result: _Findings,
    record: dict[str, Any],
) -> list[Requirement]:
    """The custom DNS servers the VNet sets, by where they sit; returns those whose traffic follows the subnet's
    default route (to be judged on that path like any other flow).

    - An Azure Firewall's private IP (resolved like a next hop, in the VNet and its Connected peerings)
      answers DNS only as DNS proxy (https://learn.microsoft.com/azure/firewall/dns-settings, "DNS proxy":
      clients set the firewall's private IP as their DNS server and the firewall forwards their queries; "by
      default ... DNS Proxy is disabled"): enabled, the firewall answers itself and no network rule is
      needed; off, nothing answers whatever the rules allow (fail); its policy unread (warn).
    - An address in the VNet or a Connected peering that no user route of at least its length covers is reached over the
      peering (system route): only the NSGs apply, already judged.
    """
    name = last_segment(subnet_id)
    lookup = InventoryLookup(network)
    routed: list[Requirement] = []
    for requirement in (requirement for requirement in requirements if requirement.dns):
        server = requirement.destination or ""
        firewall = resolve_next_hop(server, vnet_id_of(subnet_id), lookup).firewall
        if firewall is None:
            if not reaches_directly(network, subnet_id, server):
                routed.append(requirement)
            continue
        proxy = dns_proxy(network, firewall)
        record.setdefault("dnsServers", {})[server] = {
            "firewall": firewall.id,
            "policy": firewall.policy_id,
            "dnsProxy": proxy,
        }
        where = f"policy {last_segment(firewall.policy_id)}" if firewall.policy_id else "its settings"
        if proxy:
            result.notes.append(
                f"DNS server {server} is Azure Firewall {firewall.name} with DNS proxy enabled ({where}): it answers "
                "on port 53 itself, no network rule is needed"
            )
        elif proxy is False:
            result.blocked.append(
                f"{_label(requirement)} from {name}: DNS server {server} is Azure Firewall {firewall.name}, whose DNS "
                f"proxy is off ({where}): nothing answers on its port 53 whatever the rules allow, so the nodes "
                "resolve no name"
            )
            result.fixes.append(dns_proxy_command(firewall))
            result.blame(
                RootCause.of(
                    CauseKind.FIREWALL,
                    firewall.policy_id or firewall.id,
                    "dns-proxy",
                    summary=f"Azure Firewall {firewall.name} is a VNet's DNS server, but its DNS proxy is off ({where})",
                    fixes=(dns_proxy_command(firewall),),
                    items=(f"DNS UDP 53 to {server}",),
                    related=(("firewall", firewall.id),),
                )
            )
        else:
            why = lookup.unreadable_reason(firewall.policy_id or "") or "was not collected"
            result.unverifiable.append(
                f"DNS server {server} is Azure Firewall {firewall.name}, whose policy "
                f"{last_segment(firewall.policy_id)} {why}: whether DNS proxy answers on port 53 is not known"
            )
    return routed


def _why(lookup: InventoryLookup, resource_id: str) -> str:
    return lookup.unreadable_reason(resource_id) or "is not in the snapshot"


def _next_hop_evidence(hop: NextHop) -> dict[str, Any]:
    return {
        "ip": hop.ip,
        "subnet": hop.subnet_id,
        "appliances": [appliance.id for appliance in hop.appliances],
        "unreadable": {vnet: why for vnet, why in hop.missing},
        "disconnectedPeerings": [
            {"name": peering.name, "remoteVnet": peering.remote_vnet_id, "state": peering.state}
            for peering in hop.disconnected
        ],
    }


def _repeer_command(subnet_id: str, peering: Peering) -> str:
    """A Disconnected peering cannot be repaired: it is deleted and created again, on both sides."""
    vnet_id = vnet_id_of(subnet_id)
    group, vnet = vnet_id.split("/")[4], last_segment(vnet_id)
    remote = peering.remote_vnet_id or "<hub VNet id>"
    return (
        f"az network vnet peering delete -g {group} --vnet-name {vnet} -n {peering.name} && az network vnet peering "
        f"create -g {group} --vnet-name {vnet} -n {peering.name} --remote-vnet {remote} --allow-vnet-access "
        f"--allow-forwarded-traffic (and the peering back from {last_segment(remote)})"
    )


def _label(requirement: Requirement) -> str:
    target = requirement.fqdn or requirement.destination
    return f"{requirement.name} ({target} {requirement.protocol} {requirement.port})"


def _firewall_fix(firewall: AzureFirewall, requirement: Requirement, source: str, cluster_subscription: str) -> str:
    is_web = bool(requirement.fqdn) and requirement.protocol == "TCP"
    if is_web:
        target = "--fqdn-tags AzureKubernetesService" if requirement.fqdn_tag else f"--target-fqdns {requirement.fqdn}"
        rule = f"--protocols Https=443 {target}"
    else:
        target = (
            f"--destination-fqdns {requirement.fqdn}"
            if requirement.fqdn
            else f"--destination-addresses {requirement.destination}"
        )
        rule = (
            f"{target} --destination-ports {requirement.port} "
            f"--{'ip-protocols' if firewall.policy_id else 'protocols'} {requirement.protocol}"
        )
    owner = (firewall.policy_id or firewall.id).split("/")[2]
    # A hub in another subscription (the connectivity subscription of a landing zone) needs it named.
    subscription = f"--subscription {owner} " if owner.lower() != cluster_subscription.lower() else ""
    if firewall.policy_id:
        return (
            f"az network firewall policy rule-collection-group collection add-filter-collection {subscription}"
            f"-g {firewall.policy_id.split('/')[4]} --policy-name {last_segment(firewall.policy_id)} --rcg-name aks-egress "
            f"--name aks-{'fqdns' if is_web else 'network'} --collection-priority 200 --action Allow --rule-name aks "
            f"--rule-type {'ApplicationRule' if is_web else 'NetworkRule'} --source-addresses {source} {rule}"
        )
    kind = "application-rule" if is_web else "network-rule"
    return (
        f"az network firewall {kind} create {subscription}-g {firewall.id.split('/')[4]} -f {firewall.name} "
        f"--collection-name aks-{'fqdns' if is_web else 'network'} --priority 200 --action Allow "
        f"-n aks-{requirement.protocol.lower()}-{requirement.port} --source-addresses {source} {rule}"
    )


CHECK = Check(
    id="egress-rules",
    title="Required outbound rules",
    severity=Severity.HIGH,
    docs=DOCS,
    evaluate=evaluate,
    requires=(Source.NETWORK,),
)
