"""Azure semantics of NSGs, routes and Azure Firewall that the network checks build on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.netrules.addresses import address_in, fqdn_matches, port_in, tag_holds
from checks.netrules.firewall import Requirement, evaluate_firewall, policy_rule_collections
from checks.netrules.nsg import Flow, effective_decision, evaluate_nsg, first_denial
from model.snapshot import (
    AzureFirewall,
    FirewallPolicy,
    FirewallRule,
    IpGroup,
    NetworkInterface,
    NetworkInventory,
    NetworkSecurityGroup,
    RuleCollection,
    RuleCollectionGroup,
    SecurityRule,
    Subnet,
    VirtualNetwork,
)
from tests.builders import NODE_SUBNET_ID, VNET_ID


def rule(
    name, priority, access, direction="Outbound", protocol="Tcp", source="*", destination="*", ports="*"
) -> SecurityRule:
    return SecurityRule(
        name, priority, direction, access, protocol, (source,), ("*",), (destination,), tuple(ports.split(","))
    )


def nsg(name: str, *rules: SecurityRule) -> NetworkSecurityGroup:
    return NetworkSecurityGroup(
        id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/{name}",
        name=name,
        rules=rules,
    )


OUT_443 = Flow("Outbound", "Tcp", "10.224.0.0/16", "AzureCloud.westeurope", 443)


@pytest.mark.parametrize(
    ("rules", "allowed", "decided_by"),
    [
        ((), True, "AllowInternetOutBound"),
        ((rule("deny-internet", 200, "Deny", destination="Internet"),), False, "deny-internet"),
        (
            (rule("allow-azure", 100, "Allow", destination="AzureCloud"), rule("deny-all", 200, "Deny")),
            True,
            "allow-azure",
        ),
        (
            (rule("deny-all", 100, "Deny"), rule("allow-azure", 200, "Allow", destination="AzureCloud")),
            False,
            "deny-all",
        ),
        ((rule("deny-udp", 100, "Deny", protocol="Udp"),), True, "AllowInternetOutBound"),
        ((rule("deny-range", 100, "Deny", ports="400-500"),), False, "deny-range"),
        ((rule("deny-other-region", 100, "Deny", destination="AzureCloud.eastus"),), True, "AllowInternetOutBound"),
        ((rule("deny-vnet", 100, "Deny", destination="VirtualNetwork"),), True, "AllowInternetOutBound"),
    ],
)
def test_nsg_priority_first_match_and_defaults(rules, allowed, decided_by) -> None:
    decision = evaluate_nsg(nsg("nsg", *rules), OUT_443, ["10.224.0.0/12"])
    assert (decision.allowed, decision.rule.name) == (allowed, decided_by)


def test_inbound_vnet_default_and_load_balancer_tag() -> None:
    inbound = Flow("Inbound", "Tcp", "10.224.0.0/16", "10.224.0.0/16", 10250)
    assert evaluate_nsg(nsg("n"), inbound, ["10.224.0.0/12"]).rule.name == "AllowVnetInBound"
    outside = Flow("Inbound", "Tcp", "192.168.0.0/24", "10.224.0.0/16", 10250)
    assert evaluate_nsg(nsg("n"), outside, ["10.224.0.0/12"]).rule.name == "DenyAllInBound"
    probe = Flow("Inbound", "Tcp", "168.63.129.16", "10.224.0.0/16", 9988)
    assert evaluate_nsg(nsg("n"), probe, []).rule.name == "AllowAzureLoadBalancerInBound"


def test_subnet_and_nic_nsgs_both_apply() -> None:
    subnet_nsg = nsg("nsg-subnet")
    nic_nsg = nsg("nsg-nic", rule("deny-443", 100, "Deny", ports="443"))
    inventory = NetworkInventory(
        security_groups={subnet_nsg.id.lower(): subnet_nsg, nic_nsg.id.lower(): nic_nsg},
        virtual_networks={
            VNET_ID.lower(): VirtualNetwork(
                VNET_ID,
                "vnet",
                ("10.224.0.0/12",),
                (Subnet(NODE_SUBNET_ID, "nodes", ("10.224.0.0/16",), nsg_id=subnet_nsg.id),),
            )
        },
        interfaces={"nic": NetworkInterface("nic", "nic", nic_nsg.id, (NODE_SUBNET_ID,))},
    )
    decisions = effective_decision(inventory, NODE_SUBNET_ID, OUT_443, [nic_nsg.id])
    assert [d.nsg.name for d in decisions] == ["nsg-nic", "nsg-subnet"]  # outbound: NIC first
    assert not decisions[0].allowed and decisions[1].allowed


@pytest.mark.parametrize(
    ("spec", "address", "expected"),
    [
        ("10.0.0.0/8", "10.1.0.0/16", True),
        ("10.1.0.0/16", "10.0.0.0/8", False),
        ("VirtualNetwork", "10.224.1.0/24", True),
        ("Internet", "10.224.1.0/24", False),
        ("Internet", "20.1.2.3", True),
        ("*", "anything", True),
        ("AzureLoadBalancer", "168.63.129.16", True),
    ],
)
def test_address_specs(spec, address, expected) -> None:
    assert address_in(spec, address, ["10.224.0.0/12"]) is expected


def test_ports_and_fqdns() -> None:
    assert port_in("*", 1) and port_in("10250", 10250) and port_in("1-65535", 443) and not port_in("80,8080", 443)
    assert fqdn_matches("*.azmk8s.io", "aks.hcp.westeurope.azmk8s.io") and not fqdn_matches("*.azmk8s.io", "azmk8s.io")
    assert fqdn_matches("MCR.microsoft.com", "mcr.microsoft.com") and not fqdn_matches(
        "mcr.microsoft.com", "x.mcr.microsoft.com"
    )


POLICY = "/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/firewallPolicies/child"
PARENT = "/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/firewallPolicies/parent"
GROUP_IDS = "/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/ipGroups/aks-nodes"
MCR = Requirement("MCR", "TCP", 443, fqdn="mcr.microsoft.com", fqdn_tag=True)


def app_rule(name, fqdns=(), tags=(), sources=("10.224.0.0/16",), groups=()) -> FirewallRule:
    return FirewallRule(
        name,
        "application",
        ("Https:443",),
        tuple(sources),
        tuple(groups),
        target_fqdns=tuple(fqdns),
        fqdn_tags=tuple(tags),
    )


def collection(
    name, priority, action, *rules, kind="application", group=None, policy=None, group_priority=None
) -> RuleCollection:
    return RuleCollection(name, priority, action, kind, rules, group, group_priority, policy)


def test_classic_firewall_fqdn_tag_wildcards_and_default_deny() -> None:
    allow = collection("aks", 200, "Allow", app_rule("tag", tags=["AzureKubernetesService"]))
    firewall = AzureFirewall("fw", "fw", "10.0.1.4", rule_collections=(allow,))
    decision = evaluate_firewall(NetworkInventory(), firewall, ["10.224.0.0/16"], MCR)
    assert decision.allowed and decision.rule.name == "tag"
    other_source = evaluate_firewall(NetworkInventory(), firewall, ["10.99.0.0/16"], MCR)
    assert not other_source.allowed and "denies by default" in other_source.describe(firewall)
    untagged = Requirement("custom", "TCP", 443, fqdn="mcr.microsoft.com")
    assert not evaluate_firewall(NetworkInventory(), firewall, ["10.224.0.0/16"], untagged).allowed


def test_network_rules_are_evaluated_before_application_rules() -> None:
    deny_net = collection(
        "deny-443",
        500,
        "Deny",
        FirewallRule("block", "network", ("TCP",), ("*",), destination_addresses=("*",), destination_ports=("443",)),
        kind="network",
    )
    allow_app = collection("allow", 100, "Allow", app_rule("mcr", fqdns=["mcr.microsoft.com"]))
    firewall = AzureFirewall("fw", "fw", "10.0.1.4", rule_collections=(allow_app, deny_net))
    decision = evaluate_firewall(NetworkInventory(), firewall, ["10.224.0.0/16"], MCR)
    assert not decision.allowed and decision.collection.name == "deny-443"


def test_policy_parent_first_and_ip_groups() -> None:
    parent_group = RuleCollectionGroup(
        f"{PARENT}/ruleCollectionGroups/base",
        "base",
        PARENT,
        500,
        (
            collection(
                "deny-mcr",
                900,
                "Deny",
                app_rule("no-mcr", fqdns=["mcr.microsoft.com"], sources=["*"]),
                group="base",
                policy=PARENT,
            ),
        ),
    )
    child_group = RuleCollectionGroup(
        f"{POLICY}/ruleCollectionGroups/aks",
        "aks",
        POLICY,
        100,
        (
            collection(
                "aks",
                100,
                "Allow",
                app_rule("tag", tags=["AzureKubernetesService"], sources=(), groups=[GROUP_IDS]),
                group="aks",
                policy=POLICY,
            ),
        ),
    )
    inventory = NetworkInventory(
        firewall_policies={
            POLICY.lower(): FirewallPolicy(POLICY, "child", parent_policy_id=PARENT),
            PARENT.lower(): FirewallPolicy(PARENT, "parent"),
        },
        rule_collection_groups={g.id.lower(): g for g in (parent_group, child_group)},
        ip_groups={GROUP_IDS.lower(): IpGroup(GROUP_IDS, "aks-nodes", ("10.224.0.0/12",))},
    )
    assert [c.name for c in policy_rule_collections(inventory, POLICY)] == ["deny-mcr", "aks"]
    firewall = AzureFirewall("fw", "fw", "10.0.1.4", policy_id=POLICY)
    decision = evaluate_firewall(inventory, firewall, ["10.224.0.0/16"], MCR)
    assert not decision.allowed and "firewall policy parent, rule collection group base" in decision.describe(firewall)
    login = Requirement("Entra", "TCP", 443, fqdn="login.microsoftonline.com", fqdn_tag=True)
    assert evaluate_firewall(inventory, firewall, ["10.224.0.0/16"], login).allowed  # via the IP group


def test_a_service_tag_holds_an_address_only_when_its_published_prefixes_do() -> None:
    tags = {"azurecloud.westeurope": ("20.103.0.0/16",)}
    assert tag_holds("AzureCloud.westeurope", "20.103.5.6", tags) is True
    assert tag_holds("AzureCloud.westeurope", "51.124.7.8", tags) is False
    assert tag_holds("AzureCloud.eastus", "51.124.7.8", tags) is None  # not collected: cannot be told
    assert tag_holds("AzureCloud.eastus", "10.224.0.4", tags) is False  # tags list public ranges only
    assert address_in("AzureCloud", "20.1.2.3") is False  # no longer "any public address"
    fqdn = Flow("Outbound", "Tcp", "10.224.0.0/16", "Internet", 443, fqdn="mcr.microsoft.com")
    decision = evaluate_nsg(
        nsg(
            "n",
            rule("allow-azure", 100, "Allow", destination="AzureCloud"),
            rule("deny-web", 200, "Deny", destination="Internet"),
        ),
        fqdn,
        ["10.224.0.0/12"],
    )
    assert decision.rule.name == "deny-web" and [r.name for r in decision.doubts] == ["allow-azure"]


DESTINATIONS = ("Internet", "AzureCloud", "AzureCloud.westeurope", "Storage", "*", "20.103.0.0/16", "VirtualNetwork")


@given(
    st.lists(
        st.tuples(st.sampled_from(("Allow", "Deny")), st.sampled_from(DESTINATIONS)),
        max_size=6,
    ),
    st.sampled_from(("mcr.microsoft.com", None)),
    st.booleans(),
)
def test_a_doubt_is_never_a_certain_verdict(specs, fqdn, tags_known) -> None:
    """Whatever the rules: a decision is doubted only by earlier rules of the other access, first_denial never
    returns a doubted decision, and with the tags known an address flow has no doubt at all."""
    rules = [rule(f"r{index}", 100 + index, access, destination=spec) for index, (access, spec) in enumerate(specs)]
    flow = Flow("Outbound", "Tcp", "10.224.0.0/16", "Internet" if fqdn else "20.103.5.6", 443, fqdn=fqdn)
    tags = {"azurecloud": ("20.103.0.0/16",), "azurecloud.westeurope": ("20.103.0.0/16",), "storage": ("20.60.0.0/16",)}
    decision = evaluate_nsg(nsg("n", *rules), flow, ["10.224.0.0/12"], tags if tags_known else {})
    assert all(
        doubt.access != decision.rule.access and doubt.priority < decision.rule.priority for doubt in decision.doubts
    )
    assert first_denial([decision]) is None or not decision.doubts
    if tags_known and not fqdn:
        assert decision.doubts == ()
