"""Runs every check on a snapshot: exactly one finding per check id, in registry order."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from checks.check import Check, InputMissing, Verdict
from model.finding import Finding, Status
from model.snapshot import ClusterSnapshot, Source

log = logging.getLogger(__name__)

# How to get each source when it is missing: the skipped finding's remediation.
HOW_TO_COLLECT: Mapping[Source, str] = {
    Source.NETWORK: "Collect network resources (live run with Reader on the cluster's subscription and on the "
    "connectivity subscription holding its hub: VNets, NSGs, route tables, firewalls, policies, private DNS zones), "
    "or add `az network ... show -o json` exports under network/ in the snapshot.",
    Source.PODS: "Grant the checker the reads of infra/kubernetes/aks-api-reach-reader.yaml (Kubernetes RBAC) or "
    "the AKS API Reach Kubernetes Reader role (Azure RBAC), or add `kubectl get pods -n kube-system -o json` under kube/.",
    Source.NODES: "Add `kubectl get nodes -o json` under kube/.",
    Source.NODE_METRICS: "Add `kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes` under kube/.",
    Source.EVENTS: "Add `kubectl get events -n kube-system --field-selector type=Warning -o json` under kube/.",
    Source.HELM: "Add `kubectl get secrets -A -l owner=helm -o json` (values are not needed: "
    "`kubectl get secrets -A -l owner=helm -o json | jq 'del(.items[].data)'`) and "
    "`kubectl get configmaps -n kube-system -l OWNER=TILLER -o json` under kube/.",
    Source.POD_LOGS: "Add `kubectl logs -n kube-system <tunnel pod> --tail 200` under kube/logs/kube-system/.",
    Source.AUDIT: "Send the API server audit log to a Log Analytics workspace: `az monitor diagnostic-settings "
    "create --name aks-audit --resource <cluster id> --workspace <workspace id> "
    '--logs \'[{"category":"kube-audit-admin","enabled":true},{"category":"kube-audit","enabled":true}]\'`; '
    "then run the `apiserver-requests` query (`python -m sweep queries`).",
    Source.APISERVER_PROBE: "Run the sweep live (it probes the API server), or add probes.json to the snapshot.",
    Source.KUBELET_PROBE: "Run the sweep live, or add the kubelet results to probes.json.",
    Source.CONTEXT: 'Fix context.json: {"clients": [{"name": "...", "ips": ["<cidr>"], "vnet": "<vnet id>"}]}.',
}


def run_check(check: Check, snapshot: ClusterSnapshot, limits: Any) -> Finding:
    """One check on one snapshot; never raises: an exception becomes an `error` finding."""
    verdict = _missing_input(check, snapshot)
    if verdict is None:
        try:
            verdict = check.evaluate(snapshot, limits)
        except InputMissing as missing:
            verdict = missing_source_verdict(check, snapshot, missing.source)
        except Exception as exc:  # a bug or an unexpected input shape must not cost the other checks
            log.exception("check %s failed on %s", check.id, snapshot.cluster.id)
            verdict = Verdict(
                Status.ERROR,
                f"{check.title}: evaluation failed",
                detail=f"{type(exc).__name__}: {exc}",
                remediation="Report this with the cluster's snapshot (--save-snapshot) attached.",
            )
    return Finding(
        check=check.id,
        status=verdict.status,
        severity=check.severity,
        title=verdict.title,
        detail=verdict.detail,
        remediation=verdict.remediation,
        evidence=verdict.evidence,
        docs=check.docs,
        root_causes=verdict.root_causes if verdict.status in (Status.FAIL, Status.WARN) else (),
    )


def evaluate_cluster(snapshot: ClusterSnapshot, checks: Iterable[Check], limits: Mapping[str, Any]) -> list[Finding]:
    return [run_check(check, snapshot, limits.get(check.id) or check.limits()) for check in checks]


def error_findings(checks: Iterable[Check], message: str) -> list[Finding]:
    """A cluster whose collection failed as a whole still gets one finding per check."""
    return [
        Finding(
            check=check.id,
            status=Status.ERROR,
            severity=check.severity,
            title=f"{check.title}: not evaluated",
            detail=message,
            remediation="Fix the collection error above and run the check again.",
            evidence={},
            docs=check.docs,
        )
        for check in checks
    ]


def _missing_input(check: Check, snapshot: ClusterSnapshot) -> Verdict | None:
    missing = next((source for source in check.requires if not snapshot.collected(source)), None)
    return missing_source_verdict(check, snapshot, missing) if missing else None


def missing_source_verdict(check: Check, snapshot: ClusterSnapshot, source: Source) -> Verdict:
    """`error` when collecting `source` failed, otherwise `skipped` saying why it is missing and how to get it."""
    problem = snapshot.problems.get(source)
    if problem is not None and problem.kind == "error":
        return Verdict(
            Status.ERROR,
            f"{check.title}: could not collect {source.value}",
            detail=problem.message,
            remediation="Fix the collection error and run the check again.",
            evidence={"source": source.value},
        )
    why = problem.message if problem else "not in the snapshot"
    return Verdict(
        Status.SKIPPED,
        f"{check.title}: {source.value} not collected",
        detail=f"{source.value}: {why}.",
        remediation=HOW_TO_COLLECT[source],
        evidence={"source": source.value},
    )
