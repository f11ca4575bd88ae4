"""Exemptions as values, and the pure rules that match them to clusters and apply them to findings.

A `MuteRule` comes from an entry of the mute list (sweep/core/mutes.py reads and validates the file) or from
a cluster's self-service tag (`tag_rules`, when the platform team allows it). Applying rules never
changes a finding's status: an active rule adds `muted`; an expired one adds `expired_mute` and a first
sentence to the detail ("Exemption expired on ..."), so every report, event and card says so.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from model.arm_ids import subscription_of
from model.finding import ClusterResult, Finding, Mute
from model.snapshot import Cluster, frozen_map

ALL_CHECKS = "*"
TAG_ENTRY_SEPARATOR = ";"


@dataclass(frozen=True)
class MuteRule:
    """Which findings an exemption covers. Selectors of different kinds must all match (AND); the values
    of one kind are alternatives (OR); patterns are shell globs, compared case-insensitively."""

    label: str  # names the rule in reports and errors: "entry 2 (legacy-helm)", "tag aks-reach-mute"
    checks: frozenset[str]  # check ids, or "*" for every check
    reason: str
    expires: date | None = None  # the last day the rule mutes (UTC); None: until removed
    clusters: tuple[str, ...] = ()  # a pattern with "/" matches the ARM id, one without the cluster name
    subscriptions: tuple[str, ...] = ()
    resource_groups: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=frozen_map)  # tag name -> value pattern

    def matches(self, cluster: Cluster) -> bool:
        if self.clusters and not any(_glob(cluster.id if "/" in p else cluster.name, p) for p in self.clusters):
            return False
        if self.subscriptions and not any(_glob(cluster.subscription, p) for p in self.subscriptions):
            return False
        if self.resource_groups and not any(_glob(cluster.resource_group, p) for p in self.resource_groups):
            return False
        tags = {name.lower(): value for name, value in cluster.tags.items()}  # Azure tag names ignore case
        return all(name.lower() in tags and _glob(tags[name.lower()], p) for name, p in self.tags.items())

    @property
    def broad(self) -> bool:
        """Mutes every check, or never ends: such a rule must not reach clusters it was not written for."""
        return ALL_CHECKS in self.checks or self.expires is None

    @property
    def anchored(self) -> bool:
        """Names its clusters by subscription: every `subscriptions` pattern a literal id, or every cluster
        pattern an ARM id whose subscription is literal. A cluster name, a resource group name or a tag can be
        repeated in any subscription, and tags are set by whoever may write the cluster: its owners."""
        if self.subscriptions:
            return all(_literal(pattern) for pattern in self.subscriptions)
        return bool(self.clusters) and all(_literal(subscription_of(pattern)) for pattern in self.clusters)

    def covers(self, check: str) -> bool:
        return ALL_CHECKS in self.checks or check in self.checks

    def active_on(self, today: date) -> bool:
        return self.expires is None or today <= self.expires

    def as_mute(self) -> Mute:
        return Mute(reason=self.reason, source=self.label, expires=self.expires)


def _glob(value: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def _literal(pattern: str) -> bool:
    """A non-empty pattern without glob characters: it matches one value."""
    return bool(pattern) and not any(char in pattern for char in "*?[")


@dataclass(frozen=True)
class MutedResult:
    result: ClusterResult
    matched: frozenset[str]  # labels of the mute-list rules that matched the cluster


def apply_mutes(result: ClusterResult, rules: Sequence[MuteRule], today: date) -> MutedResult:
    """The result with each finding muted by the first active rule that covers it; a finding covered only
    by expired rules says so. A rule's match is recorded even when it covers none of the findings."""
    matching = [rule for rule in rules if rule.matches(result.cluster)]
    findings = tuple(_muted(finding, matching, today) for finding in result.findings)
    return MutedResult(replace(result, findings=findings), frozenset(rule.label for rule in matching))


def _muted(finding: Finding, rules: Iterable[MuteRule], today: date) -> Finding:
    covering = [rule for rule in rules if rule.covers(finding.check)]
    active = next((rule for rule in covering if rule.active_on(today)), None)
    if active is not None:
        return replace(finding, muted=active.as_mute())
    if not covering:
        return finding
    expired = max(covering, key=lambda rule: rule.expires or today)  # the most recent expiry is the news
    note = f"Exemption expired on {expired.expires}: {expired.reason} ({expired.label})."
    return replace(finding, expired_mute=expired.as_mute(), detail=f"{note} {finding.detail}".strip())


# --- owners' self-service tag ----------------------------------------------------------------------------


class TagMuteError(ValueError):
    """The cluster's mute tag cannot be read; the message says which part and what is expected."""


def tag_rules(cluster: Cluster, tag_name: str, known_checks: Iterable[str]) -> list[MuteRule]:
    """Rules from the cluster's mute tag: `<check>[,<check>...]:<YYYY-MM-DD>:<reason>`, entries separated
    by ";". The expiry is required: an owner's exemption always ends. No tag: no rules."""
    value = next((v for name, v in cluster.tags.items() if name.lower() == tag_name.lower()), "").strip()
    if not value:
        return []
    known = frozenset(known_checks)
    label = f"tag {tag_name}"
    rules = []
    for entry in filter(None, (part.strip() for part in value.split(TAG_ENTRY_SEPARATOR))):
        parts = [part.strip() for part in entry.split(":", 2)]
        if len(parts) < 3 or not all(parts):
            raise TagMuteError(f"{label}: {entry!r} is not <check>[,<check>]:<YYYY-MM-DD>:<reason>")
        checks = frozenset(check.strip() for check in parts[0].split(",") if check.strip())
        unknown = sorted(checks - known)
        if unknown:
            raise TagMuteError(f"{label}: unknown check {', '.join(map(repr, unknown))} in {entry!r}")
        try:
            expires = date.fromisoformat(parts[1])
        except ValueError:
            raise TagMuteError(f"{label}: {parts[1]!r} in {entry!r} is not a date (YYYY-MM-DD)") from None
        rules.append(MuteRule(label=label, checks=checks, reason=parts[2], expires=expires, clusters=(cluster.id,)))
    return rules
