"""Azure Firewall evaluation: classic rule collections, or a firewall policy with its parent.

Azure Firewall processes network rules before application rules, each by priority (a parent
policy's rule collection groups before the child's, then group priority, then collection
priority); the first matching collection decides, and with no match traffic is denied.

DNS proxy (https://learn.microsoft.com/azure/firewall/dns-settings): with it enabled the firewall
listens on its private IP's port 53 and forwards queries; with it off nothing answers there. FQDNs in
network rules are resolved by the proxy, so a network rule naming a destination by FQDN matches only
when DNS proxy is enabled ("FQDN filtering in network rules": "you must enable DNS proxy").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from checks.netrules.addresses import cidr_within, fqdn_matches, port_in
from model.arm_ids import last_segment
from model.snapshot import AzureFirewall, FirewallRule, IpGroup, NetworkInventory, RuleCollection

# What the AzureKubernetesService FQDN tag allows (HTTPS), per Microsoft's outbound rules page.
AKS_FQDN_TAG = "azurekubernetesservice"


@dataclass(frozen=True)
class Requirement:
    """One outbound flow a cluster needs: an FQDN on a port, or a destination (service tag / IP) on a port."""

    name: str
    protocol: str  # TCP / UDP
    port: int
    fqdn: str | None = None  # concrete name (wildcard requirements are resolved to an example name)
    destination: str | None = None  # service tag or address
    fqdn_tag: bool = False  # covered by the AzureKubernetesService FQDN tag
    dns: bool = False  # UDP 53 to a custom DNS server the VNet sets


@dataclass(frozen=True)
class FirewallDecision:
    allowed: bool
    collection: RuleCollection | None = None
    rule: FirewallRule | None = None
    # a network rule that names the destination by FQDN but cannot match it: DNS proxy is off
    fqdn_rule_without_proxy: FirewallRule | None = None
    unknown: tuple[str, ...] = ()  # IP groups not in the snapshot whose contents could change the verdict

    def describe(self, firewall: AzureFirewall) -> str:
        if self.collection is None or self.rule is None:
            unused = self.fqdn_rule_without_proxy
            why = (
                f"; network rule {unused.name} names it by FQDN, which works only with DNS proxy enabled, and DNS "
                "proxy is off"
                if unused
                else ""
            )
            return f"no rule of Azure Firewall {firewall.name} allows it (the firewall denies by default){why}"
        collection = self.collection
        where = f"rule collection {collection.name}"
        if collection.group:
            policy = last_segment(collection.policy_id)
            where = f"firewall policy {policy}, rule collection group {collection.group}, {where}"
        verb = "allowed" if self.allowed else "denied"
        return f"{verb} by {collection.kind} rule {self.rule.name} in {where} (priority {collection.priority})"


def policy_rule_collections(inventory: NetworkInventory, policy_id: str | None) -> list[RuleCollection]:
    """A policy's rule collections in processing order: parent policy first, then group and collection priority."""
    chain: list[str] = []
    current = policy_id
    while current and current.lower() not in chain:
        chain.insert(0, current.lower())
        policy = inventory.firewall_policies.get(current.lower())
        current = policy.parent_policy_id if policy else None
    collections: list[RuleCollection] = []
    for chain_id in chain:
        groups = [group for group in inventory.rule_collection_groups.values() if group.policy_id.lower() == chain_id]
        for group in sorted(groups, key=lambda group: group.priority):
            ordered = sorted(group.rule_collections, key=lambda collection: collection.priority)
            collections += ordered
    return collections


def firewall_collections(inventory: NetworkInventory, firewall: AzureFirewall) -> list[RuleCollection]:
    if firewall.policy_id:
        return policy_rule_collections(inventory, firewall.policy_id)
    return sorted(firewall.rule_collections, key=lambda collection: collection.priority)


def unknown_policy(inventory: NetworkInventory, firewall: AzureFirewall) -> str | None:
    """The first policy of the firewall's chain (its policy, then each parent) whose rules were not all
    collected; None when the firewall can be judged. A policy is known when its body and every rule collection
    group it lists are in the snapshot, or (an export without the policy body) when some group of it is."""
    seen: set[str] = set()
    current = firewall.policy_id
    while current and current.lower() not in seen:
        seen.add(current.lower())
        policy = inventory.firewall_policies.get(current.lower())
        groups = {group.id.lower() for group in inventory.rule_collection_groups.values()}
        if policy is None:
            owned = any(
                group.policy_id.lower() == current.lower() for group in inventory.rule_collection_groups.values()
            )
            return None if owned else current
        if any(group_id.lower() not in groups for group_id in policy.rule_collection_group_ids):
            return current
        current = policy.parent_policy_id
    return None


def missing_groups(inventory: NetworkInventory, policy_id: str) -> list[str]:
    """The rule collection groups a policy lists that the snapshot lacks."""
    policy = inventory.firewall_policies.get(policy_id.lower())
    listed = policy.rule_collection_group_ids if policy else ()
    return [group for group in listed if group.lower() not in inventory.rule_collection_groups]


def evaluate_firewall(
    inventory: NetworkInventory, firewall: AzureFirewall, sources: Sequence[str], requirement: Requirement
) -> FirewallDecision:
    """The first matching rule decides. A rule that names an IP group the snapshot lacks (unreadable, say, in
    another subscription) might match or not: when it could change the verdict (an Allow before a deciding Deny,
    a Deny before a deciding Allow, an Allow where nothing else matches), the decision names it in `unknown`."""
    collections = firewall_collections(inventory, firewall)
    proxy = dns_proxy(inventory, firewall) is not False  # unknown (policy body not read): FQDN rules count
    unused: FirewallRule | None = None
    undecided: list[tuple[bool, tuple[str, ...]]] = []  # (Allow?, unread IP groups) of rules that may match
    for kind in ("network", "application"):
        for collection in (c for c in collections if c.kind == kind):
            allow = collection.action.lower() == "allow"
            for rule in collection.rules:
                unread = tuple(
                    g for g in (*rule.source_ip_groups, *rule.destination_ip_groups) if not _group(inventory, g)
                )
                if _matches(inventory, rule, sources, requirement, proxy, unread_match_all=False):
                    unknown = [group for action, groups in undecided if action != allow for group in groups]
                    return FirewallDecision(allow, collection, rule, unknown=tuple(dict.fromkeys(unknown)))
                if unread and _matches(inventory, rule, sources, requirement, proxy, unread_match_all=True):
                    undecided.append((allow, unread))
                elif unused is None and not proxy and _matches(inventory, rule, sources, requirement, True, False):
                    unused = rule
    unknown = [group for action, groups in undecided if action for group in groups]
    return FirewallDecision(False, fqdn_rule_without_proxy=unused, unknown=tuple(dict.fromkeys(unknown)))


def _group(inventory: NetworkInventory, group_id: str) -> IpGroup | None:
    return inventory.ip_groups.get(group_id.lower())


def _matches(
    inventory: NetworkInventory,
    rule: FirewallRule,
    sources: Sequence[str],
    requirement: Requirement,
    dns_proxy: bool,
    unread_match_all: bool,
) -> bool:
    """Whether the rule matches the flow; an IP group the snapshot lacks counts as empty, or with
    `unread_match_all` as holding every address."""

    def addresses(direct: tuple[str, ...], groups: tuple[str, ...]) -> list[str]:
        found = list(direct)
        for group_id in groups:
            group = _group(inventory, group_id)
            found += group.addresses if group else ("*",) if unread_match_all else ()
        return found

    allowed = addresses(rule.source_addresses, rule.source_ip_groups)
    if not all(any(spec.strip() == "*" or cidr_within(source, spec) for spec in allowed) for source in sources):
        return False
    destinations = addresses(rule.destination_addresses, rule.destination_ip_groups)
    return _rule_matches(rule, requirement, dns_proxy, destinations)


def dns_proxy(inventory: NetworkInventory, firewall: AzureFirewall) -> bool | None:
    """Whether the firewall answers DNS on its private IP: its policy's dnsSettings.enableProxy (None when the
    policy's body was not collected), or a classic firewall's own setting."""
    if not firewall.policy_id:
        return firewall.dns_proxy
    policy = inventory.firewall_policies.get(firewall.policy_id.lower())
    return policy.dns_proxy if policy else None


def dns_proxy_command(firewall: AzureFirewall) -> str:
    """The `az` command that turns DNS proxy on for this firewall (its policy, or the classic firewall)."""
    if firewall.policy_id:
        return (
            f"az network firewall policy update -g {firewall.policy_id.split('/')[4]} "
            f"-n {last_segment(firewall.policy_id)} --enable-dns-proxy true"
        )
    return f"az network firewall update -g {firewall.id.split('/')[4]} -n {firewall.name} --enable-dns-proxy true"


def _rule_matches(rule: FirewallRule, requirement: Requirement, dns_proxy: bool, destinations: list[str]) -> bool:
    if rule.kind == "network":
        protocols = {protocol.lower() for protocol in rule.protocols}
        if not protocols & {"any", requirement.protocol.lower()}:
            return False
        if not any(port_in(spec, requirement.port) for spec in rule.destination_ports):
            return False
        fqdns = rule.destination_fqdns if dns_proxy else ()
        if requirement.fqdn and any(fqdn_matches(name, requirement.fqdn) for name in fqdns):
            return True
        return any(_destination_matches(spec, requirement) for spec in destinations)
    if requirement.protocol.upper() != "TCP" or not requirement.fqdn:
        return False
    schemes = {"https": 443, "http": 80}
    if not any(_app_protocol_allows(protocol, requirement.port, schemes) for protocol in rule.protocols):
        return False
    if requirement.fqdn_tag and any(tag.lower() == AKS_FQDN_TAG for tag in rule.fqdn_tags):
        return True
    return any(fqdn_matches(pattern, requirement.fqdn) for pattern in rule.target_fqdns)


def _app_protocol_allows(protocol: str, port: int, schemes: dict[str, int]) -> bool:
    scheme, _, rule_port = protocol.partition(":")
    return int(rule_port or schemes.get(scheme.lower(), 0)) == port


def _destination_matches(spec: str, requirement: Requirement) -> bool:
    wanted = spec.strip().lower()
    if wanted in ("*", "any", "0.0.0.0/0"):
        return True
    target = (requirement.destination or "").lower()
    if not target:
        return False
    return target == wanted or target.startswith(wanted + ".") or cidr_within(target, spec)
