"""What checks produce and every sink publishes: findings, and one cluster's result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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
