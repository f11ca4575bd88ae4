"""The JSON report (`--format json`, the HTTP check's answer); its schema is publish/report.schema.json."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from model.finding import ClusterResult, Status


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
    counts = Counter(finding.status for result in results for finding in result.findings)
    return {"clusters": len(results), **{status.value: counts.get(status, 0) for status in Status}}


def report_document(results: Sequence[ClusterResult], generated_at: datetime) -> dict[str, Any]:
    return {
        "generatedAt": generated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "clusters": [cluster_document(result) for result in results],
        "summary": summary(results),
    }
