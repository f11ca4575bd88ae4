"""`RawCluster` (files as az and kubectl print them) -> the typed `ClusterSnapshot` the checks read."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from collect.arm import ArmValueError, ArmView
from collect.parse_kube import parse_kube
from collect.parse_network import parse_network
from collect.raw import RawCluster
from model.arm_ids import parse_cluster_id
from model.snapshot import (
    AgentPool,
    ApiServerProbe,
    ApiServerRequests,
    Client,
    Cluster,
    ClusterSnapshot,
    KubeletProbe,
    QueryScope,
    Source,
    frozen_map,
)

APISERVER_REQUESTS = "apiserver-requests"


class SnapshotError(ValueError):
    """Input that cannot be read; the message says which part and what is wrong, in one line."""


def parse_cluster(raw: RawCluster, owner_tag: str = "owner") -> ClusterSnapshot:
    cluster = _part("cluster.json", lambda: cluster_from_arm(raw.cluster))
    kube = _part("kube", lambda: parse_kube(raw.kube)) if raw.kube is not None else None
    listed = kube.listed if kube else set()
    return ClusterSnapshot(
        cluster=cluster,
        clients=_part("context.json", lambda: clients_from_context(raw.context)),
        owners=owners_of(cluster, raw.context, owner_tag),
        network=_part("network", lambda: parse_network(raw.network)) if raw.network is not None else None,
        pods=tuple(kube.pods) if kube and Source.PODS in listed else None,
        nodes=tuple(kube.nodes) if kube and Source.NODES in listed else None,
        node_metrics=tuple(kube.node_metrics) if kube and Source.NODE_METRICS in listed else None,
        events=tuple(kube.events) if kube and Source.EVENTS in listed else None,
        helm_revisions=tuple(kube.helm_revisions) if kube and Source.HELM in listed else None,
        pod_logs=frozen_map(raw.pod_logs) if raw.pod_logs is not None else None,
        apiserver_requests=_part(
            f"logs/{APISERVER_REQUESTS}.json", lambda: _requests(raw.logs.get(APISERVER_REQUESTS))
        ),
        apiserver_requests_scope=_part(
            f"logs/{APISERVER_REQUESTS}.scope.json", lambda: _query_scope(raw.log_scopes.get(APISERVER_REQUESTS))
        ),
        apiserver_probe=_part("probes.json", lambda: _apiserver_probe((raw.probes or {}).get("apiserver"))),
        kubelet_probes=_part("probes.json", lambda: _kubelet_probes((raw.probes or {}).get("kubelet"))),
        problems=frozen_map(raw.problems),
    )


def _part(where: str, parse: Any) -> Any:
    try:
        return parse()
    except SnapshotError:
        raise
    except (ArmValueError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SnapshotError(f"{where}: {exc}") from None


def cluster_from_arm(body: Mapping[str, Any]) -> Cluster:
    if not isinstance(body, Mapping):
        raise ArmValueError("expected a JSON object (az aks show -o json, or the ARM GET body)")
    view = ArmView(body)
    cluster_id = view.str("id")
    if not cluster_id:
        raise ArmValueError('no "id": expected the output of `az aks show -o json`')
    subscription, group, name = parse_cluster_id(cluster_id)
    access = view.obj("apiServerAccessProfile")
    network = view.obj("networkProfile")
    load_balancer_ips = network.obj("loadBalancerProfile").refs("effectiveOutboundIPs")
    outbound_ips = load_balancer_ips + network.obj("natGatewayProfile").refs("effectiveOutboundIPs")
    tags = view.raw("tags") or {}
    if not isinstance(tags, Mapping):
        raise ArmValueError('"tags" should be an object')
    return Cluster(
        id=cluster_id,
        name=view.str("name") or name,
        subscription=subscription,
        resource_group=group,
        location=view.str("location") or "",
        tags=frozen_map({str(key): str(value) for key, value in tags.items()}),
        kubernetes_version=view.str("currentKubernetesVersion") or view.str("kubernetesVersion"),
        fqdn=view.str("fqdn"),
        private_fqdn=view.str("privateFQDN"),
        is_private=access.bool("enablePrivateCluster"),
        private_public_fqdn_enabled=access.bool("enablePrivateClusterPublicFQDN"),
        private_dns_zone=access.str("privateDNSZone"),
        authorized_ranges=access.strs("authorizedIPRanges"),
        vnet_integration=access.bool("enableVnetIntegration"),
        apiserver_subnet_id=access.str("subnetId"),
        outbound_type=network.str("outboundType"),
        network_plugin=network.str("networkPlugin"),
        node_resource_group=view.str("nodeResourceGroup"),
        agent_pools=tuple(
            AgentPool(
                name=pool.str("name") or "",
                mode=pool.str("mode") or "User",
                vnet_subnet_id=pool.str("vnetSubnetID"),
                count=pool.int("count"),
            )
            for pool in view.objs("agentPoolProfiles")
        ),
        outbound_ip_ids=outbound_ips,
        load_balancer_outbound_ip_ids=load_balancer_ips,
        aad_enabled=bool(view.obj("aadProfile")),
        local_accounts_disabled=view.bool("disableLocalAccounts"),
    )


def clients_from_context(context: Mapping[str, Any]) -> tuple[Client, ...]:
    entries = context.get("clients", [])
    if not isinstance(entries, list):
        raise ValueError('"clients" should be a list of {"name", "ips", "vnet"} objects')
    clients = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ValueError(f'clients[{index}] should be an object with a "name"')
        ips = entry.get("ips", [])
        if not isinstance(ips, list) or not all(isinstance(ip, str) for ip in ips):
            raise ValueError(f'clients[{index}] ({entry["name"]}): "ips" should be a list of strings')
        for ip in ips:
            try:
                ipaddress.ip_network(ip, strict=False)
            except ValueError:
                raise ValueError(f"clients[{index}] ({entry['name']}): {ip!r} is not an IP address or CIDR") from None
        vnet = entry.get("vnet")
        if vnet is not None and (not isinstance(vnet, str) or "/virtualnetworks/" not in vnet.lower()):
            raise ValueError(f'clients[{index}] ({entry["name"]}): "vnet" should be a virtual network resource id')
        clients.append(Client(name=entry["name"], ips=tuple(ips), vnet=vnet))
    return tuple(clients)


def owners_of(cluster: Cluster, context: Mapping[str, Any], owner_tag: str) -> tuple[str, ...]:
    """Owners from the cluster's owner tag (Azure tag names are case-insensitive) and context.json."""
    tagged = next((value for key, value in cluster.tags.items() if key.lower() == owner_tag.lower()), "")
    declared = context.get("owners") or []
    names = [part.strip() for part in tagged.split(",")] + [str(owner).strip() for owner in declared]
    return tuple(dict.fromkeys(name for name in names if name))


def _requests(rows: Any) -> tuple[ApiServerRequests, ...] | None:
    if rows is None:
        return None
    if not isinstance(rows, list):
        raise ValueError("expected a JSON array of rows, as `az monitor log-analytics query -o json` prints")
    parsed = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"row {index} is not an object")
        try:
            parsed.append(
                ApiServerRequests(
                    user_agent=str(row.get("userAgent") or ""),
                    verb=str(row.get("verb") or "").lower(),
                    requests=_count(row["requests"]),
                    throttled=_count(row.get("throttled") or 0),
                )
            )
        except KeyError as exc:
            raise ValueError(f"row {index} has no column {exc}") from None
        except ValueError as exc:
            raise ValueError(f"row {index}: {exc}") from None
    return tuple(parsed)


def _query_scope(scope: Any) -> QueryScope | None:
    if scope is None:
        return None
    if not isinstance(scope, Mapping):
        raise ValueError('expected an object {"scope": ..., "start": ..., "end": ..., "windowMinutes": ...}')
    window = scope.get("windowMinutes")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int)):
        raise ValueError(f'"windowMinutes" should be a whole number of minutes, not {window!r}')
    text = {key: scope.get(key) for key in ("scope", "start", "end")}
    for key, value in text.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f'"{key}" should be a string')
    return QueryScope(resource=text["scope"], window_minutes=window, start=text["start"], end=text["end"])


def _count(value: Any) -> int:
    """az prints every Log Analytics value as a string: "42"."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if number < 0 or number != int(number):
        raise ValueError(f"{value!r} is not a count")
    return int(number)


def _apiserver_probe(probe: Any) -> ApiServerProbe | None:
    if probe is None:
        return None
    if not isinstance(probe, Mapping) or not isinstance(probe.get("target"), str):
        raise ValueError('"apiserver" should be an object with a "target"')
    return ApiServerProbe(
        target=probe["target"],
        addresses=tuple(str(address) for address in probe.get("addresses") or ()),
        tcp_ms=_milliseconds(probe, "tcpMs"),
        tls_ms=_milliseconds(probe, "tlsMs"),
        alpn=probe.get("alpn") or None,
        error=probe.get("error") or None,
    )


def _milliseconds(probe: Mapping[str, Any], key: str) -> float | None:
    value = probe.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f'"{key}" should be a number of milliseconds, not {value!r}')
    return float(value)


def _kubelet_probes(probes: Any) -> tuple[KubeletProbe, ...] | None:
    if probes is None:
        return None
    if not isinstance(probes, list) or not all(isinstance(probe, Mapping) and "node" in probe for probe in probes):
        raise ValueError('"kubelet" should be a list of {"node", "ok", "error"} objects')
    return tuple(
        KubeletProbe(node=str(probe["node"]), ok=bool(probe.get("ok")), error=probe.get("error") or None)
        for probe in probes
    )
