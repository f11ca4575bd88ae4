"""helm-history: releases that keep too many revisions (every revision is an object the API server lists).

Verdict rules (thresholds are `Limits`): revisions per release (namespace + release) from Helm 3
secrets `owner=helm` (`sh.helm.release.v1.<release>.v<N>`) and Helm 2 configmaps `OWNER=TILLER`.
fail: a release stores > fail_revisions. warn: > warn_revisions (Helm's default --history-max).
pass otherwise. skipped: no Secret/ConfigMap listing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from checks.check import Check, Verdict
from model.finding import Severity, Status
from model.snapshot import ClusterSnapshot, Source

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/"
    "tcp-timeouts-kubetctl-third-party-tools-connect-api-server"
)


@dataclass(frozen=True)
class Limits:
    warn_revisions: int = 10
    """stored revisions of one release above which helm-history warns (Helm's default `--history-max`)"""
    fail_revisions: int = 50
    """stored revisions of one release above which helm-history fails"""


def evaluate(snapshot: ClusterSnapshot, limits: Limits) -> Verdict:
    revisions = snapshot.helm_revisions or ()
    counts = Counter((r.namespace, r.release, r.storage) for r in revisions)
    ranked = counts.most_common()
    evidence = {
        "releases": [
            {"namespace": ns, "release": rel, "storage": st, "revisions": n} for (ns, rel, st), n in ranked[:20]
        ]
    }
    over_fail = [(key, n) for key, n in ranked if n > limits.fail_revisions]
    over_warn = [(key, n) for key, n in ranked if n > limits.warn_revisions]
    if not over_warn:
        top = f"; most: {ranked[0][0][1]} with {ranked[0][1]}" if ranked else ""
        return Verdict(
            Status.PASS,
            f"{len(counts)} Helm release(s), none above {limits.warn_revisions} revisions",
            f"{len(revisions)} stored revisions{top}",
            "",
            evidence,
        )
    worst = over_fail or over_warn
    listed = _names(worst)
    more = f" and {len(worst) - 5} more" if len(worst) > 5 else ""
    if over_fail and len(over_warn) > len(over_fail):
        more += f"; also above {limits.warn_revisions}: {_names(over_warn[len(over_fail) :])}"
    fixes = []
    for (ns, release, storage), _ in worst[:3]:
        if storage == "secret":
            fixes.append(f"helm upgrade {release} <chart> -n {ns} --reuse-values --history-max {limits.warn_revisions}")
        else:
            fixes.append(
                f"helm init --history-max {limits.warn_revisions} --upgrade  # Helm 2 (Tiller), then the next upgrade of {release} prunes"
            )
    status = Status.FAIL if over_fail else Status.WARN
    bound = limits.fail_revisions if over_fail else limits.warn_revisions
    return Verdict(
        status,
        f"{len(worst)} Helm release(s) keep more than {bound} revisions",
        f"{listed}{more}. Every stored revision is a Secret/ConfigMap that clients list and watch.",
        "; ".join(fixes) + "; set --history-max in every pipeline that runs helm upgrade",
        evidence,
    )


def _names(releases: list[tuple[tuple[str, str, str], int]]) -> str:
    return ", ".join(
        f"{ns}/{release} ({n} revisions, Helm {'3' if st == 'secret' else '2'})"
        for (ns, release, st), n in releases[:5]
    )


CHECK = Check(
    id="helm-history",
    title="Helm release history",
    severity=Severity.MEDIUM,
    docs=DOCS,
    evaluate=evaluate,
    requires=(Source.HELM,),
    limits=Limits,
)
