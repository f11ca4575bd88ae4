"""Writes examples/estate/: twelve clusters that together show every check failing and passing.

    python -m tools.make_example_estate [DIR]

Every body is built from the SDKs' own models (azure-mgmt-containerservice, azure-mgmt-network,
azure-mgmt-privatedns `as_dict()` wire format; the kubernetes client's models through
`sanitize_for_serialization`), and some clusters are rewritten into the `az ... -o json`
spelling (flattened, camelCase) so both are exercised. Deterministic: re-running gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from functools import partial
from pathlib import Path
from typing import Any

from azure.mgmt.containerservice import models as aks
from azure.mgmt.network import models as net
from azure.mgmt.privatedns import models as dns
from kubernetes import client as k8s

from collect.raw import RawCluster
from collect.snapshot_folder import write_cluster

SUB = "3f2c9a8e-5b1d-4c7a-9e6f-2a1b0c9d8e7f"
HUB_RG = "rg-connectivity-hub"
HUB_VNET = f"/subscriptions/{SUB}/resourceGroups/{HUB_RG}/providers/Microsoft.Network/virtualNetworks/vnet-hub-weu"
CI_RUNNERS = "203.0.113.0/28"
DEFAULT_TARGET = Path(__file__).resolve().parent.parent / "examples" / "estate"
API = k8s.ApiClient()


def rid(group: str, kind: str, name: str, subscription: str = SUB) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/{kind}/{name}"


def arm(model: Any, resource_id: str, resource_type: str, location: str | None = "westeurope") -> dict[str, Any]:
    body = model.as_dict()
    body.update(id=resource_id, name=resource_id.rsplit("/", 1)[-1], type=resource_type)
    if location:
        body["location"] = location
    return body


# --- az spelling ----------------------------------------------------------------------------

_AZ_NAMES = {
    "vnetSubnetID": "vnetSubnetId",
    "privateFQDN": "privateFqdn",
    "azurePortalFQDN": "azurePortalFqdn",
    "authorizedIPRanges": "authorizedIpRanges",
    "privateDNSZone": "privateDnsZone",
    "enablePrivateClusterPublicFQDN": "enablePrivateClusterPublicFqdn",
    "privateIPAddress": "privateIpAddress",
    "publicIPAddress": "publicIpAddress",
    "nextHopIpAddress": "nextHopIpAddress",
}


def az_shape(body: Any) -> Any:
    """What `az ... show -o json` prints: "properties" flattened into the object, camelCase acronyms."""
    if isinstance(body, list):
        return [az_shape(item) for item in body]
    if not isinstance(body, dict):
        return body
    flat = {key: value for key, value in body.items() if key != "properties"}
    flat.update(body.get("properties") or {})
    if "id" in flat and "/resourceGroups/" in str(flat["id"]):
        flat.setdefault("resourceGroup", str(flat["id"]).split("/")[4])
    return {_AZ_NAMES.get(key, key): az_shape(value) for key, value in flat.items()}


# --- ARM resources ----------------------------------------------------------------------------


def managed_cluster(
    name: str,
    group: str,
    location: str,
    subnet: str | None,
    owner: str,
    *,
    outbound: str = "loadBalancer",
    private: bool = False,
    ranges: list[str] | None = None,
    outbound_ips: list[str] | None = None,
    version: str = "1.30.5",
    private_dns_zone: str | None = None,
    subscription: str = SUB,
) -> dict[str, Any]:
    pools = [
        aks.ManagedClusterAgentPoolProfile(
            name="system",
            mode="System",
            count=3,
            vm_size="Standard_D4ds_v5",
            vnet_subnet_id=subnet,
            os_type="Linux",
            type="VirtualMachineScaleSets",
        ),
        aks.ManagedClusterAgentPoolProfile(
            name="user",
            mode="User",
            count=2,
            vm_size="Standard_D8ds_v5",
            vnet_subnet_id=subnet,
            os_type="Linux",
            type="VirtualMachineScaleSets",
        ),
    ]
    model = aks.ManagedCluster(
        location=location,
        tags={"owner": owner, "environment": "production"},
        sku=aks.ManagedClusterSKU(name="Base", tier="Standard"),
        kubernetes_version=version,
        dns_prefix=name,
        agent_pool_profiles=pools,
        node_resource_group=f"MC_{group}_{name}_{location}",
        api_server_access_profile=aks.ManagedClusterAPIServerAccessProfile(
            authorized_ip_ranges=ranges,
            enable_private_cluster=private,
            private_dns_zone=private_dns_zone if private else None,
        ),
        network_profile=aks.ContainerServiceNetworkProfile(
            network_plugin="azure",
            network_plugin_mode="overlay",
            outbound_type=outbound,
            load_balancer_profile=aks.ManagedClusterLoadBalancerProfile(
                effective_outbound_i_ps=[aks.ResourceReference(id=ip) for ip in outbound_ips]
            )
            if outbound_ips
            else None,
        ),
        aad_profile=aks.ManagedClusterAADProfile(managed=True, enable_azure_rbac=True),
        disable_local_accounts=True,
    )
    body = arm(
        model,
        rid(group, "Microsoft.ContainerService/managedClusters", name, subscription),
        "Microsoft.ContainerService/managedClusters",
        location,
    )
    suffix = f"{abs(hash_text(name)) % 16**8:08x}"
    props = body["properties"]
    props["provisioningState"] = "Succeeded"
    props["currentKubernetesVersion"] = version
    if private:
        props["privateFQDN"] = f"{name}-{suffix}.{suffix[:4]}.privatelink.{location}.azmk8s.io"
    else:
        props["fqdn"] = f"{name}-{suffix}.hcp.{location}.azmk8s.io"
    props["azurePortalFQDN"] = f"{name}-{suffix}.portal.hcp.{location}.azmk8s.io"
    return body


def hash_text(text: str) -> int:
    """A stable hash (Python's is salted per process)."""
    value = 0
    for char in text:
        value = (value * 131 + ord(char)) % 2**40
    return value


def security_rule(
    name: str, priority: int, direction: str, access: str, protocol: str, source: str, destination: str, ports: str
) -> net.SecurityRule:
    return net.SecurityRule(
        name=name,
        priority=priority,
        direction=direction,
        access=access,
        protocol=protocol,
        source_address_prefix=source,
        source_port_range="*",
        destination_address_prefix=destination,
        destination_port_range=ports,
    )


DEFAULT_RULES = [
    security_rule("AllowVnetInBound", 65000, "Inbound", "Allow", "*", "VirtualNetwork", "VirtualNetwork", "*"),
    security_rule("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "*", "AzureLoadBalancer", "*", "*"),
    security_rule("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*", "*", "*"),
    security_rule("AllowVnetOutBound", 65000, "Outbound", "Allow", "*", "VirtualNetwork", "VirtualNetwork", "*"),
    security_rule("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "*", "Internet", "*"),
    security_rule("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*", "*", "*"),
]


def nsg(
    group: str,
    name: str,
    subnet_id: str,
    rules: list[net.SecurityRule],
    location: str = "westeurope",
    subscription: str = SUB,
) -> dict[str, Any]:
    model = net.NetworkSecurityGroup(
        location=location,
        security_rules=rules,
        default_security_rules=DEFAULT_RULES,
        subnets=[net.Subnet(id=subnet_id)],
    )
    return arm(
        model,
        rid(group, "Microsoft.Network/networkSecurityGroups", name, subscription),
        "Microsoft.Network/networkSecurityGroups",
        location,
    )


def vnet(
    group: str,
    name: str,
    prefix: str,
    subnets: list[tuple[str, str, str | None, str | None]],
    peerings: list[tuple[str, str] | tuple[str, str, str]] = (),  # type: ignore[assignment]
    location: str = "westeurope",
    subscription: str = SUB,
    ip_configurations: dict[str, list[str]] | None = None,
    dns_servers: list[str] | None = None,
) -> dict[str, Any]:
    """`peerings`: (name, remote VNet id[, remote address prefix]), all Connected; `ip_configurations`: the
    IP configuration ids ARM lists on a subnet (by subnet name), e.g. the firewall's on AzureFirewallSubnet;
    `dns_servers`: the VNet's custom DNS servers (dhcpOptions), else Azure-provided DNS."""
    vnet_id = rid(group, "Microsoft.Network/virtualNetworks", name, subscription)
    model = net.VirtualNetwork(
        location=location,
        address_space=net.AddressSpace(address_prefixes=[prefix]),
        dhcp_options=net.DhcpOptions(dns_servers=dns_servers) if dns_servers else None,
        subnets=[
            net.Subnet(
                id=f"{vnet_id}/subnets/{subnet}",
                name=subnet,
                address_prefix=subnet_prefix,
                network_security_group=net.NetworkSecurityGroup(id=nsg_id) if nsg_id else None,
                route_table=net.RouteTable(id=rt_id) if rt_id else None,
            )
            for subnet, subnet_prefix, nsg_id, rt_id in subnets
        ],
        virtual_network_peerings=[
            net.VirtualNetworkPeering(
                name=peering[0],
                remote_virtual_network=net.SubResource(id=peering[1]),
                remote_address_space=net.AddressSpace(address_prefixes=[peering[2]]) if len(peering) > 2 else None,
                peering_state="Connected",
                allow_virtual_network_access=True,
                allow_forwarded_traffic=True,
            )
            for peering in peerings
        ],
    )
    for subnet in model.subnets:  # read-only in the SDK: ARM fills it in from the resources on the subnet
        if ids := (ip_configurations or {}).get(subnet.name):
            subnet.ip_configurations = [net.IPConfiguration(id=config) for config in ids]
    return arm(model, vnet_id, "Microsoft.Network/virtualNetworks", location)


def public_ip(
    group: str, name: str, address: str, location: str = "westeurope", subscription: str = SUB
) -> dict[str, Any]:
    model = net.PublicIPAddress(
        location=location,
        ip_address=address,
        public_ip_allocation_method="Static",
        sku=net.PublicIPAddressSku(name="Standard"),
    )
    return arm(
        model,
        rid(group, "Microsoft.Network/publicIPAddresses", name, subscription),
        "Microsoft.Network/publicIPAddresses",
        location,
    )


def route_table(
    group: str, name: str, subnet_id: str, next_hop: str, location: str = "westeurope", subscription: str = SUB
) -> dict[str, Any]:
    model = net.RouteTable(
        location=location,
        routes=[
            net.Route(
                name="default-via-firewall",
                address_prefix="0.0.0.0/0",
                next_hop_type="VirtualAppliance",
                next_hop_ip_address=next_hop,
            )
        ],
        subnets=[net.Subnet(id=subnet_id)],
        disable_bgp_route_propagation=True,
    )
    return arm(
        model,
        rid(group, "Microsoft.Network/routeTables", name, subscription),
        "Microsoft.Network/routeTables",
        location,
    )


def firewall(
    name: str,
    private_ip: str,
    public_ip_id: str,
    *,
    policy_id: str | None = None,
    app_collections: list[Any] | None = None,
    net_collections: list[Any] | None = None,
    hub_vnet: str = HUB_VNET,
    group: str = HUB_RG,
    subscription: str = SUB,
) -> dict[str, Any]:
    firewall_id = rid(group, "Microsoft.Network/azureFirewalls", name, subscription)
    model = net.AzureFirewall(
        location="westeurope",
        sku=net.AzureFirewallSku(name="AZFW_VNet", tier="Premium" if policy_id else "Standard"),
        ip_configurations=[
            net.AzureFirewallIPConfiguration(
                id=firewall_ip_configuration(firewall_id),
                name="ipconfig1",
                private_ip_address=private_ip,
                public_ip_address=net.SubResource(id=public_ip_id),
                subnet=net.SubResource(id=f"{hub_vnet}/subnets/AzureFirewallSubnet"),
            )
        ],
        firewall_policy=net.SubResource(id=policy_id) if policy_id else None,
        application_rule_collections=app_collections,
        network_rule_collections=net_collections,
    )
    return arm(model, firewall_id, "Microsoft.Network/azureFirewalls")


def allow_collection(name: str, priority: int, rules: list[Any]) -> net.FirewallPolicyFilterRuleCollection:
    """A firewall policy's Allow rule collection."""
    return net.FirewallPolicyFilterRuleCollection(
        name=name, priority=priority, action=net.FirewallPolicyFilterRuleCollectionAction(type="Allow"), rules=rules
    )


def firewall_ip_configuration(firewall_id: str) -> str:
    return f"{firewall_id}/azureFirewallIpConfigurations/ipconfig1"


def hub(
    group: str,
    name: str,
    prefix: str,
    firewall_subnet: str,
    firewall_id: str,
    peerings: list[tuple[str, str, str]],
    subscription: str = SUB,
    other_subnets: list[tuple[str, str, str | None, str | None]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """A hub VNet as the landing-zone templates build it: AzureFirewallSubnet (a /26) holding the firewall."""
    return vnet(
        group,
        name,
        prefix,
        [("AzureFirewallSubnet", firewall_subnet, None, None), *other_subnets],
        peerings,
        subscription=subscription,
        ip_configurations={"AzureFirewallSubnet": [firewall_ip_configuration(firewall_id)]},
    )


# --- Kubernetes ---------------------------------------------------------------------------------


def kube_list(kind: str, models: list[Any], api_version: str = "v1") -> dict[str, Any]:
    items = API.sanitize_for_serialization(models)
    for item in items:
        item.setdefault("apiVersion", api_version)
        item.setdefault("kind", kind)
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def node_names(pool: str, count: int, vmss: str) -> list[str]:
    return [f"aks-{pool}-{vmss}-vmss{index:06d}" for index in range(count)]


def nodes(vmss: str, subnet_base: str, ready: bool = True) -> list[k8s.V1Node]:
    result = []
    for index, (pool, name) in enumerate(
        [("system", n) for n in node_names("system", 3, vmss)] + [("user", n) for n in node_names("user", 2, vmss)]
    ):
        result.append(
            k8s.V1Node(
                metadata=k8s.V1ObjectMeta(
                    name=name,
                    labels={
                        "kubernetes.azure.com/agentpool": pool,
                        "kubernetes.azure.com/mode": pool,
                        "kubernetes.io/os": "linux",
                        "node.kubernetes.io/instance-type": "Standard_D4ds_v5",
                    },
                ),
                status=k8s.V1NodeStatus(
                    allocatable={"cpu": "3860m", "memory": "12880328Ki", "pods": "250"},
                    capacity={"cpu": "4", "memory": "16375752Ki", "pods": "250"},
                    conditions=[
                        k8s.V1NodeCondition(type="Ready", status="True" if ready else "False", reason="KubeletReady")
                    ],
                    addresses=[
                        k8s.V1NodeAddress(type="InternalIP", address=f"{subnet_base}.{4 + index}"),
                        k8s.V1NodeAddress(type="Hostname", address=name),
                    ],
                ),
            )
        )
    return result


def pod(
    name: str, node: str, labels: dict[str, str], *, ready: bool = True, restarts: int = 0, waiting: str | None = None
) -> k8s.V1Pod:
    state = (
        k8s.V1ContainerState(
            waiting=k8s.V1ContainerStateWaiting(reason=waiting, message="back-off 5m0s restarting failed container")
        )
        if waiting
        else k8s.V1ContainerState(running=k8s.V1ContainerStateRunning(started_at=None))
    )
    container = name.rsplit("-", 2)[0]
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, namespace="kube-system", labels=labels),
        spec=k8s.V1PodSpec(
            node_name=node,
            containers=[k8s.V1Container(name=container, image=f"mcr.microsoft.com/oss/kubernetes/{container}:v1")],
        ),
        status=k8s.V1PodStatus(
            phase="Running",
            conditions=[k8s.V1PodCondition(type="Ready", status="True" if ready else "False")],
            container_statuses=[
                k8s.V1ContainerStatus(
                    name=container, image="", image_id="", ready=ready, restart_count=restarts, state=state
                )
            ],
        ),
    )


def system_pods(vmss: str, tunnel: list[k8s.V1Pod] | None = None) -> list[k8s.V1Pod]:
    system = node_names("system", 3, vmss)
    base = [
        pod("coredns-7b5f8c6d9f-4xk2p", system[0], {"k8s-app": "kube-dns"}),
        pod("coredns-7b5f8c6d9f-m8q7r", system[1], {"k8s-app": "kube-dns"}),
        pod("metrics-server-5d8c9b7f6-2zt9w", system[2], {"k8s-app": "metrics-server"}),
        pod("konnectivity-agent-autoscaler-6b9d4c8f7-h5kqv", system[2], {"app": "konnectivity-agent-autoscaler"}),
    ]
    if tunnel is None:
        tunnel = [
            pod("konnectivity-agent-7d8f9c6b5-x2k4j", system[0], {"app": "konnectivity-agent", "component": "tunnel"}),
            pod("konnectivity-agent-7d8f9c6b5-q9w8e", system[1], {"app": "konnectivity-agent", "component": "tunnel"}),
        ]
    return base + tunnel


def node_metrics(vmss: str, hot: dict[str, str] | None = None) -> dict[str, Any]:
    hot = hot or {}
    names = node_names("system", 3, vmss) + node_names("user", 2, vmss)
    return {
        "kind": "NodeMetricsList",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {},
        "items": [
            {
                "metadata": {"name": name, "labels": {"kubernetes.azure.com/agentpool": name.split("-")[1]}},
                "timestamp": "2026-11-25T04:00:00Z",
                "window": "20.052s",
                "usage": {"cpu": hot.get(name, "412873919n"), "memory": "4187264Ki"},
            }
            for name in names
        ],
    }


def helm_secrets(releases: dict[tuple[str, str], int]) -> dict[str, Any]:
    items = []
    for (namespace, release), revisions in sorted(releases.items()):
        for revision in range(1, revisions + 1):
            status = "deployed" if revision == revisions else "superseded"
            items.append(
                {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": {
                        "name": f"sh.helm.release.v1.{release}.v{revision}",
                        "namespace": namespace,
                        "labels": {"name": release, "owner": "helm", "status": status, "version": str(revision)},
                    },
                }
            )
    return {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "items": items}


def events(items: list[tuple[str, str, str]]) -> dict[str, Any]:
    models = [
        k8s.CoreV1Event(
            metadata=k8s.V1ObjectMeta(name=f"{obj.split('/')[1]}.{index:x}", namespace="kube-system"),
            involved_object=k8s.V1ObjectReference(
                kind=obj.split("/")[0], name=obj.split("/")[1], namespace="kube-system"
            ),
            reason=reason,
            message=message,
            type="Warning",
            count=7,
        )
        for index, (obj, reason, message) in enumerate(items)
    ]
    if not models:
        return {"apiVersion": "v1", "kind": "EventList", "items": []}
    return kube_list("Event", models)


def audit_rows(leaker: str | None = None, throttled: int = 0) -> list[dict[str, Any]]:
    """As `az monitor log-analytics query -o json` prints them: every value a string."""
    rows = [
        ("kubectl/v1.30.5 (linux/amd64) kubernetes/74e84a9", "get", 1840, 0),
        ("kubectl/v1.30.5 (linux/amd64) kubernetes/74e84a9", "list", 920, 0),
        ("kube-controller-manager/v1.30.5 (linux/amd64) kubernetes/74e84a9/leader-election", "update", 720, 0),
        ("kubelet/v1.30.5 (linux/amd64) kubernetes/74e84a9", "get", 9100, 0),
        ("kubelet/v1.30.5 (linux/amd64) kubernetes/74e84a9", "watch", 410, 0),
        ("argocd-application-controller/v0.0.0 (linux/amd64) kubernetes/$Format", "watch", 260, 0),
    ]
    if leaker:
        rows += [(leaker, "list", 212000, throttled), (leaker, "get", 18500, throttled // 10)]
    return [
        {"userAgent": agent, "verb": verb, "requests": str(count), "throttled": str(limited)}
        for agent, verb, count, limited in rows
    ]


def probe_times(target: str) -> tuple[float, float]:
    """A TCP connect and a TLS handshake time for one API server, as a probe from a VM in the same region
    measures them (a few to tens of ms; the handshake is one to two more round trips): different for each
    cluster, the same on every run (derived from the name, not random)."""
    digest = int(hashlib.sha256(target.encode()).hexdigest()[:8], 16)
    tcp_ms = round(4.0 + (digest % 3000) / 100, 1)  # 4.0 - 33.9 ms
    return tcp_ms, round(tcp_ms * (2 + (digest >> 12) % 100 / 100) + 3.0, 1)


def probes(
    target: str,
    address: str,
    *,
    error: str | None = None,
    alpn: str | None = "h2",
    kubelet_fail: str | None = None,
    vmss: str = "",
    node_base: str = "10.224.0",
) -> dict[str, Any]:
    tcp_ms, tls_ms = probe_times(target)
    apiserver: dict[str, Any] = {
        "target": target,
        "addresses": [] if error and error.startswith("dns") else [address],
        "tcpMs": None if error else tcp_ms,
        "tlsMs": None if error else tls_ms,
        "alpn": None if error else alpn,
        "error": error,
    }
    kubelet = (
        [
            {
                "node": name,
                "ok": name != kubelet_fail,
                "error": None if name != kubelet_fail else f"dial tcp {node_base}.{4 + index}:10250: i/o timeout",
            }
            for index, name in enumerate(node_names("system", 3, vmss))
        ]
        if vmss
        else []
    )
    return {"apiserver": apiserver, "kubelet": kubelet}


# --- The clusters ------------------------------------------------------------------------------


class Spoke:
    """A cluster's resource group, VNet, node subnet and NSG."""

    def __init__(self, name: str, prefix_octet: int, location: str = "westeurope", subscription: str = SUB) -> None:
        self.name, self.location, self.subscription = name, location, subscription
        self.group = f"rg-{name}"
        self.vnet_id = rid(self.group, "Microsoft.Network/virtualNetworks", f"vnet-{name}", subscription)
        self.subnet_id = f"{self.vnet_id}/subnets/snet-aks-nodes"
        self.prefix = f"10.{prefix_octet}.0.0/16"
        self.base = f"10.{prefix_octet}.0"
        self.nsg_id = rid(self.group, "Microsoft.Network/networkSecurityGroups", f"nsg-{name}-nodes", subscription)
        self.vmss = f"{hash_text(name) % 10**8:08d}"

    def network(
        self,
        rules: list[net.SecurityRule] | None = None,
        route_table_id: str | None = None,
        peerings: list[tuple[str, str] | tuple[str, str, str]] = (),
        dns_servers: list[str] | None = None,
    ) -> list[dict[str, Any]]:  # type: ignore[assignment]
        return [
            vnet(
                self.group,
                f"vnet-{self.name}",
                self.prefix,
                [("snet-aks-nodes", self.prefix, self.nsg_id, route_table_id)],
                peerings,
                self.location,
                self.subscription,
                dns_servers=dns_servers,
            ),
            nsg(self.group, f"nsg-{self.name}-nodes", self.subnet_id, rules or [], self.location, self.subscription),
        ]

    def outbound_ip(self, address: str) -> tuple[str, dict[str, Any]]:
        group = f"MC_{self.group}_{self.name}_{self.location}"
        pip_id = rid(group, "Microsoft.Network/publicIPAddresses", "kubernetes-outbound-pip", self.subscription)
        return pip_id, public_ip(group, "kubernetes-outbound-pip", address, self.location, self.subscription)

    def kube(
        self,
        tunnel: list[k8s.V1Pod] | None = None,
        hot: dict[str, str] | None = None,
        helm: dict[tuple[str, str], int] | None = None,
        event_items: list[tuple[str, str, str]] = (),
    ) -> list[dict[str, Any]]:  # type: ignore[assignment]
        return [
            kube_list("Pod", system_pods(self.vmss, tunnel)),
            kube_list("Node", nodes(self.vmss, self.base)),
            node_metrics(self.vmss, hot),
            events(list(event_items)),
            helm_secrets(
                helm
                if helm is not None
                else {("monitoring", "kube-prometheus-stack"): 4, ("ingress", "ingress-nginx"): 7}
            ),
        ]

    def system_node(self, index: int) -> str:
        return node_names("system", 3, self.vmss)[index]


AGENT_OK_LOG = (
    'I1125 03:58:12.418255       1 client.go:485] "Connect to server" serverID="6f8d2c1a-9b47-4e3f-a1d2-7c5e9f0b3a61"\n'
    'I1125 03:58:12.431902       1 clientset.go:239] "sync added client connecting to proxy server" serverID="6f8d2c1a-9b47-4e3f-a1d2-7c5e9f0b3a61"\n'
)


def healthy() -> RawCluster:
    spoke = Spoke("aks-payments-prod", 224)
    pip_id, pip = spoke.outbound_ip("198.51.100.10")
    body = managed_cluster(
        spoke.name,
        spoke.group,
        spoke.location,
        spoke.subnet_id,
        "team-payments",
        ranges=[CI_RUNNERS, "198.51.100.10/32"],
        outbound_ips=[pip_id],
    )
    fqdn = body["properties"]["fqdn"]
    return RawCluster(
        cluster=body,
        network=[*spoke.network(), pip],
        kube=spoke.kube(),
        pod_logs={"kube-system/konnectivity-agent-7d8f9c6b5-x2k4j": AGENT_OK_LOG},
        logs={"apiserver-requests": audit_rows()},
        probes=probes(fqdn, "20.101.40.12", vmss=spoke.vmss),
    )


def konnectivity_crashloop() -> RawCluster:
    spoke = Spoke("aks-orders-prod", 225)
    body = az_shape(managed_cluster(spoke.name, spoke.group, spoke.location, spoke.subnet_id, "team-orders"))
    tunnel = [
        pod(
            "konnectivity-agent-5c9f7d8b4-r7t2n",
            spoke.system_node(0),
            {"app": "konnectivity-agent"},
            ready=False,
            restarts=37,
            waiting="CrashLoopBackOff",
        ),
        pod(
            "konnectivity-agent-5c9f7d8b4-w4p8z",
            spoke.system_node(1),
            {"app": "konnectivity-agent"},
            ready=False,
            restarts=41,
            waiting="CrashLoopBackOff",
        ),
    ]
    return RawCluster(
        cluster=body, kube=spoke.kube(tunnel=tunnel), probes=probes(body["fqdn"], "20.101.41.7", vmss=spoke.vmss)
    )


def legacy_tunnelfront_overloaded() -> RawCluster:
    spoke = Spoke("aks-legacy-batch", 226, "eastus")
    body = managed_cluster(spoke.name, spoke.group, spoke.location, spoke.subnet_id, "team-batch", version="1.24.15")
    tunnel = [pod("tunnelfront-6c8d9f7b5c-vx2lm", spoke.system_node(0), {"component": "tunnel"}, restarts=2)]
    return RawCluster(
        cluster=body, network=spoke.network(), kube=spoke.kube(tunnel=tunnel, hot={spoke.system_node(0): "3790m"})
    )


def weu_hub() -> dict[str, Any]:
    """The estate's West Europe hub (one VNet, exported with each spoke that peers with it): the classic
    firewall fw-hub-classic and a jumpbox subnet."""
    spokes = [Spoke("aks-ledger-prod", 227), Spoke("aks-core-private", 233)]
    return hub(
        HUB_RG,
        "vnet-hub-weu",
        "10.0.0.0/16",
        "10.0.1.0/26",
        rid(HUB_RG, "Microsoft.Network/azureFirewalls", "fw-hub-classic"),
        [(f"hub-to-{spoke.name.split('-')[1]}", spoke.vnet_id, spoke.prefix) for spoke in spokes],
        other_subnets=[("snet-jumpbox", "10.0.10.0/24", None, None)],
    )


def udr_classic_firewall_missing_rule() -> RawCluster:
    spoke = Spoke("aks-ledger-prod", 227)
    firewall_pip = rid(HUB_RG, "Microsoft.Network/publicIPAddresses", "pip-fw-hub-classic")
    route_table_id = rid(spoke.group, "Microsoft.Network/routeTables", "rt-aks-ledger-prod")
    collections = [
        net.AzureFirewallApplicationRuleCollection(
            name="aks-images",
            priority=200,
            action=net.AzureFirewallRCAction(type="Allow"),
            rules=[
                net.AzureFirewallApplicationRule(
                    name="mcr",
                    source_addresses=[spoke.prefix],
                    protocols=[net.AzureFirewallApplicationRuleProtocol(protocol_type="Https", port=443)],
                    target_fqdns=["mcr.microsoft.com", "*.data.mcr.microsoft.com"],
                ),
                net.AzureFirewallApplicationRule(
                    name="azure-control-plane",
                    source_addresses=[spoke.prefix],
                    protocols=[net.AzureFirewallApplicationRuleProtocol(protocol_type="Https", port=443)],
                    target_fqdns=["management.azure.com", "login.microsoftonline.com"],
                ),
            ],
        )
    ]
    body = managed_cluster(
        spoke.name, spoke.group, spoke.location, spoke.subnet_id, "team-ledger", outbound="userDefinedRouting"
    )
    return RawCluster(
        cluster=body,
        network=[
            *spoke.network(route_table_id=route_table_id, peerings=[("ledger-to-hub", HUB_VNET, "10.0.0.0/16")]),
            weu_hub(),
            route_table(spoke.group, "rt-aks-ledger-prod", spoke.subnet_id, "10.0.1.4"),
            firewall("fw-hub-classic", "10.0.1.4", firewall_pip, app_collections=collections),
            public_ip(HUB_RG, "pip-fw-hub-classic", "198.51.100.40"),
        ],
        kube=spoke.kube(),
    )


def firewall_policy_tls_inspection() -> RawCluster:
    spoke = Spoke("aks-web-prod", 228)
    policy_id = rid(HUB_RG, "Microsoft.Network/firewallPolicies", "fwp-hub-premium")
    group_id = f"{policy_id}/ruleCollectionGroups/rcg-platform"
    route_table_id = rid(spoke.group, "Microsoft.Network/routeTables", "rt-aks-web-prod")
    https = [net.FirewallPolicyRuleApplicationProtocol(protocol_type="Https", port=443)]
    rule_group = net.FirewallPolicyRuleCollectionGroup(
        priority=200,
        rule_collections=[
            allow_collection(
                "inspect-outbound-web",
                100,
                [
                    net.ApplicationRule(
                        name="inspect-azure-web",
                        source_addresses=[spoke.prefix],
                        protocols=https,
                        target_fqdns=["*.azmk8s.io", "*.blob.core.windows.net"],
                        terminate_tls=True,
                    )
                ],
            ),
            allow_collection(
                "aks-egress",
                200,
                [
                    net.ApplicationRule(
                        name="aks-fqdn-tag",
                        source_addresses=[spoke.prefix],
                        protocols=https,
                        fqdn_tags=["AzureKubernetesService"],
                    )
                ],
            ),
        ],
    )
    policy = net.FirewallPolicy(
        location="westeurope",
        sku=net.FirewallPolicySku(tier="Premium"),
        transport_security=net.FirewallPolicyTransportSecurity(
            certificate_authority=net.FirewallPolicyCertificateAuthority(
                name="contoso-tls-inspection",
                key_vault_secret_id="https://kv-hub-weu.vault.azure.net/secrets/tls-inspection-ca",
            )
        ),
        rule_collection_groups=[net.SubResource(id=group_id)],
    )
    body = managed_cluster(
        spoke.name, spoke.group, spoke.location, spoke.subnet_id, "team-web", outbound="userDefinedRouting"
    )
    agent_log = AGENT_OK_LOG + (
        'E1125 04:02:37.118402       1 client.go:492] "cannot connect once" err="rpc error: code = Unavailable desc = connection error: '
        'desc = \\"transport: authentication handshake failed: tls: no application protocol\\""\n'
    )
    premium_hub = rid(HUB_RG, "Microsoft.Network/virtualNetworks", "vnet-hub-premium-weu")
    firewall_id = rid(HUB_RG, "Microsoft.Network/azureFirewalls", "fw-hub-premium")
    return RawCluster(
        cluster=body,
        network=[
            *spoke.network(route_table_id=route_table_id, peerings=[("web-to-hub", premium_hub, "10.0.0.0/16")]),
            az_shape(
                hub(
                    HUB_RG,
                    "vnet-hub-premium-weu",
                    "10.0.0.0/16",
                    "10.0.2.0/26",
                    firewall_id,
                    [("hub-to-web", spoke.vnet_id, spoke.prefix)],
                )
            ),
            az_shape(route_table(spoke.group, "rt-aks-web-prod", spoke.subnet_id, "10.0.2.4")),
            firewall(
                "fw-hub-premium",
                "10.0.2.4",
                rid(HUB_RG, "Microsoft.Network/publicIPAddresses", "pip-fw-hub-premium"),
                policy_id=policy_id,
                hub_vnet=premium_hub,
            ),
            arm(policy, policy_id, "Microsoft.Network/firewallPolicies"),
            arm(rule_group, group_id, "Microsoft.Network/firewallPolicies/ruleCollectionGroups", None),
        ],
        kube=spoke.kube(),
        pod_logs={"kube-system/konnectivity-agent-7d8f9c6b5-x2k4j": agent_log},
    )


def ranges_missing_client() -> RawCluster:
    spoke = Spoke("aks-claims-prod", 229)
    pip_id, pip = spoke.outbound_ip("198.51.100.20")
    body = az_shape(
        managed_cluster(
            spoke.name,
            spoke.group,
            spoke.location,
            spoke.subnet_id,
            "team-claims",
            ranges=[CI_RUNNERS, "198.51.100.20/32"],
            outbound_ips=[pip_id],
        )
    )
    context = {
        "clients": [{"name": "platform-ci", "ips": [CI_RUNNERS]}, {"name": "vpn-users", "ips": ["192.0.2.0/25"]}]
    }
    return RawCluster(cluster=body, context=context, network=az_shape([*spoke.network(), pip]), kube=spoke.kube())


def throttled_leaking_client() -> RawCluster:
    spoke = Spoke("aks-inventory-prod", 230)
    body = managed_cluster(spoke.name, spoke.group, spoke.location, spoke.subnet_id, "team-inventory")
    return RawCluster(
        cluster=body,
        kube=spoke.kube(),
        logs={
            "apiserver-requests": audit_rows(
                "inventory-operator/v0.3.1 (linux/amd64) kubernetes/$Format", throttled=9400
            )
        },
    )


def helm_history() -> RawCluster:
    spoke = Spoke("aks-storefront-prod", 231)
    body = managed_cluster(spoke.name, spoke.group, spoke.location, spoke.subnet_id, "team-storefront")
    kube = spoke.kube(
        helm={
            ("storefront", "web-frontend"): 320,
            ("storefront", "checkout-api"): 12,
            ("monitoring", "kube-prometheus-stack"): 6,
        }
    )
    tiller = [
        k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(
                name=f"legacy-api.v{n}",
                namespace="kube-system",
                labels={
                    "NAME": "legacy-api",
                    "OWNER": "TILLER",
                    "STATUS": "DEPLOYED" if n == 14 else "SUPERSEDED",
                    "VERSION": str(n),
                },
            )
        )
        for n in range(1, 15)
    ]
    return RawCluster(cluster=body, kube=[*kube, kube_list("ConfigMap", tiller)])


def nsg_denies_kubelet() -> RawCluster:
    spoke = Spoke("aks-search-prod", 232)
    body = managed_cluster(spoke.name, spoke.group, spoke.location, spoke.subnet_id, "team-search")
    deny = security_rule("deny-kubelet-inbound", 200, "Inbound", "Deny", "Tcp", "VirtualNetwork", "*", "10250")
    log = (
        AGENT_OK_LOG
        + 'E1125 04:11:03.992113       1 client.go:540] "dial failure" err="dial tcp 10.232.0.5:10250: i/o timeout" dialID=4127\n'
    )
    return RawCluster(
        cluster=body,
        network=spoke.network(rules=[deny]),
        kube=spoke.kube(
            event_items=[
                (
                    "Pod/metrics-server-5d8c9b7f6-2zt9w",
                    "Unhealthy",
                    'Readiness probe failed: Get "https://10.232.0.5:10250/healthz": dial tcp 10.232.0.5:10250: i/o timeout',
                )
            ]
        ),
        pod_logs={"kube-system/konnectivity-agent-7d8f9c6b5-x2k4j": log},
        probes=probes(
            body["properties"]["fqdn"],
            "20.101.44.3",
            kubelet_fail=spoke.system_node(1),
            vmss=spoke.vmss,
            node_base=spoke.base,
        ),
    )


HUB_ZONE = rid(HUB_RG, "Microsoft.Network/privateDnsZones", "privatelink.westeurope.azmk8s.io")


def private_zone(zone_id: str, links: list[str]) -> list[dict[str, Any]]:
    zone = arm(dns.PrivateZone(location="global"), zone_id, "Microsoft.Network/privateDnsZones", "global")
    return [zone] + [
        arm(
            dns.VirtualNetworkLink(
                location="global", virtual_network=dns.SubResource(id=link), registration_enabled=False
            ),
            f"{zone_id}/virtualNetworkLinks/{link.rsplit('/', 1)[-1]}-link",
            "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
            "global",
        )
        for link in links
    ]


def private_peered_hub() -> RawCluster:
    spoke = Spoke("aks-core-private", 233)
    body = managed_cluster(
        spoke.name, spoke.group, spoke.location, spoke.subnet_id, "team-core", private=True, private_dns_zone=HUB_ZONE
    )
    hub = weu_hub()
    context = {"clients": [{"name": "hub-jumpbox", "ips": ["10.0.10.4"], "vnet": HUB_VNET}]}
    return RawCluster(
        cluster=body,
        context=context,
        network=[
            *spoke.network(peerings=[("core-to-hub", HUB_VNET, "10.0.0.0/16")]),
            hub,
            *private_zone(HUB_ZONE, [HUB_VNET, spoke.vnet_id]),
        ],
        kube=spoke.kube(),
        probes=probes(body["properties"]["privateFQDN"], "10.233.0.4", vmss=spoke.vmss),
    )


def private_unpeered_client() -> RawCluster:
    spoke = Spoke("aks-risk-private", 234)
    body = az_shape(
        managed_cluster(
            spoke.name,
            spoke.group,
            spoke.location,
            spoke.subnet_id,
            "team-risk",
            private=True,
            private_dns_zone="system",
        )
    )
    zone_id = rid(
        f"MC_{spoke.group}_{spoke.name}_westeurope",
        "Microsoft.Network/privateDnsZones",
        f"{body['privateFqdn'].split('.', 1)[1]}",
    )
    build_vnet = rid("rg-build-agents", "Microsoft.Network/virtualNetworks", "vnet-build-agents")
    context = {"clients": [{"name": "build-agents", "ips": ["10.50.2.0/24"], "vnet": build_vnet}]}
    return RawCluster(
        cluster=body,
        context=context,
        network=[
            *spoke.network(),
            vnet("rg-build-agents", "vnet-build-agents", "10.50.0.0/16", [("snet-agents", "10.50.2.0/24", None, None)]),
            *private_zone(zone_id, [spoke.vnet_id]),
        ],
        kube=spoke.kube(),
        probes=probes(body["privateFqdn"], "", error="dns: NXDOMAIN"),
    )


# --- A Cloud Adoption Framework landing zone: hubs in a connectivity subscription -----------------
# As the CAF / AKS landing-zone accelerator builds it: each hub VNet 10.0.0.0/16 with AzureFirewallSubnet
# 10.0.1.0/26, so every hub's firewall is at 10.0.1.4; a firewall policy per hub whose parent is the platform's
# base policy; the AKS rules of the egress tutorial (limit-egress-traffic: network rules for NTP and the
# AzureCloud tunnel ports, an application rule with the AzureKubernetesService FQDN tag) with the spokes' IP
# group as source. Spokes live in workload subscriptions, peered with their hub.

CONNECTIVITY_SUB = "5c8e1f2a-7b3d-4e9f-a6c1-0d2e3f4a5b6c"
WORKLOAD_SUB = "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d"
POLICY_RG = "rg-firewall-policies"
BASE_POLICY = rid(POLICY_RG, "Microsoft.Network/firewallPolicies", "afwp-platform-base", CONNECTIVITY_SUB)
FIREWALL_IP = "10.0.1.4"
HUB_PREFIX = "10.0.0.0/16"


def platform_base_policy() -> list[dict[str, Any]]:
    """The platform team's parent policy: what every hub allows (OS package mirrors), nothing AKS-specific."""
    group_id = f"{BASE_POLICY}/ruleCollectionGroups/rcg-platform"
    rules = net.FirewallPolicyRuleCollectionGroup(
        priority=100,
        rule_collections=[
            allow_collection(
                "packages",
                110,
                [
                    net.ApplicationRule(
                        name="ubuntu",
                        source_addresses=["10.0.0.0/8"],
                        protocols=[
                            net.FirewallPolicyRuleApplicationProtocol(protocol_type="Https", port=443),
                            net.FirewallPolicyRuleApplicationProtocol(protocol_type="Http", port=80),
                        ],
                        target_fqdns=["security.ubuntu.com", "azure.archive.ubuntu.com", "changelogs.ubuntu.com"],
                    )
                ],
            )
        ],
    )
    policy = net.FirewallPolicy(
        location="westeurope",
        sku=net.FirewallPolicySku(tier="Standard"),
        rule_collection_groups=[net.SubResource(id=group_id)],
    )
    return [
        arm(policy, BASE_POLICY, "Microsoft.Network/firewallPolicies"),
        arm(rules, group_id, "Microsoft.Network/firewallPolicies/ruleCollectionGroups", None),
    ]


def aks_rule_collection_group(group_id: str, ip_group: str) -> net.FirewallPolicyRuleCollectionGroup:
    """The egress tutorial's `az network firewall network-rule/application-rule create` commands as policy rules."""

    def network_rule(name: str, protocol: str, destinations: list[str], ports: list[str]) -> net.NetworkRule:
        return net.NetworkRule(
            name=name,
            ip_protocols=[protocol],
            source_ip_groups=[ip_group],
            destination_addresses=destinations,
            destination_ports=ports,
        )

    return net.FirewallPolicyRuleCollectionGroup(
        priority=200,
        rule_collections=[
            allow_collection(
                "aksfwnr",
                100,
                [
                    network_rule("apiudp", "UDP", ["AzureCloud.westeurope"], ["1194"]),
                    network_rule("apitcp", "TCP", ["AzureCloud.westeurope"], ["9000"]),
                    network_rule("time", "UDP", ["*"], ["123"]),
                ],
            ),
            allow_collection(
                "aksfwar",
                200,
                [
                    net.ApplicationRule(
                        name="fqdn",
                        source_ip_groups=[ip_group],
                        protocols=[
                            net.FirewallPolicyRuleApplicationProtocol(protocol_type="Http", port=80),
                            net.FirewallPolicyRuleApplicationProtocol(protocol_type="Https", port=443),
                        ],
                        fqdn_tags=["AzureKubernetesService"],
                    )
                ],
            ),
        ],
    )


def landing_zone_hub(
    name: str, spokes: list[Spoke], *, aks_rules: bool, firewall_public_ip: str, dns_proxy: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """(hub VNet id, the hub's resources): VNet, firewall at 10.0.1.4, its public IP, policy (child of the base
    policy; `dns_proxy`: its dnsSettings.enableProxy), the AKS rule collection group when `aks_rules`, and the
    spokes' IP group."""
    group = f"rg-hub-{name}-weu"
    firewall_id = rid(group, "Microsoft.Network/azureFirewalls", f"afw-hub-{name}-weu", CONNECTIVITY_SUB)
    policy_id = rid(POLICY_RG, "Microsoft.Network/firewallPolicies", f"afwp-hub-{name}-weu", CONNECTIVITY_SUB)
    ip_group_id = rid(POLICY_RG, "Microsoft.Network/ipGroups", f"ipg-aks-{name}-spokes", CONNECTIVITY_SUB)
    pip_id = rid(group, "Microsoft.Network/publicIPAddresses", f"pip-afw-hub-{name}-weu", CONNECTIVITY_SUB)
    group_id = f"{policy_id}/ruleCollectionGroups/rcg-aks"
    policy = net.FirewallPolicy(
        location="westeurope",
        sku=net.FirewallPolicySku(tier="Standard"),
        base_policy=net.SubResource(id=BASE_POLICY),
        rule_collection_groups=[net.SubResource(id=group_id)] if aks_rules else [],
        dns_settings=net.DnsSettings(enable_proxy=True) if dns_proxy else None,
    )
    hub_vnet = hub(
        group,
        f"vnet-hub-{name}-weu",
        HUB_PREFIX,
        "10.0.1.0/26",
        firewall_id,
        [(f"hub-to-{spoke.name}", spoke.vnet_id, spoke.prefix) for spoke in spokes],
        CONNECTIVITY_SUB,
    )
    hub_vnet_id = str(hub_vnet["id"])
    resources = [
        hub_vnet,
        firewall(
            f"afw-hub-{name}-weu",
            FIREWALL_IP,
            pip_id,
            policy_id=policy_id,
            hub_vnet=hub_vnet_id,
            group=group,
            subscription=CONNECTIVITY_SUB,
        ),
        public_ip(group, f"pip-afw-hub-{name}-weu", firewall_public_ip, subscription=CONNECTIVITY_SUB),
        arm(policy, policy_id, "Microsoft.Network/firewallPolicies"),
        arm(
            net.IpGroup(location="westeurope", ip_addresses=[spoke.prefix for spoke in spokes]),
            ip_group_id,
            "Microsoft.Network/ipGroups",
        ),
    ]
    if aks_rules:
        resources.append(
            arm(
                aks_rule_collection_group(group_id, ip_group_id),
                group_id,
                "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
                None,
            )
        )
    return hub_vnet_id, resources


def landing_zone_spoke(spoke: Spoke, hub_vnet_id: str, dns_servers: list[str] | None = None) -> list[dict[str, Any]]:
    """A spoke peered with its hub, its node subnet's 0.0.0.0/0 route sent to the hub firewall; `dns_servers`:
    the spoke VNet's custom DNS servers (the hub firewall as DNS proxy, a hub resolver)."""
    table = f"rt-{spoke.name}"
    table_id = rid(spoke.group, "Microsoft.Network/routeTables", table, spoke.subscription)
    return [
        *spoke.network(
            route_table_id=table_id, peerings=[("spoke-to-hub", hub_vnet_id, HUB_PREFIX)], dns_servers=dns_servers
        ),
        route_table(spoke.group, table, spoke.subnet_id, FIREWALL_IP, subscription=spoke.subscription),
    ]


def landing_zone_cluster(spoke: Spoke, owner: str, firewall_public_ip: str, **options: Any) -> dict[str, Any]:
    """A spoke's cluster as the egress tutorial builds it: outboundType loadBalancer (the default) behind the
    hub firewall's route, the API server open to the CI runners and the firewall's public IP."""
    return managed_cluster(
        spoke.name,
        spoke.group,
        spoke.location,
        spoke.subnet_id,
        owner,
        ranges=[CI_RUNNERS, f"{firewall_public_ip}/32"],
        subscription=spoke.subscription,
        **options,
    )


def landing_zone_missing_aks_rules() -> RawCluster:
    """The hub's firewall, policy and IP group sit in the connectivity subscription; the hub policy (and its
    parent) lack the AKS rules, so the loadBalancer cluster's egress, routed to the hub, is blocked."""
    spoke = Spoke("aks-billing-lz", 240, subscription=WORKLOAD_SUB)
    hub_vnet_id, hub_resources = landing_zone_hub("corp", [spoke], aks_rules=False, firewall_public_ip="198.51.100.60")
    return RawCluster(
        cluster=landing_zone_cluster(spoke, "team-billing", "198.51.100.60"),
        network=[*landing_zone_spoke(spoke, hub_vnet_id), *hub_resources, *platform_base_policy()],
        kube=spoke.kube(),
    )


RESOLVER_INBOUND_IP = "10.0.4.4"


def dns_private_resolver(hub: dict[str, Any], subscription: str) -> list[dict[str, Any]]:
    """A DNS Private Resolver in the hub with its inbound endpoint at 10.0.4.4 on a /28 delegated to
    Microsoft.Network/dnsResolvers (the REST examples' InboundEndpoint_Put shape, a static address); the subnet
    joins the hub VNet's body."""
    group = hub["id"].split("/")[4]
    subnet_id = f"{hub['id']}/subnets/snet-dns-inbound"
    subnet = net.Subnet(
        id=subnet_id,
        name="snet-dns-inbound",
        address_prefix="10.0.4.0/28",
        delegations=[
            net.Delegation(name="Microsoft.Network.dnsResolvers", service_name="Microsoft.Network/dnsResolvers")
        ],
    ).as_dict()
    hub["properties"]["subnets"].append(subnet)
    resolver_id = rid(group, "Microsoft.Network/dnsResolvers", "dnspr-hub-weu", subscription)
    resolver = {
        "id": resolver_id,
        "name": "dnspr-hub-weu",
        "type": "Microsoft.Network/dnsResolvers",
        "location": "westeurope",
        "properties": {"virtualNetwork": {"id": hub["id"]}, "dnsResolverState": "Connected"},
    }
    inbound = {
        "id": f"{resolver_id}/inboundEndpoints/inbound-weu",
        "name": "inbound-weu",
        "type": "Microsoft.Network/dnsResolvers/inboundEndpoints",
        "location": "westeurope",
        "properties": {
            "ipConfigurations": [
                {
                    "privateIpAddress": RESOLVER_INBOUND_IP,
                    "privateIpAllocationMethod": "Static",
                    "subnet": {"id": subnet_id},
                }
            ],
            "provisioningState": "Succeeded",
        },
    }
    return [resolver, inbound]


def resolver_hub_private_cluster(
    name: str, octet: int, *, spoke_dns: bool = True, link_hub: bool = True, subscription: str = WORKLOAD_SUB
) -> RawCluster:
    """private-clusters.md "Hub and spoke with custom DNS": the cluster's private DNS zone in the connectivity
    subscription, linked to the hub VNet only; the spoke's DNS server is the hub's DNS Private Resolver inbound
    endpoint (`spoke_dns`), and the operators' jumpbox sits in the spoke."""
    spoke = Spoke(name, octet, subscription=subscription)
    hub_id, hub_resources = landing_zone_hub(name, [spoke], aks_rules=True, firewall_public_ip="198.51.100.94")
    hub_vnet = next(r for r in hub_resources if r["id"] == hub_id)
    zone = rid(
        "rg-private-dns", "Microsoft.Network/privateDnsZones", "privatelink.westeurope.azmk8s.io", CONNECTIVITY_SUB
    )
    cluster = landing_zone_cluster(
        spoke, "team-ops", "198.51.100.94", outbound="userDefinedRouting", private=True, private_dns_zone=zone
    )
    return RawCluster(
        cluster=cluster,
        context={"clients": [{"name": "spoke-jumpbox", "ips": [f"{spoke.base}.250"], "vnet": spoke.vnet_id}]},
        network=[
            *landing_zone_spoke(spoke, hub_id, [RESOLVER_INBOUND_IP] if spoke_dns else None),
            *hub_resources,
            *dns_private_resolver(hub_vnet, CONNECTIVITY_SUB),
            *platform_base_policy(),
            *private_zone(zone, [hub_id] if link_hub else []),
        ],
        kube=spoke.kube(),
    )


VWAN_RG = "rg-vwan-weu"
VWAN_HUB = rid(VWAN_RG, "Microsoft.Network/virtualHubs", "vhub-weu", CONNECTIVITY_SUB)
VWAN_HUB_PREFIX = "10.100.0.0/23"
# The hub's managed VNet lives in a subscription Microsoft owns; the spoke's peering to it is all the spoke shows.
VWAN_MANAGED_VNET = (
    "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/RG_vhub-weu_2f6c1b9e"
    "/providers/Microsoft.Network/virtualNetworks/HV_vhub-weu_2f6c1b9e-4d3a-4b8e-9c1f-7a5e3d2b1c0f"
)


def virtual_wan_hub(
    spokes: list[Spoke], *, routing_intent: bool = True, firewall_public_ip: str
) -> list[dict[str, Any]]:
    """A secured Virtual WAN hub (how-to-routing-policies.md): the hub with its Azure Firewall (AZFW_Hub, its
    addresses in hubIPAddresses) and policy (the egress tutorial's AKS rules for the spokes' IP group), a
    hubVirtualNetworkConnection per spoke, and routing intent sending Internet and private traffic to the
    firewall."""
    firewall_id = rid(VWAN_RG, "Microsoft.Network/azureFirewalls", "afw-vhub-weu", CONNECTIVITY_SUB)
    policy_id = rid(POLICY_RG, "Microsoft.Network/firewallPolicies", "afwp-vhub-weu", CONNECTIVITY_SUB)
    ip_group_id = rid(POLICY_RG, "Microsoft.Network/ipGroups", "ipg-aks-vwan-spokes", CONNECTIVITY_SUB)
    group_id = f"{policy_id}/ruleCollectionGroups/rcg-aks"
    hub = net.VirtualHub(
        location="westeurope",
        address_prefix=VWAN_HUB_PREFIX,
        virtual_wan=net.SubResource(id=rid(VWAN_RG, "Microsoft.Network/virtualWans", "vwan-corp", CONNECTIVITY_SUB)),
        azure_firewall=net.SubResource(id=firewall_id),
        sku="Standard",
    )
    firewall_model = net.AzureFirewall(
        location="westeurope",
        sku=net.AzureFirewallSku(name="AZFW_Hub", tier="Standard"),
        virtual_hub=net.SubResource(id=VWAN_HUB),
        firewall_policy=net.SubResource(id=policy_id),
        hub_ip_addresses=net.HubIPAddresses(
            private_ip_address="10.100.0.132",
            public_i_ps=net.HubPublicIPAddresses(
                addresses=[net.AzureFirewallPublicIPAddress(address=firewall_public_ip)], count=1
            ),
        ),
    )
    resources = [
        arm(hub, VWAN_HUB, "Microsoft.Network/virtualHubs"),
        arm(firewall_model, firewall_id, "Microsoft.Network/azureFirewalls"),
        arm(
            net.FirewallPolicy(location="westeurope", rule_collection_groups=[net.SubResource(id=group_id)]),
            policy_id,
            "Microsoft.Network/firewallPolicies",
        ),
        arm(
            aks_rule_collection_group(group_id, ip_group_id),
            group_id,
            "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
            None,
        ),
        arm(
            net.IpGroup(location="westeurope", ip_addresses=[spoke.prefix for spoke in spokes]),
            ip_group_id,
            "Microsoft.Network/ipGroups",
        ),
    ]
    for spoke in spokes:
        connection = net.HubVirtualNetworkConnection(
            remote_virtual_network=net.SubResource(id=spoke.vnet_id), enable_internet_security=True
        )
        resources.append(
            arm(
                connection,
                f"{VWAN_HUB}/hubVirtualNetworkConnections/conn-{spoke.name}",
                "Microsoft.Network/virtualHubs/hubVirtualNetworkConnections",
                None,
            )
        )
    if routing_intent:
        policies = [
            net.RoutingPolicy(name="InternetTraffic", destinations=["Internet"], next_hop=firewall_id),
            net.RoutingPolicy(name="PrivateTrafficPolicy", destinations=["PrivateTraffic"], next_hop=firewall_id),
        ]
        resources.append(
            arm(
                net.RoutingIntent(routing_policies=policies),
                f"{VWAN_HUB}/routingIntent/vhub-weu_RoutingIntent",
                "Microsoft.Network/virtualHubs/routingIntent",
                None,
            )
        )
    return resources


def virtual_wan_cluster(
    name: str, octet: int, *, routing_intent: bool = True, subscription: str = WORKLOAD_SUB
) -> RawCluster:
    """A spoke connected to the secured hub: no route table of its own (the hub's routing intent gives it the default
    route), a peering to the hub's managed VNet, outboundType userDefinedRouting, the API server open to the CI
    runners and the hub firewall's public address."""
    spoke = Spoke(name, octet, subscription=subscription)
    firewall_ip = "198.51.100.96"
    peering = ("RemoteVnetToHubPeering_2f6c1b9e-4d3a-4b8e-9c1f-7a5e3d2b1c0f", VWAN_MANAGED_VNET, VWAN_HUB_PREFIX)
    return RawCluster(
        cluster=managed_cluster(
            spoke.name,
            spoke.group,
            spoke.location,
            spoke.subnet_id,
            "team-vwan",
            outbound="userDefinedRouting",
            ranges=[CI_RUNNERS, f"{firewall_ip}/32"],
            subscription=subscription,
        ),
        network=[
            *spoke.network(peerings=[peering]),
            *virtual_wan_hub([spoke], routing_intent=routing_intent, firewall_public_ip=firewall_ip),
        ],
        kube=spoke.kube(),
    )


CLUSTERS = {
    "aks-payments-prod": healthy,
    "aks-orders-prod": konnectivity_crashloop,
    "aks-legacy-batch": legacy_tunnelfront_overloaded,
    "aks-ledger-prod": udr_classic_firewall_missing_rule,
    "aks-web-prod": firewall_policy_tls_inspection,
    "aks-claims-prod": ranges_missing_client,
    "aks-inventory-prod": throttled_leaking_client,
    "aks-storefront-prod": helm_history,
    "aks-search-prod": nsg_denies_kubelet,
    "aks-core-private": private_peered_hub,
    "aks-risk-private": private_unpeered_client,
    "aks-billing-lz": landing_zone_missing_aks_rules,
    "aks-vwan-prod": partial(virtual_wan_cluster, "aks-vwan-prod", 235),
    "aks-ops-private": partial(resolver_hub_private_cluster, "aks-ops-private", 236),
}


def write_estate(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    (target / "context.json").write_text(
        json.dumps({"clients": [{"name": "platform-ci", "ips": [CI_RUNNERS]}]}, indent=2) + "\n"
    )
    for name, build in CLUSTERS.items():
        write_cluster(build(), target / name)


if __name__ == "__main__":
    write_estate(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TARGET)
