"""What checks produce and every sink publishes: findings, and one cluster's result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from model.root_cause import RootCause
from model.snapshot import Cluster


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIPPED = "skipped"
    ERROR = "error"


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


@dataclass(frozen=True)
class Mute:
    """An exemption that applies to a finding: why, until when (None: no end), and where it was declared."""

    reason: str
    source: str  # "mute list entry 2 (legacy-helm)", or "tag aks-reach-mute"
    expires: date | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "expires": self.expires.isoformat() if self.expires else None,
            "source": self.source,
        }


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    severity: Severity
    title: str
    detail: str
    remediation: str
    evidence: Mapping[str, Any]
    docs: str
    # The shared resources or actors at fault (model/root_cause.py); empty when the cause is the cluster's own.
    root_causes: tuple[RootCause, ...] = ()
    # Set after evaluation (sweep/core/mutes.py): an active exemption keeps the status and mutes the finding;
    # an expired one mutes nothing and is named so the owners hear of the finding again.
    muted: Mute | None = None
    expired_mute: Mute | None = None

    def to_dict(self) -> dict[str, Any]:
        document = {
            "check": self.check,
            "status": self.status.value,
            "severity": self.severity.value,
            "title": self.title,
            "detail": self.detail,
            "remediation": self.remediation,
            "evidence": dict(self.evidence),
            "docs": self.docs,
        }
        if self.root_causes:
            document["rootCauses"] = [cause.to_dict() for cause in self.root_causes]
        if self.muted:
            document["muted"] = self.muted.to_dict()
        if self.expired_mute:
            document["exemptionExpired"] = self.expired_mute.to_dict()
        return document


@dataclass(frozen=True)
class ClusterResult:
    """One cluster's findings, one per check id in registry order, with whom to tell."""

    cluster: Cluster
    owners: tuple[str, ...]
    findings: tuple[Finding, ...]
    input_error: str | None = None  # set when the cluster's input could not be read (snapshot or live body)

    @property
    def failed(self) -> bool:
        """A failing finding that no exemption mutes: what makes the CLI exit 1."""
        return any(finding.status is Status.FAIL and not finding.muted for finding in self.findings)
