"""What a check is, and what its `evaluate` returns (the engine turns that into a `model.finding.Finding`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from model.finding import Severity, Status
from model.snapshot import ClusterSnapshot, Source


@dataclass(frozen=True)
class Verdict:
    """What a check's `evaluate` decides; the engine adds the check's metadata to make a Finding."""

    status: Status
    title: str
    detail: str = ""
    remediation: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)


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
