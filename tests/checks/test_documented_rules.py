"""Verdicts that follow Microsoft's documented rules, on the configurations the docs publish.

- api-server-authorized-ip-ranges.md: AKS adds the Standard load balancer's outbound IPs itself
  (`az aks create --api-server-authorized-ip-ranges 73.140.245.0/24 --load-balancer-outbound-ips <pip1>,<pip2>`,
  and the `0.0.0.0/32` placeholder); a NAT gateway's egress IP must be listed; 200 ranges (2,000 with
  API Server VNet Integration).
- api-server-vnet-integration.md: VNet 172.19.0.0/16, API server subnet 172.19.0.0/28 (delegated),
  cluster subnet 172.19.1.0/24; NSG rules TCP 443/4443 from the cluster subnet, TCP 9988 from
  AzureLoadBalancer.
- tunnel-connectivity-issues.md (tunnelfront TCP 9000, aks-link UDP 1194) and
  outbound-rules-control-egress.md (NTP UDP 123 not required for nodes provisioned after March 2021),
  with the network rules of limit-egress-traffic.md ('apitcp', 'apiudp', 'time').
"""

from __future__ import annotations

from dataclasses import replace

from azure.mgmt.containerservice import models as aks

from checks import alpn_tls, apiserver_load, authorized_ip_ranges, egress_rules, kubelet_port, private_cluster_reach
from checks.engine import run_check
from collect.parse import parse_cluster
from collect.raw import RawCluster
from model.finding import Status
from model.snapshot import (
    AgentPool,
    ApiServerProbe,
    AzureFirewall,
    Client,
    FirewallRule,
    NatGateway,
    NetworkInventory,
    NetworkSecurityGroup,
    Node,
    Pod,
    PublicIpAddress,
    QueryScope,
    Route,
    RouteTable,
    RuleCollection,
    SecurityRule,
    Subnet,
    VirtualNetwork,
)
from tests.builders import RG_ID, make_cluster, make_snapshot

NET = f"{RG_ID}/providers/Microsoft.Network"
NODE_RG = f"{RG_ID.rsplit('/', 1)[0]}/MC_rg-aks_myAKSCluster_westeurope/providers/Microsoft.Network"
PIP_1, PIP_2 = f"{NODE_RG}/publicIPAddresses/pip-1", f"{NODE_RG}/publicIPAddresses/pip-2"
NAT_PIP = f"{NET}/publicIPAddresses/pip-natgw"
VNET = f"{NET}/virtualNetworks/myVirtualNetwork"
API_SUBNET, NODE_SUBNET = f"{VNET}/subnets/myAPIServerSubnet", f"{VNET}/subnets/myClusterSubnet"
API_NSG, NODE_NSG = f"{NET}/networkSecurityGroups/nsg-apiserver", f"{NET}/networkSecurityGroups/nsg-cluster"


def check(module, snapshot):
    return run_check(module.CHECK, snapshot, module.CHECK.limits())


def cluster_body(ranges: list[str] | None, **network: object) -> dict:
    """The ARM body `az aks create --api-server-authorized-ip-ranges ... --load-balancer-outbound-ips ...` makes."""
    model = aks.ManagedCluster(
        location="westeurope",
        dns_prefix="myAKSCluster",
        agent_pool_profiles=[aks.ManagedClusterAgentPoolProfile(name="nodepool1", mode="System", count=3)],
        api_server_access_profile=aks.ManagedClusterAPIServerAccessProfile(authorized_ip_ranges=ranges),
        network_profile=aks.ContainerServiceNetworkProfile(network_plugin="azure", **network),  # type: ignore[arg-type]
    )
    body = model.as_dict()
    body.update(
        id=f"{RG_ID}/providers/Microsoft.ContainerService/managedClusters/myAKSCluster",
        name="myAKSCluster",
        type="Microsoft.ContainerService/managedClusters",
    )
    body["properties"]["fqdn"] = "myakscluster-abc123.hcp.westeurope.azmk8s.io"
    return body


PUBLIC_IPS = {
    PIP_1.lower(): PublicIpAddress(PIP_1, "pip-1", "20.50.1.10"),
    PIP_2.lower(): PublicIpAddress(PIP_2, "pip-2", "20.50.1.11"),
    NAT_PIP.lower(): PublicIpAddress(NAT_PIP, "pip-natgw", "20.50.2.20"),
}


def with_network(body: dict, clients=(), **inventory: object):
    snapshot = parse_cluster(RawCluster(cluster=body))
    network = NetworkInventory(public_ips=PUBLIC_IPS, **inventory)  # type: ignore[arg-type]
    return make_snapshot(snapshot.cluster, network=network, clients=tuple(clients))


LB_OUTBOUND = {
    "outbound_type": "loadBalancer",
    "load_balancer_profile": aks.ManagedClusterLoadBalancerProfile(
        effective_outbound_i_ps=[aks.ResourceReference(id=PIP_1), aks.ResourceReference(id=PIP_2)]
    ),
}
CLIENT = Client("admin-network", ("73.140.245.17",))


# --- authorized-ip-ranges -------------------------------------------------------------------------------


def test_the_load_balancers_outbound_ips_need_not_be_listed() -> None:
    finding = check(authorized_ip_ranges, with_network(cluster_body(["73.140.245.0/24"], **LB_OUTBOUND), [CLIENT]))
    assert finding.status is Status.PASS
    assert "AKS adds the load balancer's outbound IP(s) 20.50.1.10, 20.50.1.11 itself" in finding.detail
    assert finding.evidence["addedByAks"] == ["20.50.1.10", "20.50.1.11"]


def test_the_only_load_balancer_placeholder_admits_no_client() -> None:
    body = cluster_body(["0.0.0.0/32"], **LB_OUTBOUND)
    alone = check(authorized_ip_ranges, with_network(body))
    assert alone.status is Status.WARN and "no client declared" in alone.title  # the cluster itself is fine
    finding = check(authorized_ip_ranges, with_network(body, [CLIENT]))
    assert finding.status is Status.FAIL and "client admin-network 73.140.245.17" in finding.detail
    assert "0.0.0.0/32 admits only the load balancer's outbound IP" in finding.detail
    assert finding.remediation.endswith("--api-server-authorized-ip-ranges 73.140.245.17/32")


def test_a_nat_gateways_egress_ip_must_be_listed() -> None:
    body = cluster_body(
        ["73.140.245.0/24"],
        outbound_type="userAssignedNATGateway",
        nat_gateway_profile=aks.ManagedClusterNATGatewayProfile(
            effective_outbound_i_ps=[aks.ResourceReference(id=NAT_PIP)]
        ),
    )
    finding = check(authorized_ip_ranges, with_network(body, [CLIENT]))
    assert finding.status is Status.FAIL and "the cluster's egress IP 20.50.2.20" in finding.detail
    assert finding.remediation.endswith("73.140.245.0/24,20.50.2.20/32")
    listed = cluster_body(["73.140.245.0/24", "20.50.2.20/32"], outbound_type="userAssignedNATGateway")
    assert check(authorized_ip_ranges, with_network(listed, [CLIENT])).status is Status.PASS
    nat = NatGateway(f"{NET}/natGateways/natgw", "natgw", (NAT_PIP,))
    managed_nat = make_cluster(outbound_type="managedNATGateway", authorized_ranges=("73.140.245.0/24",))
    subnet = Subnet(managed_nat.node_subnet_ids[0], "snet-nodes", ("10.224.0.0/16",), nat_gateway_id=nat.id)
    vnet = VirtualNetwork(
        managed_nat.node_subnet_ids[0].rsplit("/subnets/", 1)[0], "vnet-aks", ("10.224.0.0/12",), (subnet,)
    )
    snapshot = make_snapshot(
        managed_nat,
        clients=(CLIENT,),
        network=NetworkInventory(
            public_ips=PUBLIC_IPS, nat_gateways={nat.id.lower(): nat}, virtual_networks={vnet.id.lower(): vnet}
        ),
    )
    assert "egress IP 20.50.2.20" in check(authorized_ip_ranges, snapshot).detail


def test_warns_near_the_documented_limit_naming_the_count() -> None:
    many = [f"73.140.{index}.0/24" for index in range(65, 246)]  # 181 ranges, the admin network's last
    finding = check(authorized_ip_ranges, with_network(cluster_body(many, **LB_OUTBOUND), [CLIENT]))
    assert finding.status is Status.WARN
    assert finding.title == "181 authorized IP ranges: near the limit of 200"
    assert "enable API Server VNet Integration (up to 2,000 ranges)" in finding.remediation
    below = check(authorized_ip_ranges, with_network(cluster_body(many[-179:], **LB_OUTBOUND), [CLIENT]))
    assert below.status is Status.PASS
    integrated = with_network(cluster_body(many, **LB_OUTBOUND), [CLIENT])
    integrated = make_snapshot(
        make_cluster(authorized_ranges=tuple(many), vnet_integration=True),
        network=integrated.network,
        clients=(CLIENT,),
    )
    assert check(authorized_ip_ranges, integrated).status is Status.PASS  # 181 of 2,000


# --- API Server VNet Integration (egress-rules) ---------------------------------------------------------


def rule(name: str, priority: int, access: str, source: str, ports: str = "*") -> SecurityRule:
    return SecurityRule(name, priority, "Inbound", access, "*", (source,), ("*",), ("*",), (ports,))


def vnet_integration(api_rules=(), node_rules=()) -> tuple:
    cluster = make_cluster(
        vnet_integration=True,
        apiserver_subnet_id=API_SUBNET,
        agent_pools=(AgentPool("nodepool1", "System", NODE_SUBNET, 3),),
    )
    subnets = (
        Subnet(API_SUBNET, "myAPIServerSubnet", ("172.19.0.0/28",), nsg_id=API_NSG),
        Subnet(NODE_SUBNET, "myClusterSubnet", ("172.19.1.0/24",), nsg_id=NODE_NSG),
    )
    network = NetworkInventory(
        security_groups={
            API_NSG.lower(): NetworkSecurityGroup(API_NSG, "nsg-apiserver", tuple(api_rules)),
            NODE_NSG.lower(): NetworkSecurityGroup(NODE_NSG, "nsg-cluster", tuple(node_rules)),
        },
        virtual_networks={VNET.lower(): VirtualNetwork(VNET, "myVirtualNetwork", ("172.19.0.0/16",), subnets)},
    )
    return cluster, network


def test_vnet_integration_passes_with_default_rules_and_says_tunnels_are_not_required() -> None:
    cluster, network = vnet_integration()
    tunnelfront = Pod("kube-system", "tunnelfront-6d8f9-abcde", ready=True)
    finding = check(egress_rules, make_snapshot(cluster, network=network, pods=(tunnelfront,)))
    assert finding.status is Status.PASS, finding.detail
    assert "no tunnel is required, so tunnel rules (TCP 9000, UDP 1194) are skipped" in finding.detail
    assert "tunnelfront (legacy)" not in finding.evidence["requirements"]
    assert finding.evidence["apiServerSubnet"] == {"name": "myAPIServerSubnet", "prefix": "172.19.0.0/28"}


def test_a_deny_all_before_the_load_balancer_default_rule_fails_naming_rule_and_fix() -> None:
    cluster, network = vnet_integration(
        api_rules=[rule("allow-vnet", 200, "Allow", "VirtualNetwork"), rule("deny-all", 4096, "Deny", "*")]
    )
    finding = check(egress_rules, make_snapshot(cluster, network=network))
    assert finding.status is Status.FAIL
    assert finding.title == "1 required flow(s) blocked"
    assert (
        "TCP 9988 from AzureLoadBalancer to API server subnet myAPIServerSubnet (172.19.0.0/28) inbound: "
        "denied by NSG nsg-apiserver rule deny-all (priority 4096, Deny)" in finding.detail
    )
    assert finding.remediation == (
        "az network nsg rule create -g rg-aks --nsg-name nsg-apiserver -n allow-azure-lb-9988 --priority 4095 "
        "--direction Inbound --access Allow --protocol Tcp --source-address-prefixes AzureLoadBalancer "
        "--destination-address-prefixes 172.19.0.0/28 --destination-port-ranges 9988"
    )


def test_node_to_apiserver_ports_denied_fail_for_each_port() -> None:
    cluster, network = vnet_integration(api_rules=[rule("deny-4443", 300, "Deny", "172.19.1.0/24", "4443")])
    finding = check(egress_rules, make_snapshot(cluster, network=network))
    assert finding.status is Status.FAIL and "TCP 4443 from myClusterSubnet (172.19.1.0/24)" in finding.detail
    assert "TCP 443 from" not in finding.detail and "9988" not in finding.detail
    assert "-n allow-aks-apiserver-4443 --priority 299 --direction Inbound" in finding.remediation
    unknown = make_snapshot(
        cluster,
        network=NetworkInventory(virtual_networks={VNET.lower(): VirtualNetwork(VNET, "v", ("172.19.0.0/16",))}),
    )
    assert "API server subnet myAPIServerSubnet is not in the snapshot" in check(egress_rules, unknown).detail


# --- legacy tunnels and NTP (egress-rules) ---------------------------------------------------------------


def tutorial_firewall(*names: str, dns_proxy: bool = True) -> AzureFirewall:
    """limit-egress-traffic.md's classic rules: 'aksfwnr' network rules and the 'aksfwar' FQDN tag rule, on the
    firewall it creates with `--enable-dns-proxy true` (its 'time' rule names ntp.ubuntu.com by FQDN)."""
    network_rules = {
        "apitcp": FirewallRule(
            "apitcp",
            "network",
            ("TCP",),
            ("*",),
            destination_addresses=("AzureCloud.westeurope",),
            destination_ports=("9000",),
        ),
        "apiudp": FirewallRule(
            "apiudp",
            "network",
            ("UDP",),
            ("*",),
            destination_addresses=("AzureCloud.westeurope",),
            destination_ports=("1194",),
        ),
        "time": FirewallRule(
            "time", "network", ("UDP",), ("*",), destination_fqdns=("ntp.ubuntu.com",), destination_ports=("123",)
        ),
    }
    fqdn = FirewallRule("fqdn", "application", ("Http:80", "Https:443"), ("*",), fqdn_tags=("AzureKubernetesService",))
    return AzureFirewall(
        f"{NET}/azureFirewalls/myFirewall",
        "myFirewall",
        "10.42.2.4",
        rule_collections=(
            RuleCollection("aksfwnr", 100, "Allow", "network", tuple(network_rules[name] for name in names)),
            RuleCollection("aksfwar", 100, "Allow", "application", (fqdn,)),
        ),
        dns_proxy=dns_proxy,
    )


TUTORIAL_VNET = f"{NET}/virtualNetworks/aks-vnet"
AKS_SUBNET, FW_SUBNET = f"{TUTORIAL_VNET}/subnets/aks-subnet", f"{TUTORIAL_VNET}/subnets/AzureFirewallSubnet"


def udr_snapshot(firewall: AzureFirewall, pods=(), nodes=None):
    """The tutorial's VNet 10.42.0.0/16: AKS subnet 10.42.1.0/24, AzureFirewallSubnet 10.42.2.0/24 holding the
    firewall's private IP, and the route table sending 0.0.0.0/0 to it."""
    cluster = make_cluster(
        outbound_type="userDefinedRouting", agent_pools=(AgentPool("nodepool1", "System", AKS_SUBNET, 3),)
    )
    table = RouteTable(
        f"{NET}/routeTables/rt", "rt", (Route("fw-route", "0.0.0.0/0", "VirtualAppliance", "10.42.2.4"),)
    )
    subnets = (
        Subnet(AKS_SUBNET, "aks-subnet", ("10.42.1.0/24",), route_table_id=table.id),
        Subnet(FW_SUBNET, "AzureFirewallSubnet", ("10.42.2.0/24",)),
    )
    network = NetworkInventory(
        virtual_networks={TUTORIAL_VNET.lower(): VirtualNetwork(TUTORIAL_VNET, "aks-vnet", ("10.42.0.0/16",), subnets)},
        route_tables={table.id.lower(): table},
        firewalls={firewall.id.lower(): replace(firewall, subnet_id=FW_SUBNET)},
    )
    return make_snapshot(cluster, network=network, pods=tuple(pods), nodes=nodes)


def test_each_legacy_tunnel_needs_its_own_port_only() -> None:
    aks_link = Pod("kube-system", "aks-link-7c9d5-xyz12", ready=True)
    tunnelfront = Pod("kube-system", "tunnelfront-6d8f9-abcde", ready=True)
    konnectivity = Pod("kube-system", "konnectivity-agent-5f4b6-qrstu", ready=True)
    assert check(egress_rules, udr_snapshot(tutorial_firewall(), [konnectivity])).status is Status.PASS
    only_udp = check(egress_rules, udr_snapshot(tutorial_firewall("apiudp"), [aks_link]))
    assert (
        only_udp.status is Status.PASS
        and "aks-link runs: UDP 1194 to AzureCloud.westeurope required" in only_udp.detail
    )
    missing = check(egress_rules, udr_snapshot(tutorial_firewall("apiudp"), [tunnelfront]))
    assert missing.status is Status.FAIL and "tunnelfront (legacy) (AzureCloud.westeurope TCP 9000)" in missing.detail
    assert "1194" not in missing.detail.split(" (tunnelfront runs")[0]
    assert (
        "--destination-addresses AzureCloud.westeurope --destination-ports 9000 --protocols TCP" in missing.remediation
    )


def test_ntp_only_for_nodes_provisioned_before_april_2021() -> None:
    old = (
        Node("aks-nodepool1-0", created="2021-02-10T08:00:00Z"),
        Node("aks-nodepool1-1", created="2024-05-01T08:00:00Z"),
    )
    new = (Node("aks-nodepool1-1", created="2024-05-01T08:00:00Z"),)
    assert check(egress_rules, udr_snapshot(tutorial_firewall(), nodes=new)).status is Status.PASS
    blocked = check(egress_rules, udr_snapshot(tutorial_firewall(), nodes=old))
    assert (
        blocked.status is Status.FAIL
        and "NTP (nodes provisioned before April 2021) (ntp.ubuntu.com UDP 123)" in blocked.detail
    )
    assert "aks-nodepool1-0 provisioned before April 2021" in blocked.detail
    assert "--destination-fqdns ntp.ubuntu.com --destination-ports 123 --protocols UDP" in blocked.remediation
    assert check(egress_rules, udr_snapshot(tutorial_firewall("time"), nodes=old)).status is Status.PASS
    without_proxy = check(egress_rules, udr_snapshot(tutorial_firewall("time", dns_proxy=False), nodes=old))
    assert without_proxy.status is Status.FAIL  # FQDNs in network rules work only with DNS proxy
    assert (
        "network rule time names it by FQDN, which works only with DNS proxy enabled, and DNS proxy is off"
        in without_proxy.detail
    )


# --- a source is needed only by the branch that reads it -------------------------------------------------


def test_private_cluster_without_clients_warns_from_the_cluster_alone() -> None:
    private = make_cluster(is_private=True, fqdn=None, private_fqdn="aks.privatelink.westeurope.azmk8s.io")
    finding = check(private_cluster_reach, make_snapshot(private))
    assert finding.status is Status.WARN and finding.title == "Private cluster with no declared client"
    jumpbox = Client("jumpbox", ("10.10.1.4",), f"{NET}/virtualNetworks/vnet-hub")
    needs_network = check(private_cluster_reach, make_snapshot(private, clients=(jumpbox,)))
    assert needs_network.status is Status.SKIPPED and needs_network.title.endswith("network not collected")
    assert check(private_cluster_reach, make_snapshot()).status is Status.SKIPPED  # not private: no input needed


# --- apiserver-load without rows ---------------------------------------------------------------------------


def test_no_audit_rows_is_skipped_naming_the_workspace_and_window() -> None:
    workspace = "/subscriptions/s/resourceGroups/rg-monitoring/providers/Microsoft.OperationalInsights/workspaces/law"
    scope = QueryScope(workspace, 60, "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z")
    finding = check(apiserver_load, make_snapshot(apiserver_requests=(), apiserver_requests_scope=scope))
    assert finding.status is Status.SKIPPED
    assert f"Log Analytics scope {workspace}, 2026-01-01T10:00:00Z to 2026-01-01T11:00:00Z" in finding.detail
    assert finding.evidence["scope"] == workspace
    unrecorded = check(apiserver_load, make_snapshot(apiserver_requests=()))
    assert (
        unrecorded.status is Status.SKIPPED
        and "an unrecorded Log Analytics scope, last 60 minutes" in unrecorded.detail
    )


# --- evidence only from sources that held data -------------------------------------------------------------


def test_kubelet_port_names_only_sources_that_held_data() -> None:
    empty_logs = make_snapshot(pod_logs={}, events=())
    assert check(kubelet_port, empty_logs).status is Status.SKIPPED
    judged = check(kubelet_port, replace(udr_snapshot(tutorial_firewall()), pod_logs={}))
    assert (
        judged.status is Status.PASS
        and judged.detail == "Judged from: NSGs."
        and judged.evidence["judgedFrom"] == ["NSGs"]
    )


def test_alpn_tls_does_not_count_a_refused_probe() -> None:
    refused = ApiServerProbe("myakscluster-abc123.hcp.westeurope.azmk8s.io", ("20.1.2.3",), error="refused")
    finding = check(alpn_tls, make_snapshot(apiserver_probe=refused, pod_logs={}))
    assert finding.status is Status.SKIPPED and "(the probe failed: refused)" in finding.detail
    completed = ApiServerProbe("myakscluster-abc123.hcp.westeurope.azmk8s.io", ("20.1.2.3",), 12.0, 30.0, "h2")
    passed = check(alpn_tls, make_snapshot(apiserver_probe=completed, pod_logs={}))
    assert passed.status is Status.PASS and passed.detail == "Judged from: probe."
