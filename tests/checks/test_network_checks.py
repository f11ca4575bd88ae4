"""Every verdict branch of egress-rules, alpn-tls, authorized-ip-ranges, kubelet-port and private-cluster-reach."""

from __future__ import annotations

from dataclasses import replace

from checks import alpn_tls, authorized_ip_ranges, egress_rules, kubelet_port, private_cluster_reach
from checks.engine import run_check
from model.finding import Status
from model.snapshot import (
    ApiServerProbe,
    AzureFirewall,
    Client,
    Event,
    FirewallPolicy,
    FirewallRule,
    KubeletProbe,
    NetworkInventory,
    NetworkSecurityGroup,
    Peering,
    Pod,
    PrivateDnsZone,
    PublicIpAddress,
    Route,
    RouteTable,
    RuleCollection,
    RuleCollectionGroup,
    SecurityRule,
    Subnet,
    VirtualNetwork,
)
from tests.builders import NODE_SUBNET_ID, RG_ID, VNET_ID, make_cluster, make_snapshot

NSG_ID = f"{RG_ID}/providers/Microsoft.Network/networkSecurityGroups/nsg-nodes"
RT_ID = f"{RG_ID}/providers/Microsoft.Network/routeTables/rt-nodes"
HUB = "/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network"
POLICY_ID = f"{HUB}/firewallPolicies/fwp"
PIP_FW, PIP_LB = f"{HUB}/publicIPAddresses/pip-fw", f"{RG_ID}/providers/Microsoft.Network/publicIPAddresses/pip-lb"
CLIENT_VNET = f"{HUB}/virtualNetworks/vnet-hub"
FIREWALL_SUBNET = f"{CLIENT_VNET}/subnets/AzureFirewallSubnet"
ZONE_ID = f"{HUB}/privateDnsZones/privatelink.westeurope.azmk8s.io"
HTTPS = ("Https:443",)


def deny(name: str, priority: int, direction: str, port: str) -> SecurityRule:
    return SecurityRule(name, priority, direction, "Deny", "Tcp", ("*",), ("*",), ("*",), (port,))


def network(
    rules=(),
    next_hop: str | None = None,
    firewall: AzureFirewall | None = None,
    groups=(),
    peerings=(),
    zone_links=None,
    extra_vnets=(),
) -> NetworkInventory:
    subnet = Subnet(
        NODE_SUBNET_ID, "snet-nodes", ("10.224.0.0/16",), nsg_id=NSG_ID, route_table_id=RT_ID if next_hop else None
    )
    if firewall is not None:  # the firewall sits in the hub VNet the spoke is peered with
        firewall = replace(firewall, subnet_id=FIREWALL_SUBNET)
        hub_subnet = Subnet(FIREWALL_SUBNET, "AzureFirewallSubnet", ("10.0.0.0/22",))
        extra_vnets = (*extra_vnets, VirtualNetwork(CLIENT_VNET, "vnet-hub", ("10.0.0.0/16",), (hub_subnet,)))
        peerings = (*peerings, Peering("to-hub", CLIENT_VNET, "Connected", ("10.0.0.0/16",)))
    vnets = [VirtualNetwork(VNET_ID, "vnet-aks", ("10.224.0.0/12",), (subnet,), tuple(peerings)), *extra_vnets]
    tables = (
        {RT_ID.lower(): RouteTable(RT_ID, "rt-nodes", (Route("default", "0.0.0.0/0", "VirtualAppliance", next_hop),))}
        if next_hop
        else {}
    )
    return NetworkInventory(
        security_groups={NSG_ID.lower(): NetworkSecurityGroup(NSG_ID, "nsg-nodes", tuple(rules))},
        virtual_networks={v.id.lower(): v for v in vnets},
        route_tables=tables,
        firewalls={firewall.id.lower(): firewall} if firewall else {},
        firewall_policies={
            POLICY_ID.lower(): FirewallPolicy(
                POLICY_ID, "fwp", rule_collection_group_ids=(f"{POLICY_ID}/ruleCollectionGroups/rcg",)
            )
        },
        rule_collection_groups={g.id.lower(): g for g in groups},
        public_ips={
            PIP_FW.lower(): PublicIpAddress(PIP_FW, "pip-fw", "198.51.100.40"),
            PIP_LB.lower(): PublicIpAddress(PIP_LB, "pip-lb", "198.51.100.10"),
        },
        private_dns_zones={
            ZONE_ID.lower(): PrivateDnsZone(ZONE_ID, "privatelink.westeurope.azmk8s.io", tuple(zone_links))
        }
        if zone_links is not None
        else {},
    )


def classic_firewall(*rules: FirewallRule) -> AzureFirewall:
    return AzureFirewall(
        f"{HUB}/azureFirewalls/fw-hub",
        "fw-hub",
        "10.0.1.4",
        (PIP_FW,),
        rule_collections=(RuleCollection("aks", 200, "Allow", "application", rules),),
    )


def policy_firewall() -> AzureFirewall:
    return AzureFirewall(f"{HUB}/azureFirewalls/fw-premium", "fw-premium", "10.0.2.4", (PIP_FW,), policy_id=POLICY_ID)


def policy_group(*rules: FirewallRule, name: str = "inspect") -> RuleCollectionGroup:
    return RuleCollectionGroup(
        f"{POLICY_ID}/ruleCollectionGroups/rcg",
        "rcg",
        POLICY_ID,
        100,
        (RuleCollection(name, 100, "Allow", "application", rules, "rcg", 100, POLICY_ID),),
    )


TAG_RULE = FirewallRule("aks-tag", "application", HTTPS, ("10.224.0.0/16",), fqdn_tags=("AzureKubernetesService",))
UDR = make_cluster(outbound_type="userDefinedRouting")


def check(module, snapshot):
    return run_check(module.CHECK, snapshot, module.CHECK.limits())


# --- egress-rules ---------------------------------------------------------------------------


def test_egress_pass_with_default_rules_and_skipped_cases() -> None:
    assert check(egress_rules, make_snapshot(network=network())).status is Status.PASS
    assert (
        check(egress_rules, make_snapshot(make_cluster(outbound_type="none"), network=network())).status
        is Status.SKIPPED
    )
    assert check(egress_rules, make_snapshot(make_cluster(agent_pools=()), network=network())).status is Status.SKIPPED


def test_egress_nsg_deny_names_the_rule_and_the_fix() -> None:
    finding = check(
        egress_rules, make_snapshot(network=network(rules=[deny("deny-https-out", 300, "Outbound", "443")]))
    )
    assert finding.status is Status.FAIL
    assert "NSG nsg-nodes rule deny-https-out (priority 300, Deny)" in finding.detail
    assert (
        "az network nsg rule create -g rg-aks --nsg-name nsg-nodes -n allow-aks-tcp-443 --priority 299"
        in finding.remediation
    )


def test_egress_udr_without_appliance_route_fails() -> None:
    finding = check(egress_rules, make_snapshot(UDR, network=network()))
    assert finding.status is Status.FAIL and "has no 0.0.0.0/0 route" in finding.detail


def test_egress_unknown_appliance_warns() -> None:
    finding = check(egress_rules, make_snapshot(UDR, network=network(next_hop="10.0.9.9")))
    assert finding.status is Status.WARN and "az aks check-network outbound" in finding.remediation


def test_egress_firewall_missing_rules_lists_each_endpoint() -> None:
    only_mcr = FirewallRule("mcr", "application", HTTPS, ("10.224.0.0/16",), target_fqdns=("mcr.microsoft.com",))
    finding = check(
        egress_rules, make_snapshot(UDR, network=network(next_hop="10.0.1.4", firewall=classic_firewall(only_mcr)))
    )
    assert finding.status is Status.FAIL
    assert "management.azure.com" in finding.detail and "(mcr.microsoft.com TCP" not in finding.detail
    assert "--fqdn-tags AzureKubernetesService" in finding.remediation and "-f fw-hub" in finding.remediation


def test_egress_firewall_with_fqdn_tag_passes_and_legacy_tunnel_needs_network_rules() -> None:
    fw = classic_firewall(TAG_RULE)
    assert (
        check(egress_rules, make_snapshot(UDR, network=network(next_hop="10.0.1.4", firewall=fw))).status is Status.PASS
    )
    legacy = (Pod("kube-system", "tunnelfront-6c8d-x", ready=True),)
    finding = check(egress_rules, make_snapshot(UDR, network=network(next_hop="10.0.1.4", firewall=fw), pods=legacy))
    assert finding.status is Status.FAIL and "tunnelfront (legacy) (AzureCloud.westeurope TCP 9000)" in finding.detail
    assert "az network firewall network-rule create" in finding.remediation


def test_egress_policy_without_groups_warns_and_with_groups_is_judged() -> None:
    fw = policy_firewall()
    assert (
        check(egress_rules, make_snapshot(UDR, network=network(next_hop="10.0.2.4", firewall=fw))).status is Status.WARN
    )
    judged = check(
        egress_rules,
        make_snapshot(UDR, network=network(next_hop="10.0.2.4", firewall=fw, groups=[policy_group(TAG_RULE)])),
    )
    assert judged.status is Status.PASS


def test_private_cluster_does_not_need_the_public_api_fqdn() -> None:
    private = make_cluster(
        is_private=True,
        fqdn=None,
        private_fqdn="aks.abc.privatelink.westeurope.azmk8s.io",
        outbound_type="userDefinedRouting",
    )
    need_all_but_hcp = FirewallRule(
        "explicit",
        "application",
        HTTPS,
        ("10.224.0.0/16",),
        target_fqdns=(
            "mcr.microsoft.com",
            "*.data.mcr.microsoft.com",
            "mcr-0001.mcr-msedge.net",
            "management.azure.com",
            "login.microsoftonline.com",
            "packages.microsoft.com",
            "acs-mirror.azureedge.net",
            "packages.aks.azure.com",
        ),
    )
    assert (
        check(
            egress_rules,
            make_snapshot(private, network=network(next_hop="10.0.1.4", firewall=classic_firewall(need_all_but_hcp))),
        ).status
        is Status.PASS
    )
    assert (
        check(
            egress_rules,
            make_snapshot(UDR, network=network(next_hop="10.0.1.4", firewall=classic_firewall(need_all_but_hcp))),
        ).status
        is Status.FAIL
    )


# --- alpn-tls ----------------------------------------------------------------------------------


def test_alpn_tls_inspection_fails_naming_the_rule() -> None:
    inspect = FirewallRule(
        "inspect-web", "application", HTTPS, ("10.224.0.0/16",), target_fqdns=("*.azmk8s.io",), terminate_tls=True
    )
    snapshot = make_snapshot(
        UDR, network=network(next_hop="10.0.2.4", firewall=policy_firewall(), groups=[policy_group(inspect)])
    )
    finding = check(alpn_tls, snapshot)
    assert finding.status is Status.FAIL and "inspect-web" in finding.detail
    assert (
        "--rcg-name rcg --collection-name inspect -n inspect-web --enable-tls-inspection false" in finding.remediation
    )


def test_alpn_other_branches() -> None:
    assert check(alpn_tls, make_snapshot()).status is Status.SKIPPED
    assert check(alpn_tls, make_snapshot(network=network())).status is Status.PASS
    logs = {"kube-system/konnectivity-agent-1": 'E1125 "cannot connect once" err="tls: no application protocol"\n'}
    assert check(alpn_tls, make_snapshot(pod_logs=logs)).status is Status.FAIL
    assert (  # logs of pods that are not tunnel pods hold nothing about the tunnel
        check(alpn_tls, make_snapshot(pod_logs={"kube-system/coredns-1": "no application protocol"})).status
        is Status.SKIPPED
    )
    no_alpn = ApiServerProbe("aks.hcp.westeurope.azmk8s.io", tcp_ms=10.0, tls_ms=20.0, alpn=None)
    assert check(alpn_tls, make_snapshot(apiserver_probe=no_alpn)).status is Status.FAIL
    assert check(alpn_tls, make_snapshot(UDR, network=network(next_hop="10.0.9.9"))).status is Status.WARN


# --- authorized-ip-ranges ----------------------------------------------------------------------------


def test_authorized_ranges_branches() -> None:
    ci = Client("ci", ("203.0.113.0/28",))
    ranged = make_cluster(authorized_ranges=("203.0.113.0/24",))
    assert check(authorized_ip_ranges, make_snapshot(make_cluster(is_private=True))).status is Status.SKIPPED
    assert check(authorized_ip_ranges, make_snapshot(clients=(ci,))).status is Status.PASS
    assert check(authorized_ip_ranges, make_snapshot(ranged, clients=(ci,))).status is Status.PASS
    assert check(authorized_ip_ranges, make_snapshot(ranged)).status is Status.WARN
    outside = check(authorized_ip_ranges, make_snapshot(ranged, clients=(ci, Client("vpn", ("192.0.2.0/25",)))))
    assert outside.status is Status.FAIL and "client vpn 192.0.2.0/25" in outside.detail
    assert outside.remediation.endswith("--api-server-authorized-ip-ranges 203.0.113.0/24,192.0.2.0/25")


def test_authorized_ranges_must_admit_the_clusters_own_egress_ip() -> None:
    lb = make_cluster(authorized_ranges=("203.0.113.0/24",), outbound_ip_ids=(PIP_LB,))
    finding = check(
        authorized_ip_ranges, make_snapshot(lb, network=network(), clients=(Client("ci", ("203.0.113.5",)),))
    )
    assert finding.status is Status.FAIL and "egress IP 198.51.100.10" in finding.detail
    udr = make_cluster(authorized_ranges=("203.0.113.0/24", "198.51.100.10/32"), outbound_type="userDefinedRouting")
    via_firewall = make_snapshot(
        udr,
        network=network(next_hop="10.0.1.4", firewall=classic_firewall(TAG_RULE)),
        clients=(Client("ci", ("203.0.113.5",)),),
    )
    finding = check(authorized_ip_ranges, via_firewall)
    assert finding.status is Status.FAIL and "egress IP 198.51.100.40" in finding.detail


# --- kubelet-port ------------------------------------------------------------------------------------


def test_kubelet_port_branches() -> None:
    assert check(kubelet_port, make_snapshot()).status is Status.SKIPPED
    assert check(kubelet_port, make_snapshot(network=network())).status is Status.PASS
    denied = check(kubelet_port, make_snapshot(network=network(rules=[deny("deny-kubelet", 200, "Inbound", "10250")])))
    assert denied.status is Status.FAIL and "rule deny-kubelet (priority 200, Deny)" in denied.detail
    assert "--direction Inbound --access Allow --protocol Tcp" in denied.remediation
    probe = check(
        kubelet_port,
        make_snapshot(kubelet_probes=(KubeletProbe("aks-system-0", False, "dial tcp 10.224.0.5:10250: i/o timeout"),)),
    )
    assert probe.status is Status.FAIL and "aks-system-0" in probe.detail
    event = Event("kube-system", "Pod/metrics-server-1", "Unhealthy", "dial tcp 10.224.0.5:10250: i/o timeout")
    assert check(kubelet_port, make_snapshot(events=(event,))).status is Status.FAIL
    assert (
        check(kubelet_port, make_snapshot(events=(), kubelet_probes=(KubeletProbe("n", True),))).status is Status.PASS
    )


# --- private-cluster-reach ----------------------------------------------------------------------------

PRIVATE = make_cluster(
    is_private=True, fqdn=None, private_fqdn="aks.abc.privatelink.westeurope.azmk8s.io", private_dns_zone=ZONE_ID
)
HUB_VNET = VirtualNetwork(CLIENT_VNET, "vnet-hub", ("10.0.0.0/16",))
JUMPBOX = Client("jumpbox", ("10.0.1.4",), CLIENT_VNET)


def test_private_reach_branches() -> None:
    connected = [Peering("to-hub", CLIENT_VNET, "Connected")]
    assert check(private_cluster_reach, make_snapshot(network=network())).status is Status.SKIPPED
    assert check(private_cluster_reach, make_snapshot(PRIVATE, network=network())).status is Status.WARN
    ok = make_snapshot(
        PRIVATE,
        clients=(JUMPBOX,),
        network=network(peerings=connected, zone_links=[VNET_ID, CLIENT_VNET], extra_vnets=[HUB_VNET]),
    )
    assert check(private_cluster_reach, ok).status is Status.PASS
    public_client = check(
        private_cluster_reach, make_snapshot(PRIVATE, clients=(Client("ci", ("203.0.113.4",)),), network=network())
    )
    assert public_client.status is Status.FAIL and "is on no Azure VNet" in public_client.detail
    unpeered = check(
        private_cluster_reach, make_snapshot(PRIVATE, clients=(JUMPBOX,), network=network(zone_links=[VNET_ID]))
    )
    assert (
        unpeered.status is Status.FAIL
        and "az network vnet peering create -g rg-aks --vnet-name vnet-aks" in unpeered.remediation
    )
    disconnected = network(peerings=[Peering("to-hub", CLIENT_VNET, "Disconnected")], zone_links=[VNET_ID, CLIENT_VNET])
    assert (
        check(private_cluster_reach, make_snapshot(PRIVATE, clients=(JUMPBOX,), network=disconnected)).status
        is Status.FAIL
    )
    unlinked = check(
        private_cluster_reach,
        make_snapshot(PRIVATE, clients=(JUMPBOX,), network=network(peerings=connected, zone_links=[VNET_ID])),
    )
    assert (
        unlinked.status is Status.FAIL
        and "az network private-dns link vnet create -g hub -z privatelink.westeurope.azmk8s.io" in unlinked.remediation
    )
    public_fqdn = make_snapshot(
        make_cluster(is_private=True, private_public_fqdn_enabled=True, private_dns_zone=ZONE_ID),
        clients=(JUMPBOX,),
        network=network(peerings=connected, zone_links=[VNET_ID]),
    )
    assert check(private_cluster_reach, public_fqdn).status is Status.PASS
