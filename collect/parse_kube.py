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
    # A document that cannot be read costs only its own sources: source -> what is wrong. A document whose
    # sources are unknown (a generic List that is not a list) lands in `unattributed`.
    errors: dict[Source, str] = field(default_factory=dict)
    unattributed: list[str] = field(default_factory=list)

    def merge(self, other: KubeInventory) -> None:
        self.pods += other.pods
        self.nodes += other.nodes
        self.node_metrics += other.node_metrics
        self.events += other.events
        self.helm_revisions += other.helm_revisions
        self.listed |= other.listed


KUBE_LIST_SOURCES = (Source.PODS, Source.NODES, Source.NODE_METRICS, Source.EVENTS, Source.HELM)


def parse_kube(documents: Iterable[Mapping[str, Any]]) -> KubeInventory:
    """Every document on its own: one that cannot be read leaves the others' sources intact."""
    inventory = KubeInventory()
    for document in documents:
        parsed = KubeInventory()
        try:
            parse_document(document, parsed)
        except KubeParseError as exc:
            sources = parsed.listed | sources_of(document)
            for source in sources:
                inventory.errors.setdefault(source, str(exc))
            if not sources:
                inventory.unattributed.append(str(exc))
            continue
        inventory.merge(parsed)
    return inventory


def parse_document(document: Mapping[str, Any], inventory: KubeInventory) -> None:
    """One `kubectl get -o json` document into `inventory`; KubeParseError names the object and the field."""
    for kind, item in _items(document, inventory):
        try:
            _add(inventory, kind, item)
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            raise KubeParseError(f"{kind} {_name_of(item)}: {_what_is_wrong(exc)}") from None


def sources_of(document: Any) -> set[Source]:
    """The sources a document lists, as far as its kinds say (for naming what a broken one costs)."""
    if not isinstance(document, Mapping) or not isinstance(document.get("kind"), str):
        return set()
    kind = document["kind"]
    kinds = {kind[: -len("List")] if kind.endswith("List") else kind}
    items = document.get("items")
    if isinstance(items, list):
        kinds |= {item.get("kind") for item in items if isinstance(item, Mapping) and isinstance(item.get("kind"), str)}
    return {_SOURCE_OF_KIND[k] for k in kinds if k in _SOURCE_OF_KIND}


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
    metadata = _obj(item, "metadata")
    if kind == "Pod":
        if _str(metadata, "namespace", TUNNEL_NAMESPACE) == TUNNEL_NAMESPACE:
            inventory.pods.append(_pod(item))
    elif kind == "Node":
        inventory.nodes.append(_node(item))
    elif kind == "NodeMetrics":
        usage = _obj(item, "usage")
        inventory.node_metrics.append(
            NodeUsage(
                node=_name(metadata),
                cpu_millicores=int(parse_quantity(usage["cpu"]) * 1000),
                memory_bytes=int(parse_quantity(usage["memory"])),
            )
        )
    elif kind == "Event":
        inventory.events.append(_event(item))
    elif kind in _HELM_KINDS and (revision := _helm_revision(kind, metadata, item.get("type"))):
        inventory.helm_revisions.append(revision)


def _pod(item: Mapping[str, Any]) -> Pod:
    metadata = _obj(item, "metadata")
    status = _obj(item, "status")
    containers = _objs(status, "containerStatuses")
    return Pod(
        namespace=_str(metadata, "namespace", TUNNEL_NAMESPACE),
        name=_name(metadata),
        labels=_labels(metadata),
        node_name=_str(_obj(item, "spec"), "nodeName"),
        phase=_str(status, "phase"),
        ready=_condition_true(status, "Ready"),
        restarts=sum(_count(container, "restartCount") for container in containers),
        waiting_reasons=tuple(
            reason for container in containers if (reason := _str(_obj(_obj(container, "state"), "waiting"), "reason"))
        ),
    )


def _node(item: Mapping[str, Any]) -> Node:
    metadata = _obj(item, "metadata")
    status = _obj(item, "status")
    allocatable = _obj(status, "allocatable")
    internal_ip = next(
        (_str(address, "address") for address in _objs(status, "addresses") if address.get("type") == "InternalIP"),
        None,
    )
    return Node(
        name=_name(metadata),
        labels=_labels(metadata),
        ready=_condition_true(status, "Ready"),
        internal_ip=internal_ip,
        allocatable_cpu_millicores=int(parse_quantity(allocatable["cpu"]) * 1000) if "cpu" in allocatable else None,
        allocatable_memory_bytes=int(parse_quantity(allocatable["memory"])) if "memory" in allocatable else None,
        created=str(metadata["creationTimestamp"]) if metadata.get("creationTimestamp") else None,
    )


def _event(item: Mapping[str, Any]) -> Event:
    """core/v1 Events (involvedObject, message) and events.k8s.io/v1 (regarding, note)."""
    metadata = _obj(item, "metadata")
    involved = _obj(item, "involvedObject") or _obj(item, "regarding")
    series = _obj(item, "series")
    return Event(
        namespace=_str(metadata, "namespace") or _str(involved, "namespace") or "",
        involved_object=f"{_str(involved, 'kind', '')}/{_str(involved, 'name', '')}".strip("/"),
        reason=_str(item, "reason") or "",
        message=_str(item, "message") or _str(item, "note") or "",
        count=_count(item, "count") or _count(series, "count") or 1,
    )


def _helm_revision(kind: str, metadata: Mapping[str, Any], secret_type: Any) -> HelmRevision | None:
    labels = _labels(metadata)
    name = _str(metadata, "name") or ""
    namespace = _str(metadata, "namespace") or ""
    if kind == "ConfigMap":
        match = _HELM2_CONFIGMAP.match(name)
        if labels.get("OWNER") != "TILLER" or not match:
            return None
        return HelmRevision(
            namespace=namespace,
            release=labels.get("NAME") or match["release"],
            revision=_revision(labels.get("VERSION") or match["revision"]),
            storage="configmap",
            status=labels.get("STATUS"),
        )
    match = _HELM3_SECRET.match(name)
    if not match or (labels.get("owner") != "helm" and secret_type != "helm.sh/release.v1"):
        return None
    return HelmRevision(
        namespace=namespace,
        release=labels.get("name") or match["release"],
        revision=_revision(labels.get("version") or match["revision"]),
        storage="secret",
        status=labels.get("status"),
    )


def _condition_true(status: Mapping[str, Any], condition: str) -> bool:
    return any(
        entry.get("type") == condition and entry.get("status") == "True" for entry in _objs(status, "conditions")
    )


# Typed reads: a field of the wrong type is a TypeError naming the field (reported in kubectl's terms).


def _obj(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = mapping.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f'"{key}" should be an object, not {type(value).__name__}')
    return value


def _objs(mapping: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = mapping.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise TypeError(f'"{key}" should be a list of objects')
    return value


def _str(mapping: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    value = mapping.get(key, default)
    if value is not None and not isinstance(value, str):
        raise TypeError(f'"{key}" should be a string, not {type(value).__name__}')
    return value


def _name(metadata: Mapping[str, Any]) -> str:
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise KeyError("metadata.name") if name is None else TypeError('"metadata.name" should be a string')
    return name


def _labels(metadata: Mapping[str, Any]) -> Mapping[str, str]:
    labels = _obj(metadata, "labels")
    if not all(isinstance(value, str) for value in labels.values()):
        raise TypeError('"metadata.labels" values should be strings')
    return frozen_map(labels)


def _count(mapping: Mapping[str, Any], key: str) -> int:
    value = mapping.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f'"{key}" should be a count, not {value!r}')
    return value


def _revision(text: str) -> int:
    if not text.isdigit() or len(text) > 9:
        raise ValueError(f"Helm revision {text[:20]!r} is not a number")
    return int(text)


QUANTITY_MAX_EXPONENT = 30  # Kubernetes quantities fit in 64 bits with a suffix up to Ei (2**60)
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
    match = _QUANTITY.match(str(quantity).strip()) if isinstance(quantity, str | int | float) else None
    if not match or match[2] not in _SUFFIXES:
        raise ValueError(f"{str(quantity)[:40]!r} is not a Kubernetes quantity")
    try:
        number = Decimal(match[1])
    except InvalidOperation:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity") from None
    if number.is_finite() and number and number.adjusted() > QUANTITY_MAX_EXPONENT:
        raise ValueError(f"{quantity!r} is out of range for a Kubernetes quantity")
    return number * _SUFFIXES[match[2]]
