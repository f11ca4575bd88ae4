"""Network security group evaluation with Azure's semantics.

Rules by priority, first match wins; the default rules apply when a body omits them;
outbound traffic passes the NIC's NSG then the subnet's, inbound the subnet's then the NIC's,
and both must allow it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from checks.netrules.addresses import address_in, network, port_in, protocol_matches, tag_holds
from checks.netrules.routes import peered_address_space
from model.snapshot import NetworkInventory, NetworkSecurityGroup, SecurityRule, is_service_tag


def _default(name: str, priority: int, direction: str, access: str, source: str, destination: str) -> SecurityRule:
    return SecurityRule(
        name=name,
        priority=priority,
        direction=direction,
        access=access,
        protocol="*",
        source_prefixes=(source,),
        source_ports=("*",),
        destination_prefixes=(destination,),
        destination_ports=("*",),
        default=True,
    )


DEFAULT_RULES: tuple[SecurityRule, ...] = (
    _default("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*"),
    _default("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
    _default("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet"),
    _default("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
)


@dataclass(frozen=True)
class Flow:
    direction: str  # Inbound / Outbound
    protocol: str  # Tcp / Udp
    source: str  # IP or CIDR (a subnet's prefix stands for its hosts)
    destination: str  # IP, CIDR, or a service tag such as AzureCloud.westeurope
    port: int
    # A name whose addresses the snapshot does not know (mcr.microsoft.com sits behind global front ends): the
    # destination is then "Internet", and whether a service tag holds it cannot be told.
    fqdn: str | None = None


@dataclass(frozen=True)
class NsgDecision:
    nsg: NetworkSecurityGroup
    rule: SecurityRule
    # earlier rules of the other access that may match or not (a service tag whose addresses are not known to
    # hold the destination): while they stand, the decision is not certain
    doubts: tuple[SecurityRule, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.rule.access.lower() == "allow"

    def describe(self) -> str:
        kind = "default rule" if self.rule.default else "rule"
        return f"NSG {self.nsg.name} {kind} {self.rule.name} (priority {self.rule.priority}, {self.rule.access})"


def evaluate_nsg(
    nsg: NetworkSecurityGroup,
    flow: Flow,
    vnet_prefixes: Sequence[str],
    tags: Mapping[str, Sequence[str]] = MappingProxyType({}),
) -> NsgDecision:
    """The first matching rule decides; a rule that may match (a service tag not known to hold the destination)
    is kept as a doubt when its access differs from the deciding rule's. `tags`: service tag prefixes by
    lower-cased name."""
    rules = [rule for rule in nsg.rules if rule.direction.lower() == flow.direction.lower()]
    if not any(rule.default for rule in nsg.rules):
        rules += [rule for rule in DEFAULT_RULES if rule.direction == flow.direction]
    maybe: list[SecurityRule] = []
    for rule in sorted(rules, key=lambda rule: rule.priority):
        matched = _matches(rule, flow, vnet_prefixes, tags)
        if matched:
            doubts = tuple(other for other in maybe if other.access.lower() != rule.access.lower())
            return NsgDecision(nsg, rule, doubts)
        if matched is None:
            maybe.append(rule)
    raise AssertionError("the default rules match every flow")  # DenyAll* covers everything


def _matches(
    rule: SecurityRule, flow: Flow, vnet_prefixes: Sequence[str], tags: Mapping[str, Sequence[str]]
) -> bool | None:
    if not protocol_matches(rule.protocol, flow.protocol):
        return False
    if not any(port_in(spec, flow.port) for spec in rule.destination_ports or ("*",)):
        return False
    if not any(address_in(spec, flow.source, vnet_prefixes) for spec in rule.source_prefixes or ("*",)):
        return False
    found = [_destination_in(spec, flow, vnet_prefixes, tags) for spec in rule.destination_prefixes or ("*",)]
    return True if any(found) else None if None in found else False


def _destination_in(
    spec: str, flow: Flow, vnet_prefixes: Sequence[str], tags: Mapping[str, Sequence[str]]
) -> bool | None:
    """Whether a rule's destination spec covers the flow's; None when it cannot be told. A service tag is an address
    list: it holds an address only when its published prefixes do (unknown without them), and an FQDN whose
    addresses are not known is in no tag for certain ("you can't use network security groups to lock down the
    outbound traffic" by FQDN, https://learn.microsoft.com/azure/aks/outbound-rules-control-egress). A destination
    that is itself a tag (AzureCloud.westeurope) matches that tag, its parent tag, or any/Internet."""
    wanted = spec.strip().lower()
    if wanted in ("*", "any", "0.0.0.0/0"):
        return True
    if flow.fqdn:
        return True if wanted == "internet" else None if is_service_tag(spec) else False
    if network(flow.destination) is not None:
        return (
            tag_holds(spec, flow.destination, tags)
            if is_service_tag(spec)
            else address_in(spec, flow.destination, vnet_prefixes)
        )
    tag = flow.destination.lower()
    return wanted == "internet" or tag == wanted or tag.startswith(wanted + ".")


def effective_decision(
    inventory: NetworkInventory, subnet_id: str, flow: Flow, nic_nsg_ids: Sequence[str] = ()
) -> list[NsgDecision]:
    """Decisions of every NSG on the path (subnet's and the NICs'), in the order Azure applies them."""
    subnet = inventory.subnet(subnet_id)
    vnet = inventory.vnet_of_subnet(subnet_id)
    vnet_prefixes = peered_address_space(inventory, vnet) if vnet else []
    tags = {name: tag.address_prefixes for name, tag in inventory.service_tags.items()}
    subnet_nsgs = [subnet.nsg_id] if subnet and subnet.nsg_id else []
    ordered = [*nic_nsg_ids, *subnet_nsgs] if flow.direction == "Outbound" else [*subnet_nsgs, *nic_nsg_ids]
    decisions = []
    for nsg_id in dict.fromkeys(nsg_id.lower() for nsg_id in ordered):
        nsg = inventory.security_groups.get(nsg_id)
        if nsg is not None:
            decisions.append(evaluate_nsg(nsg, flow, vnet_prefixes, tags))
    return decisions


def first_denial(decisions: Sequence[NsgDecision]) -> NsgDecision | None:
    """The first NSG that denies the flow for certain (no doubt before an undoubted denial)."""
    for decision in decisions:
        if decision.doubts:
            return None
        if not decision.allowed:
            return decision
    return None


def first_doubt(decisions: Sequence[NsgDecision]) -> NsgDecision | None:
    """The first NSG on the path whose decision a service-tag rule puts in doubt (before any certain denial)."""
    for decision in decisions:
        if decision.doubts:
            return decision
        if not decision.allowed:
            return None
    return None


def nic_nsgs_of_subnet(inventory: NetworkInventory, subnet_id: str) -> list[str]:
    """NSGs attached to NICs in the subnet (VMSS node NICs, when collected)."""
    return [
        nic.nsg_id
        for nic in inventory.interfaces.values()
        if nic.nsg_id and any(sid.lower() == subnet_id.lower() for sid in nic.subnet_ids)
    ]


def allow_rule_command(decision: NsgDecision, flow: Flow, rule_name: str) -> str:
    """The `az` command adding an Allow rule that wins over the deciding Deny rule."""
    nsg = decision.nsg
    group = nsg.id.split("/")[4] if nsg.id.count("/") > 4 else "<resource-group>"
    priority = max(100, decision.rule.priority - 1)
    clash = " (the deny rule has priority 100: lower it or narrow it first)" if decision.rule.priority <= 100 else ""
    return (
        f"az network nsg rule create -g {group} --nsg-name {nsg.name} -n {rule_name} --priority {priority} "
        f"--direction {flow.direction} --access Allow --protocol {flow.protocol.capitalize()} "
        f"--source-address-prefixes {flow.source} --destination-address-prefixes {flow.destination} "
        f"--destination-port-ranges {flow.port}{clash}"
    )
