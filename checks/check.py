"""What a check is (`Check`, `need`, `NoLimits`), and what its `evaluate` returns (a `Verdict`, which the engine
turns into a `model.finding.Finding`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from model.finding import Severity, Status
from model.root_cause import RootCause
from model.snapshot import ClusterSnapshot, Source


@dataclass(frozen=True)
class Verdict:
    """What a check's `evaluate` decides; the engine adds the check's metadata to make a Finding."""

    status: Status
    title: str
    detail: str = ""
    remediation: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    root_causes: tuple[RootCause, ...] = ()  # shared resources or actors at fault (fail and warn only)


T = TypeVar("T")


class InputMissing(Exception):
    """Raised by `need` when a branch of a check reads a source that was not collected; the engine turns
    it into the same `skipped` (or `error`) finding as a source missing from `Check.requires`."""

    def __init__(self, source: Source) -> None:
        super().__init__(source.value)
        self.source = source


def need(value: T | None, source: Source) -> T:
    """`value` (a snapshot field) when it was collected; otherwise stop the check: its verdict depends on
    `source`. Checks call this in the branch that reads the source, so branches that do not read it
    still judge without it (a private cluster with no declared client needs no network data)."""
    if value is None:
        raise InputMissing(source)
    return value


class NoLimits:
    """For checks without tunable thresholds."""


@dataclass(frozen=True)
class Check:
    """A check's metadata and its pure `evaluate(snapshot, limits) -> Verdict`.

    `requires`: sources without which the check cannot judge at all; the engine turns a missing one
    into `skipped` (or `error` when its collection failed) before `evaluate` is called. A source only
    some branches read is not listed here: those branches call `need(snapshot.<field>, Source.X)`.
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
