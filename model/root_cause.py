"""The shared resource or actor a finding's cause lies in, as structured data: what an estate's findings group by.

A hub firewall policy that lacks the AKS rules breaks every spoke behind it; one NSG rule, one route, one
private DNS zone missing a link, one peering, one client leaking LIST calls can each break many clusters.
A check that finds such a cause names it as a `RootCause`; a cause that is the cluster's own setting (its
authorized IP ranges, its own tunnel pods) names none.

The key is stable across sweeps and never taken from free text a tenant controls: the kind, the ARM id of the
resource at fault lower-cased, and the part of it that is wrong (a rule or route name, the VNet a link is
missing for, lower-cased), or for a client its user agent reduced to name and version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from model.arm_ids import last_segment, subscription_of

MAX_AGENT_CHARS = 120  # a user agent's name/version beyond this is not a client anyone would name


class CauseKind(StrEnum):
    FIREWALL = "firewall"  # resource: the firewall policy (or a classic firewall) that lacks the flows
    NSG_RULE = "nsg-rule"  # resource: the NSG; part: the rule that denies
    ROUTE = "route"  # resource: the route table; part: the route
    PRIVATE_DNS_LINK = "private-dns-link"  # resource: the private DNS zone; part: the VNet without a link
    PEERING = "peering"  # resource: the VNet; part: the peering (or the remote VNet) that does not carry
    USER_AGENT = "user-agent"  # no resource; part: the client, as `normalised_user_agent` gives it


# What people call the resource and the part of each kind.
_LABELS: dict[CauseKind, tuple[str, str]] = {
    CauseKind.FIREWALL: ("firewall", ""),
    CauseKind.NSG_RULE: ("NSG", "rule"),
    CauseKind.ROUTE: ("route table", "route"),
    CauseKind.PRIVATE_DNS_LINK: ("private DNS zone", "no link for VNet"),
    CauseKind.PEERING: ("VNet", "peering"),
    CauseKind.USER_AGENT: ("client", ""),
}


@dataclass(frozen=True)
class RootCause:
    """What is wrong where: `kind`, `resource_id` and `part` make the key; the rest is for people and the fix.

    `items`: what the resource lacks or denies for this cluster (flows, ports); `sources`: the addresses the fix
    must admit (a spoke's node prefix); `fixes`: the commands, where `{sources}` stands for those addresses. An
    estate's group joins all three over its clusters, so its one fix admits every spoke. `related`: other ARM
    ids worth naming (the firewall of a policy), lower-cased."""

    kind: CauseKind
    resource_id: str
    part: str = ""
    summary: str = ""
    fixes: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    related: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(
        cls,
        kind: CauseKind,
        resource_id: str,
        part: str = "",
        *,
        summary: str = "",
        fixes: Iterable[str] = (),
        items: Iterable[str] = (),
        sources: Iterable[str] = (),
        related: Iterable[tuple[str, str]] = (),
    ) -> RootCause:
        """A cause with its key parts normalised (ARM ids and names lower-cased, whitespace trimmed)."""
        return cls(
            kind,
            resource_id.strip().rstrip("/").lower(),
            part.strip().lower(),
            summary,
            tuple(dict.fromkeys(fix for fix in fixes if fix)),
            tuple(dict.fromkeys(items)),
            tuple(dict.fromkeys(sources)),
            tuple((name, value.strip().rstrip("/").lower()) for name, value in related if value),
        )

    def joined(self, other: RootCause) -> RootCause:
        """This cause with `other`'s fixes, items and sources added (the same key seen twice: two flows one rule
        denies, or two clusters behind one firewall policy)."""
        return replace(
            self,
            fixes=tuple(dict.fromkeys((*self.fixes, *other.fixes))),
            items=tuple(dict.fromkeys((*self.items, *other.items))),
            sources=tuple(dict.fromkeys((*self.sources, *other.sources))),
        )

    @property
    def fix(self) -> str:
        """The command(s) that fix it, for every source this cause was seen with."""
        return "; ".join(self.fixes).replace("{sources}", " ".join(self.sources))

    @property
    def key(self) -> str:
        """`<kind>:<resource id>[#<part>]` (a client: `user-agent:<name/version>`): the same cause gives the same
        key on every sweep and cluster."""
        if not self.resource_id:
            return f"{self.kind.value}:{self.part}"
        return f"{self.kind.value}:{self.resource_id}" + (f"#{self.part}" if self.part else "")

    @property
    def subscription(self) -> str:
        """The subscription that holds the resource at fault ("" for a client): whose channel hears of it."""
        return subscription_of(self.resource_id)

    @property
    def name(self) -> str:
        """A short, unambiguous name for people: the resource's name, its resource group, and the part."""
        if self.kind is CauseKind.USER_AGENT:
            return f"client {self.part}"
        parts = self.resource_id.split("/")
        group = parts[4] if len(parts) > 4 else ""
        where = f"{last_segment(self.resource_id)} (resource group {group})" if group else self.resource_id
        label, part_label = _LABELS[self.kind]
        if self.kind is CauseKind.FIREWALL and "/firewallpolicies/" in self.resource_id:
            label = "firewall policy"
        part = f", {part_label} {last_segment(self.part)}" if self.part else ""
        return f"{label} {where}{part}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind.value,
            "resourceId": self.resource_id,
            "part": self.part,
            "summary": self.summary,
            "fix": self.fix,
            "items": list(self.items),
            "sources": list(self.sources),
            "related": dict(self.related),
        }


def normalised_user_agent(user_agent: str) -> str:
    """A client as apiserver-load names it: the user agent's first word (its name/version, as client-go builds
    it: `inventory-operator/v0.3.1 (linux/amd64) kubernetes/$Format` -> `inventory-operator/v0.3.1`), lower-cased."""
    words = user_agent.strip().split()
    return (words[0] if words else "unknown").lower()[:MAX_AGENT_CHARS]


def user_agent_cause(user_agent: str, summary: str, fix: str) -> RootCause:
    return RootCause.of(CauseKind.USER_AGENT, "", normalised_user_agent(user_agent), summary=summary, fixes=(fix,))
