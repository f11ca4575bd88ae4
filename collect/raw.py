"""A cluster's inputs as the files an operator exports with `az` and `kubectl`.

`RawCluster` is the in-memory form of one snapshot folder (docs/snapshot.md). The snapshot
loader reads it from disk, the live collector builds it from Azure and the Kubernetes API,
`--save-snapshot` writes it back, and `collect.parse` turns it into the typed
`ClusterSnapshot` the checks read. One path from bytes to verdicts, whatever the
source, so a saved snapshot evaluates exactly like the live run that wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model.snapshot import Problem, Source

JsonObject = dict[str, Any]


@dataclass
class RawCluster:
    cluster: JsonObject  # `az aks show -o json` or the ARM GET body
    context: JsonObject = field(default_factory=dict)  # merged context.json ({"clients": [...]})
    network: list[JsonObject] | None = None  # ARM resources, told apart by "type"
    # References the collector followed but could not read (ARM id -> why, e.g. "403 AuthorizationFailed: ...");
    # saved in problems.json under "unreadableReferences".
    unread_references: dict[str, str] = field(default_factory=dict)
    # Kubernetes documents as `kubectl get -o json` prints them: a `List`/`<Kind>List` or one object,
    # told apart by each item's "kind". An empty typed list (`{"kind": "SecretList", "items": []}`) records
    # that the listing was made and found nothing.
    kube: list[JsonObject] | None = None
    pod_logs: dict[str, str] | None = None  # "namespace/pod" -> `kubectl logs` text
    logs: dict[str, list[JsonObject]] = field(default_factory=dict)  # query name -> rows
    # query name -> where and when it ran: {"scope": <workspace or cluster id>, "start": ISO, "end": ISO,
    # "windowMinutes": 60}; written beside the rows as logs/<query>.scope.json
    log_scopes: dict[str, JsonObject] = field(default_factory=dict)
    probes: JsonObject | None = None  # probes.json
    # (URL, CA) the API server probe dialled, so a probe slowed by the sweep's own load can be measured again
    # once the sweep is quiet; kept in memory only, never written to a snapshot.
    probe_endpoint: tuple[str, bytes] | None = field(default=None, repr=False, compare=False)
    problems: dict[Source, Problem] = field(default_factory=dict)


SECRET_VALUE_FIELDS = ("data", "stringData")
# Metadata a metadata-only item drops: annotations hold whatever tools put there (kubectl apply's
# last-applied-configuration holds a Secret's values whole), managedFields every field's history.
DROPPED_METADATA = ("annotations", "managedFields")
METADATA_ONLY_KINDS = frozenset({"Secret", "PartialObjectMetadata"})
METADATA_ONLY_LISTS = frozenset({"SecretList", "PartialObjectMetadataList"})


def strip_secret_values(document: JsonObject) -> JsonObject:
    """A Kubernetes document without any Secret's values, whatever the server (or an export) returned: the
    checks need names and labels only, and no secret may reach a snapshot, a report or a log. Secrets and
    metadata-only items keep their metadata but its annotations and managedFields."""
    metadata_only_list = document.get("kind") in METADATA_ONLY_LISTS
    items = document.get("items")
    for item in items if isinstance(items, list) else [document]:
        if isinstance(item, dict) and (
            item.get("kind") in METADATA_ONLY_KINDS or (metadata_only_list and "kind" not in item)
        ):
            for name in SECRET_VALUE_FIELDS:
                item.pop(name, None)
            metadata = item.get("metadata")
            if isinstance(metadata, dict):
                for name in DROPPED_METADATA:
                    metadata.pop(name, None)
    return document
