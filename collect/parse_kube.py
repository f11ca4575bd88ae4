"""Kubernetes documents (`kubectl get -o json`: a List, a typed `<Kind>List`, or one object) -> typed values."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from model.snapshot import Event, HelmRevision, Node, NodeUsage, Pod, Source, frozen_map

TUNNEL_NAMESPACE = "kube-system"
_HELM3_SECRET = re.compile(r"^sh\.helm\.release\.v1\.(?P<release>.+)\.v(?P<revision>\d+)$")
_HELM2_CONFIGMAP = re.compile(r"^(?P<release>.+)\.v(?P<revision>\d+)$")
_HELM_KINDS = frozenset({"Secret", "ConfigMap", "PartialObjectMetadata"})


class KubeParseError(ValueError):
    """A Kubernetes object that cannot be read; the message names it."""


@dataclass
class KubeInventory:
    pods: list[Pod] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    node_metrics: list[NodeUsage] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    helm_revisions: list[HelmRevision] = field(default_factory=list)
    listed: set[Source] = field(default_factory=set)  # sources whose listing is present, even if empty


def parse_kube(documents: Iterable[Mapping[str, Any]]) -> KubeInventory:
    inventory = KubeInventory()
    for document in documents:
        for kind, item in _items(document, inventory):
            try:
                _add(inventory, kind, item)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise KubeParseError(f"{kind} {_name_of(item)}: {_what_is_wrong(exc)}") from None
    return inventory


def _name_of(item: Mapping[str, Any]) -> str:
    metadata = item.get("metadata") if isinstance(item, Mapping) else None
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return str(name) if name else "(no name)"


def _what_is_wrong(exc: Exception) -> str:
    """The problem in kubectl's terms, not Python's."""
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    if isinstance(exc, TypeError | AttributeError):
        return f"a field has the wrong type ({exc})"
    return str(exc)


def _items(document: Mapping[str, Any], inventory: KubeInventory) -> Iterable[tuple[str, Mapping[str, Any]]]:
    if not isinstance(document, Mapping):
        raise KubeParseError(f"expected a Kubernetes object, got {type(document).__name__}")
    kind = document.get("kind")
    if not isinstance(kind, str) or not kind:
        raise KubeParseError('a Kubernetes document without "kind"')
    if "items" not in document:
        yield kind, document
        return
    items = document["items"]
    if not isinstance(items, list):
        raise KubeParseError(f'{kind}: "items" should be a list')
    item_kind = kind[: -len("List")] if kind.endswith("List") and kind != "List" else None
    if item_kind:
        _mark_listed(inventory, item_kind)
    for item in items:
        if not isinstance(item, Mapping):
            raise KubeParseError(f"{kind}: an item is not an object")
        yield item.get("kind") or item_kind or "", item


def _mark_listed(inventory: KubeInventory, kind: str) -> None:
    source = _SOURCE_OF_KIND.get(kind)
    if source is not None:
        inventory.listed.add(source)


_SOURCE_OF_KIND: Mapping[str, Source] = {
    "Pod": Source.PODS,
    "Node": Source.NODES,
    "NodeMetrics": Source.NODE_METRICS,
    "Event": Source.EVENTS,
    **dict.fromkeys(_HELM_KINDS, Source.HELM),
}


def _add(inventory: KubeInventory, kind: str, item: Mapping[str, Any]) -> None:
    _mark_listed(inventory, kind)
    metadata = item.get("metadata") or {}
    if kind == "Pod":
        if metadata.get("namespace", TUNNEL_NAMESPACE) == TUNNEL_NAMESPACE:
            inventory.pods.append(_pod(item))
    elif kind == "Node":
        inventory.nodes.append(_node(item))
    elif kind == "NodeMetrics":
        usage = item.get("usage") or {}
        inventory.node_metrics.append(
            NodeUsage(
                node=metadata["name"],
                cpu_millicores=int(parse_quantity(usage["cpu"]) * 1000),
                memory_bytes=int(parse_quantity(usage["memory"])),
            )
        )
    elif kind == "Event":
        inventory.events.append(_event(item))
    elif kind in _HELM_KINDS and (revision := _helm_revision(kind, metadata, item.get("type"))):
        inventory.helm_revisions.append(revision)


def _pod(item: Mapping[str, Any]) -> Pod:
    metadata = item.get("metadata") or {}
    status = item.get("status") or {}
    containers = status.get("containerStatuses") or []
    return Pod(
        namespace=metadata.get("namespace", TUNNEL_NAMESPACE),
        name=metadata["name"],
        labels=frozen_map(metadata.get("labels")),
        node_name=(item.get("spec") or {}).get("nodeName"),
        phase=status.get("phase"),
        ready=_condition_true(status, "Ready"),
        restarts=sum(int(container.get("restartCount") or 0) for container in containers),
        waiting_reasons=tuple(
            reason
            for container in containers
            if (reason := ((container.get("state") or {}).get("waiting") or {}).get("reason"))
        ),
    )


def _node(item: Mapping[str, Any]) -> Node:
    metadata = item.get("metadata") or {}
    status = item.get("status") or {}
    allocatable = status.get("allocatable") or {}
    internal_ip = next(
        (address.get("address") for address in status.get("addresses") or [] if address.get("type") == "InternalIP"),
        None,
    )
    return Node(
        name=metadata["name"],
        labels=frozen_map(metadata.get("labels")),
        ready=_condition_true(status, "Ready"),
        internal_ip=internal_ip,
        allocatable_cpu_millicores=int(parse_quantity(allocatable["cpu"]) * 1000) if "cpu" in allocatable else None,
        allocatable_memory_bytes=int(parse_quantity(allocatable["memory"])) if "memory" in allocatable else None,
        created=str(metadata["creationTimestamp"]) if metadata.get("creationTimestamp") else None,
    )


def _event(item: Mapping[str, Any]) -> Event:
    """core/v1 Events (involvedObject, message) and events.k8s.io/v1 (regarding, note)."""
    metadata = item.get("metadata") or {}
    involved = item.get("involvedObject") or item.get("regarding") or {}
    series = item.get("series") or {}
    return Event(
        namespace=metadata.get("namespace") or involved.get("namespace") or "",
        involved_object=f"{involved.get('kind', '')}/{involved.get('name', '')}".strip("/"),
        reason=item.get("reason") or "",
        message=item.get("message") or item.get("note") or "",
        count=int(item.get("count") or series.get("count") or 1),
    )


def _helm_revision(kind: str, metadata: Mapping[str, Any], secret_type: Any) -> HelmRevision | None:
    labels = metadata.get("labels") or {}
    name = metadata.get("name") or ""
    namespace = metadata.get("namespace") or ""
    if kind == "ConfigMap":
        match = _HELM2_CONFIGMAP.match(name)
        if labels.get("OWNER") != "TILLER" or not match:
            return None
        return HelmRevision(
            namespace=namespace,
            release=labels.get("NAME") or match["release"],
            revision=int(labels.get("VERSION") or match["revision"]),
            storage="configmap",
            status=labels.get("STATUS"),
        )
    match = _HELM3_SECRET.match(name)
    if not match or (labels.get("owner") != "helm" and secret_type != "helm.sh/release.v1"):
        return None
    return HelmRevision(
        namespace=namespace,
        release=labels.get("name") or match["release"],
        revision=int(labels.get("version") or match["revision"]),
        storage="secret",
        status=labels.get("status"),
    )


def _condition_true(status: Mapping[str, Any], condition: str) -> bool:
    return any(
        entry.get("type") == condition and entry.get("status") == "True" for entry in status.get("conditions") or []
    )


_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)([a-zA-Z]*)$")
_SUFFIXES: Mapping[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def parse_quantity(quantity: Any) -> Decimal:
    """A Kubernetes resource quantity ("250m", "123456789n", "16374624Ki", "4") as a number of base units."""
    match = _QUANTITY.match(str(quantity).strip())
    if not match or match[2] not in _SUFFIXES:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity")
    try:
        return Decimal(match[1]) * _SUFFIXES[match[2]]
    except InvalidOperation:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity") from None
