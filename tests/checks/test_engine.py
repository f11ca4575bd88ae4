"""The engine's promises: one finding per check in order, missing input -> skipped, failed collection -> error,
a crashing check -> error (and the other checks still run)."""

from __future__ import annotations

from dataclasses import dataclass

from checks.check import Check, Verdict
from checks.engine import HOW_TO_COLLECT, evaluate_cluster
from model.finding import Severity, Status
from model.snapshot import ClusterSnapshot, Problem, Source
from tests.builders import make_snapshot


@dataclass(frozen=True)
class Limits:
    max_pods: int = 2


def count_pods(snapshot: ClusterSnapshot, limits: Limits) -> Verdict:
    too_many = len(snapshot.pods) > limits.max_pods
    return Verdict(Status.FAIL if too_many else Status.PASS, f"{len(snapshot.pods)} pods", evidence={"n": 1})


def crash(snapshot: ClusterSnapshot, limits: object) -> Verdict:
    raise KeyError("boom")


PODS = Check("pods", "Pod count", Severity.LOW, "https://learn.microsoft.com/x", count_pods, (Source.PODS,), Limits)
CRASH = Check("crash", "Crashes", Severity.HIGH, "https://learn.microsoft.com/y", crash)


def test_missing_source_is_skipped_with_how_to_collect_it() -> None:
    (finding,) = evaluate_cluster(make_snapshot(), [PODS], {})
    assert finding.status is Status.SKIPPED and "kube:pods" in finding.title
    assert finding.remediation == HOW_TO_COLLECT[Source.PODS]
    assert (finding.check, finding.severity, finding.docs) == ("pods", Severity.LOW, "https://learn.microsoft.com/x")


def test_failed_collection_is_an_error_naming_it() -> None:
    snapshot = make_snapshot(problems={Source.PODS: Problem("error", "403 Forbidden: pods is forbidden")})
    (finding,) = evaluate_cluster(snapshot, [PODS], {})
    assert finding.status is Status.ERROR and finding.detail == "403 Forbidden: pods is forbidden"


def test_unavailable_source_is_skipped_with_the_reason() -> None:
    snapshot = make_snapshot(problems={Source.PODS: Problem("unavailable", "API server not reachable: timeout")})
    (finding,) = evaluate_cluster(snapshot, [PODS], {})
    assert finding.status is Status.SKIPPED and "API server not reachable: timeout" in finding.detail


def test_limits_come_from_settings_or_defaults() -> None:
    snapshot = make_snapshot(pods=(object(),) * 3)  # type: ignore[arg-type]
    assert evaluate_cluster(snapshot, [PODS], {})[0].status is Status.FAIL
    assert evaluate_cluster(snapshot, [PODS], {"pods": Limits(max_pods=5)})[0].status is Status.PASS


def test_a_crashing_check_is_an_error_and_the_others_still_run() -> None:
    findings = evaluate_cluster(make_snapshot(pods=()), [CRASH, PODS], {})
    assert [f.check for f in findings] == ["crash", "pods"]
    assert findings[0].status is Status.ERROR and "KeyError" in findings[0].detail
    assert findings[1].status is Status.PASS
