"""`RawCluster` (files as az and kubectl print them) -> the typed `ClusterSnapshot` the checks read."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from collect.arm import ArmValueError, ArmView
from collect.parse_kube import KUBE_LIST_SOURCES, parse_kube
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
    Problem,
    QueryScope,
    Source,
    frozen_map,
)
from model.text import one_line

APISERVER_REQUESTS = "apiserver-requests"


class SnapshotError(ValueError):
    """Input that cannot be read; the message says which part and what is wrong, in one line."""


def parse_cluster(raw: RawCluster, owner_tag: str = "owner") -> ClusterSnapshot:
    """The typed snapshot. Only an unreadable cluster.json raises (SnapshotError): every other part that
    cannot be read becomes an `error` problem of the sources it feeds, and the other sources still count."""
    cluster = _part("cluster.json", lambda: cluster_from_arm(raw.cluster))
    problems = dict(raw.problems)

    def read(sources: tuple[Source, ...], where: str, parse: Callable[[], Any]) -> Any:
        try:
            return parse()
        except Exception as exc:  # whatever a source's input does, it costs that source only
            for source in sources:
                problems[source] = Problem("error", f"{where}: {one_line(exc)}")
            return None

    kube = read(KUBE_LIST_SOURCES, "kube", lambda: parse_kube(raw.kube)) if raw.kube is not None else None
    if kube is not None:
        for source, message in kube.errors.items():
            problems[source] = Problem("error", f"kube: {message}")
        for message in kube.unattributed:  # what it held is unknown: it costs every source not listed elsewhere
            for source in set(KUBE_LIST_SOURCES) - kube.listed - set(kube.errors):
                problems.setdefault(source, Problem("error", f"kube: {message}"))

    def kube_part(source: Source, values: list[Any]) -> tuple[Any, ...] | None:
        ok = kube is not None and source in kube.listed and source not in kube.errors
        return tuple(values) if ok else None

    context = raw.context if isinstance(raw.context, Mapping) else None
    clients = read((Source.CONTEXT,), "context.json", lambda: clients_from_context(_context(context)))
    declared_owners = read((Source.CONTEXT,), "context.json", lambda: owners_from_context(_context(context)))
    probes = raw.probes if isinstance(raw.probes, Mapping) else None
    if raw.probes is not None and probes is None:
        for source in (Source.APISERVER_PROBE, Source.KUBELET_PROBE):
            problems[source] = Problem("error", "probes.json: expected a JSON object")
    return ClusterSnapshot(
        cluster=cluster,
        clients=clients,
        owners=owners_of(cluster, declared_owners or (), owner_tag),
        network=read((Source.NETWORK,), "network", lambda: parse_network(raw.network, raw.unread_references))
        if raw.network is not None
        else None,
        pods=kube_part(Source.PODS, kube.pods) if kube else None,
        nodes=kube_part(Source.NODES, kube.nodes) if kube else None,
        node_metrics=kube_part(Source.NODE_METRICS, kube.node_metrics) if kube else None,
        events=kube_part(Source.EVENTS, kube.events) if kube else None,
        helm_revisions=kube_part(Source.HELM, kube.helm_revisions) if kube else None,
        pod_logs=read((Source.POD_LOGS,), "kube/logs", lambda: _pod_logs(raw.pod_logs or {}))
        if raw.pod_logs is not None
        else None,
        apiserver_requests=read(
            (Source.AUDIT,), f"logs/{APISERVER_REQUESTS}", lambda: _requests(raw.logs.get(APISERVER_REQUESTS))
        ),
        apiserver_requests_scope=read(
            (Source.AUDIT,),
            f"logs/{APISERVER_REQUESTS}.scope.json",
            lambda: _query_scope(raw.log_scopes.get(APISERVER_REQUESTS)),
        ),
        apiserver_probe=read(
            (Source.APISERVER_PROBE,), "probes.json", lambda: _apiserver_probe((probes or {}).get("apiserver"))
        ),
        kubelet_probes=read(
            (Source.KUBELET_PROBE,), "probes.json", lambda: _kubelet_probes((probes or {}).get("kubelet"))
        ),
        problems=frozen_map(problems),
    )


def _context(context: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if context is None:
        raise ValueError('expected a JSON object: {"clients": [...]}')
    return context


def _pod_logs(logs: Mapping[str, Any]) -> Mapping[str, str]:
    if not all(isinstance(name, str) and isinstance(text, str) for name, text in logs.items()):
        raise ValueError("pod logs should be text")
    return frozen_map(logs)


def _part(where: str, parse: Any) -> Any:
    try:
        return parse()
    except SnapshotError:
        raise
    except Exception as exc:  # a body of any shape is one line naming the part
        raise SnapshotError(f"{where}: {one_line(exc)}") from None


def cluster_identity(body: Any) -> tuple[str, str]:
    """(id, location) as far as an unreadable cluster body still says them, for the cluster's report header."""
    if not isinstance(body, Mapping):
        return "", ""
    view = ArmView(body)
    values = [view.raw("id"), view.raw("location")]
    return tuple(value if isinstance(value, str) else "" for value in values)  # type: ignore[return-value]


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


def with_tagged_clients(cluster: Mapping[str, Any], context: dict[str, Any], clients_tag: str) -> dict[str, Any]:
    """The context plus the clients the cluster's `clients_tag` tag lists (`203.0.113.4,198.51.100.0/24`),
    as a client named `tag:<tag>`; a context that has it already (a saved snapshot) is left as it is."""
    tags = cluster.get("tags")
    tagged = next(
        (
            str(value)
            for key, value in (tags.items() if isinstance(tags, Mapping) else ())
            if key.lower() == clients_tag.lower()
        ),
        "",
    )
    ips = [part.strip() for part in tagged.split(",") if part.strip()]
    name = f"tag:{clients_tag}"
    declared = context.get("clients", [])
    if (
        not ips
        or not isinstance(declared, list)
        or any(isinstance(c, dict) and c.get("name") == name for c in declared)
    ):
        return context
    return {**context, "clients": [*declared, {"name": name, "ips": ips}]}


def owners_from_context(context: Mapping[str, Any]) -> tuple[str, ...]:
    owners = context.get("owners") or []
    if not isinstance(owners, list) or not all(isinstance(owner, str) for owner in owners):
        raise ValueError('"owners" should be a list of names')
    return tuple(owners)


def owners_of(cluster: Cluster, declared: Sequence[str], owner_tag: str) -> tuple[str, ...]:
    """Owners from the cluster's owner tag (Azure tag names are case-insensitive) and context.json."""
    tagged = next((value for key, value in cluster.tags.items() if key.lower() == owner_tag.lower()), "")
    names = [part.strip() for part in tagged.split(",")] + [owner.strip() for owner in declared]
    return tuple(dict.fromkeys(name for name in names if name))


def resource_owners(network: Sequence[Any] | None, owner_tag: str) -> dict[str, tuple[str, ...]]:
    """Lower-cased ARM id -> the owners its owner tag names (comma-separated, as on clusters), for every network
    resource that carries the tag: a root cause in a hub reaches the hub's team (ARM and `az` bodies both carry
    `tags` at the top level)."""
    owners: dict[str, tuple[str, ...]] = {}
    for resource in network or ():
        tags = resource.get("tags") if isinstance(resource, Mapping) else None
        if not isinstance(tags, Mapping) or not isinstance(resource.get("id"), str):
            continue
        tagged = next((value for key, value in tags.items() if str(key).lower() == owner_tag.lower()), "")
        names = tuple(dict.fromkeys(part.strip() for part in str(tagged or "").split(",") if part.strip()))
        if names:
            owners[resource["id"].strip().rstrip("/").lower()] = names
    return owners


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
        under_load_ms=_under_load(probe.get("underLoad")),
    )


def _under_load(first: Any) -> tuple[float | None, float | None] | None:
    if first is None:
        return None
    if not isinstance(first, Mapping):
        raise ValueError('"underLoad" should be an object {"tcpMs": ..., "tlsMs": ...}')
    return _milliseconds(first, "tcpMs"), _milliseconds(first, "tlsMs")


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
