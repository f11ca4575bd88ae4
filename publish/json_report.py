"""The JSON report (`--format json`, the HTTP check's answer); its schema is publish/report.schema.json."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from model.estate import estate_causes
from model.finding import ClusterResult, Status

# 2: findings may carry `muted` / `exemptionExpired`, the summary counts `muted` apart, `mutes` reports the list.
# 3: `rootCauses` (the estate view, largest first), findings' `rootCauses`, the summary counts `rootCauses`.
REPORT_VERSION = 3


def cluster_document(result: ClusterResult) -> dict[str, Any]:
    cluster = result.cluster
    return {
        "id": cluster.id,
        "name": cluster.name,
        "subscription": cluster.subscription,
        "resourceGroup": cluster.resource_group,
        "location": cluster.location,
        "owners": list(result.owners),
        "findings": [finding.to_dict() for finding in result.findings],
    }


def summary(results: Sequence[ClusterResult]) -> dict[str, int]:
    """Findings per status, muted findings counted apart (whatever their status): the counts add up."""
    findings = [finding for result in results for finding in result.findings]
    counts = Counter(finding.status for finding in findings if not finding.muted)
    return {
        "clusters": len(results),
        **{status.value: counts.get(status, 0) for status in Status},
        "muted": sum(1 for finding in findings if finding.muted),
    }


def run_summary(results: Sequence[ClusterResult]) -> dict[str, int]:
    """The report's summary: `summary` and the number of root causes next to the clusters."""
    return {**summary(results), "rootCauses": len(estate_causes(results))}


def report_document(
    results: Sequence[ClusterResult], generated_at: datetime, mutes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """`mutes`: what the run made of its mute list (unused and expired entries, unreadable tags), if any."""
    causes = estate_causes(results)
    document = {
        "reportVersion": REPORT_VERSION,
        "generatedAt": generated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rootCauses": [cause.to_dict() for cause in causes],
        "clusters": [cluster_document(result) for result in results],
        "summary": {**summary(results), "rootCauses": len(causes)},
    }
    if mutes is not None:
        document["mutes"] = dict(mutes)
    return document
