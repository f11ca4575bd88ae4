"""Azure Resource Manager write and delete events, as the subscription's Event Grid system topic delivers them.

Schema: learn.microsoft.com "Azure subscription as an Event Grid source" (event-schema-subscriptions):
`subject` and `data.resourceUri` are the resource's ARM id, `data.operationName` the operation
(`Microsoft.Network/firewallPolicies/ruleCollectionGroups/write`), `data.claims` the caller's token claims
(a person: `name` / UPN; a service principal or managed identity: `appid`, and for a managed identity
`xms_mirid`, its resource id), `data.authorization.evidence` the role assignment that allowed it.

Who made a change is personal data: finding events, logs and stored results name the caller by object id,
and only the Teams card (whose point is telling owners who changed what) names the person, unless
AKS_REACH_CALLER_NAMES asks for names everywhere (`ResourceChange.describe(names=...)`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model.arm_ids import last_segment

WATCHED = json.loads((Path(__file__).parent / "data" / "watched_changes.json").read_text())
EVENT_TYPES = frozenset(WATCHED["eventTypes"])
OPERATION_PREFIXES = tuple(prefix.lower() for prefix in WATCHED["operationPrefixes"])
CLUSTER_TYPE = "microsoft.containerservice/managedclusters"

# A resource id Azure could have written: subscription GUID, resource group, provider, then type/name pairs.
# Strict on purpose: the id goes into a Resource Graph query and into Table Storage keys.
RESOURCE_ID = re.compile(
    r"^/subscriptions/[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}/resourcegroups/[-\w.()]{1,90}"
    r"/providers/[a-z][a-z0-9]*\.[a-z0-9.]+(?:/[a-z0-9]+/[-\w.]{1,260}){1,4}$",
    re.IGNORECASE,
)
OBJECT_ID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
NAME_CLAIMS = (
    "name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "upn",
    "unique_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
)


class ChangeEventError(ValueError):
    """An event that cannot be read as a resource change; the message says what is wrong with it."""


@dataclass(frozen=True)
class ResourceChange:
    """One successful write or delete: what, on which resource, by whom, when."""

    event_id: str
    operation: str  # e.g. Microsoft.Network/firewallPolicies/ruleCollectionGroups/write
    resource_id: str
    caller: str  # "Ana Silva (ana@contoso.com)", "deploy-pipeline (app id ...)", "app id ..."
    time: datetime  # UTC
    caller_id: str = ""  # the caller's object id (its token's oid, or the principal its role assignment names)

    @property
    def deleted(self) -> bool:
        return self.operation.lower().endswith("/delete")

    @property
    def resource_name(self) -> str:
        return last_segment(self.resource_id)

    def who(self, names: bool) -> str:
        """The caller by name (`names`), else by object id."""
        if names:
            return self.caller
        return f"object id {self.caller_id}" if self.caller_id else "a caller without object id"

    @property
    def resource_label(self) -> str:
        """The resource by name, with the resources it is part of, its resource group and subscription: two
        hubs' rule collection groups are both called DefaultApplicationRuleCollectionGroup."""
        parts = self.resource_id.split("/")
        parents = [f"{parts[at]} {parts[at + 1]}" for at in range(7, len(parts) - 2, 2)]  # type/name pairs
        where = [f"in {' / '.join(parents)}"] if parents else []
        where += [f"resource group {parts[4]}", f"subscription {parts[2]}"]
        return f"{self.resource_name} ({', '.join(where)})"

    def describe(self, names: bool) -> str:
        return f"{self.operation} on {self.resource_label} by {self.who(names)} at {self.time:%H:%M:%S} UTC"

    def to_json(self, names: bool = True) -> dict[str, str]:
        """The change as JSON; without `names` the caller's name is replaced by its object id."""
        return {**asdict(self), "caller": self.who(names), "time": self.time.isoformat()}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ResourceChange:
        return cls(**{**document, "time": datetime.fromisoformat(document["time"])})


def read_event(
    event_id: str | None,
    event_type: str | None,
    subject: str | None,
    event_time: datetime | None,
    data: Any,
) -> ResourceChange | None:
    """The change an event announces; None for an event of a kind the app does not watch (the event
    subscription's filter should keep those away); ChangeEventError when a watched event is malformed."""
    if event_type not in EVENT_TYPES:
        return None
    if not isinstance(data, Mapping):
        raise ChangeEventError(f"event {event_id}: 'data' should be an object, not {type(data).__name__}")
    operation, resource_id = data.get("operationName"), data.get("resourceUri") or subject
    if not isinstance(operation, str) or "/" not in operation:
        raise ChangeEventError(
            f"event {event_id}: 'data.operationName' should be an operation like '<provider>/<type>/write'"
        )
    if not operation.lower().startswith(OPERATION_PREFIXES):
        return None
    if not isinstance(resource_id, str) or not RESOURCE_ID.match(resource_id):
        raise ChangeEventError(
            f"event {event_id}: 'data.resourceUri' is not an Azure resource id: {str(resource_id)[:200]!r}"
        )
    if not event_id:
        raise ChangeEventError(f"event of {resource_id}: no 'id'")
    claims = data.get("claims")
    authorization = data.get("authorization")
    return ResourceChange(
        event_id=str(event_id),
        operation=operation,
        resource_id=resource_id,
        caller=caller_of(
            claims if isinstance(claims, Mapping) else {},
            authorization if isinstance(authorization, Mapping) else {},
        ),
        time=(event_time or datetime.now(UTC)).astimezone(UTC),
        caller_id=caller_id_of(
            claims if isinstance(claims, Mapping) else {},
            authorization if isinstance(authorization, Mapping) else {},
        ),
    )


def caller_id_of(claims: Mapping[str, Any], authorization: Mapping[str, Any]) -> str:
    """The caller's object id: the token's `oid` claim, else the principal the role assignment names."""
    claimed = next((claims[key] for key in OBJECT_ID_CLAIMS if isinstance(claims.get(key), str)), "")
    evidence = authorization.get("evidence")
    principal = evidence.get("principalId") if isinstance(evidence, Mapping) else None
    return str(claimed or principal or "")


def caller_of(claims: Mapping[str, Any], authorization: Mapping[str, Any]) -> str:
    """Who made the call: a person by name (and UPN), an application by the managed identity's name and its
    app id, or the principal id the role assignment names when the claims say nothing."""
    values = {key: str(value) for key, value in claims.items() if isinstance(value, str | int) and str(value)}
    person = next((values[key] for key in NAME_CLAIMS if key in values), "")
    upn = values.get("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn") or values.get("upn", "")
    app_id = values.get("appid") or values.get("azp", "")
    if person:
        return f"{person} ({upn})" if upn and upn != person else person
    if app_id:
        identity = last_segment(values.get("xms_mirid", ""))  # a managed identity's own resource id
        return f"{identity} (app id {app_id})" if identity else f"app id {app_id}"
    evidence = authorization.get("evidence")
    principal = evidence.get("principalId") if isinstance(evidence, Mapping) else None
    return f"principal {principal}" if principal else "an unknown caller"


def cluster_of(resource_id: str) -> str | None:
    """The managed cluster a change is to (the cluster itself or one of its agent pools), else None."""
    parts = resource_id.split("/")
    if len(parts) >= 9 and f"{parts[6]}/{parts[7]}".lower() == CLUSTER_TYPE:
        return "/".join(parts[:9])
    return None


def lookup_ids(resource_id: str) -> list[str]:
    """The id and its parents, most specific first: a rule collection group, a subnet or a security rule is
    looked up in the reference index as itself and as the policy, VNet or NSG that holds it."""
    parts = resource_id.rstrip("/").split("/")
    return ["/".join(parts[:end]).lower() for end in range(len(parts), 8, -2)]
