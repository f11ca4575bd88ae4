"""What a check returns, and what a check is."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from collect.model import Cluster, ClusterSnapshot, Source


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
class Verdict:
    """What a check's `evaluate` decides; the engine adds the check's metadata to make a Finding."""

    status: Status
    title: str
    detail: str = ""
    remediation: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status.value,
            "severity": self.severity.value,
            "title": self.title,
            "detail": self.detail,
            "remediation": self.remediation,
            "evidence": dict(self.evidence),
            "docs": self.docs,
        }


class NoLimits:
    """For checks without tunable thresholds."""


@dataclass(frozen=True)
class Check:
    """A check's metadata and its pure `evaluate(snapshot, limits) -> Verdict`.

    `requires`: sources without which the check cannot judge; the engine turns a missing one
    into `skipped` (or `error` when its collection failed) before `evaluate` is called.
    `limits`: a frozen dataclass of thresholds with defaults; each field is an app setting
    named `AKS_REACH_<CHECK_ID>_<FIELD>` (upper case, dashes as underscores).
    """

    id: str
    title: str
    severity: Severity
    docs: str
    evaluate: Callable[[ClusterSnapshot, Any], Verdict]
    requires: tuple[Source, ...] = ()
    limits: type = NoLimits


@dataclass(frozen=True)
class ClusterResult:
    """One cluster's findings, one per check id in registry order, with whom to tell."""

    cluster: Cluster
    owners: tuple[str, ...]
    findings: tuple[Finding, ...]
    input_error: str | None = None  # set when the cluster's input could not be read (snapshot or live body)

    @property
    def failed(self) -> bool:
        return any(finding.status is Status.FAIL for finding in self.findings)
