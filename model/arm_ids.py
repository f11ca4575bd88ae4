"""ARM resource ids: parsing, comparing, and turning them into Table Storage keys."""

from __future__ import annotations

import hashlib
import re

_CLUSTER_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)"
    r"/providers/Microsoft\.ContainerService/managedClusters/(?P<name>[^/]+)$",
    re.IGNORECASE,
)


def parse_cluster_id(cluster_id: str) -> tuple[str, str, str]:
    """(subscription, resource group, name) of a managed cluster's ARM id, or ValueError."""
    match = _CLUSTER_ID.match(cluster_id.strip().rstrip("/")) if isinstance(cluster_id, str) else None
    if not match:
        raise ValueError(
            f"{cluster_id!r} is not an AKS cluster resource id "
            "(/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ContainerService/managedClusters/<name>)"
        )
    return match["subscription"], match["group"], match["name"]


def subscription_of(resource_id: str) -> str:
    """The lower-cased subscription id of `/subscriptions/<id>/...`, or "" for anything else."""
    parts = resource_id.split("/", 3)
    return parts[2].lower() if len(parts) > 2 and parts[0] == "" and parts[1].lower() == "subscriptions" else ""


def parent_id(resource_id: str, child_segment: str) -> str:
    """`.../firewallPolicies/p/ruleCollectionGroups/g` -> `.../firewallPolicies/p` for child "ruleCollectionGroups"."""
    index = resource_id.lower().rfind(f"/{child_segment.lower()}/")
    return resource_id[:index] if index >= 0 else resource_id


def last_segment(resource_id: str | None) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1] if resource_id else ""


def same_id(left: str | None, right: str | None) -> bool:
    """ARM ids are case-insensitive."""
    return bool(left) and bool(right) and left.lower() == right.lower()  # type: ignore[union-attr]


def vnet_id_of(subnet_id: str) -> str:
    """`.../virtualNetworks/v/subnets/s` -> `.../virtualNetworks/v`."""
    index = subnet_id.lower().rfind("/subnets/")
    return subnet_id[:index] if index >= 0 else subnet_id


def table_key(resource_id: str) -> str:
    """A Table Storage key for a resource: its name (readable in Storage Explorer), then a digest of the id.
    Lower case, as ARM ids are case-insensitive; keys may not hold '/', '\\', '#', '?' or control characters."""
    normal = resource_id.strip().rstrip("/").lower()
    name = re.sub(r"[^a-z0-9._-]", "_", last_segment(normal))[:60]
    return f"{name}-{hashlib.sha256(normal.encode()).hexdigest()[:32]}"
