"""Results as Application Insights custom events, through the Azure Monitor OpenTelemetry distro.

One `AksApiReachFinding` event per finding, one `AksApiReachRootCause` event per root cause of a sweep (the
estate view: `model/estate.py`) and one `AksApiReachSweep` event per sweep, queryable
in `customEvents` (infra/workbook.json reads exactly these names). A log record that carries the
attribute `microsoft.custom_event.name` is exported as a customEvent; every property is a string,
cut at Application Insights' limit.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from model.estate import EstateCause, estate_causes
from model.finding import ClusterResult, Finding
from publish.json_report import summary

FINDING_EVENT = "AksApiReachFinding"
ROOT_CAUSE_EVENT = "AksApiReachRootCause"
SWEEP_EVENT = "AksApiReachSweep"
EVENT_NAME_ATTRIBUTE = "microsoft.custom_event.name"
LOGGER_NAME = "aks_api_reach.events"
PROPERTY_LIMIT = 8192

FINDING_PROPERTIES = (
    "check",
    "status",
    "severity",
    "title",
    "detail",
    "remediation",
    "evidence",
    "docs",
    "clusterId",
    "clusterName",
    "subscription",
    "resourceGroup",
    "location",
    "owners",
    "sweepId",
    "resultId",
    "muted",  # "true" when an exemption mutes the finding (its status stands): no Teams card, no alert
    "muteReason",
    "muteExpires",  # YYYY-MM-DD, or "" for an exemption without end
    "muteSource",
    "exemptionExpired",  # YYYY-MM-DD when an exemption that covered the finding has expired
    "rootCauses",  # the keys of the root causes the finding names (model/root_cause.py), space-separated
)
ROOT_CAUSE_PROPERTIES = (
    "sweepId",
    "key",
    "kind",
    "causeName",  # for people: the resource, its resource group and the part ("name" is taken by log records)
    "resourceId",
    "resourceSubscription",  # the subscription holding the resource at fault ("" for a client)
    "part",
    "status",
    "checks",  # comma-separated
    "summary",
    "fix",
    "items",  # JSON list: what it lacks or denies
    "clusterCount",
    "subscriptionCount",
    "subscriptions",  # comma-separated subscriptions of the affected clusters
    "clusterIds",  # comma-separated (cut at the property limit; clusterCount is exact)
)
SWEEP_PROPERTIES = ("sweepId", "clusters", "rootCauses", "pass", "fail", "warn", "skipped", "error", "muted")


def result_id(sweep_id: str, cluster_id: str) -> str:
    """The same for every delivery of one cluster's result in one sweep (a UUID 5 of both ids), so queries
    can drop a redelivered result's repeated events: one event per `resultId` and `check`."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aks-api-reach:{sweep_id}:{cluster_id.strip().lower()}"))


def finding_properties(result: ClusterResult, finding: Finding, sweep_id: str) -> dict[str, str]:
    cluster = result.cluster
    mute = finding.muted
    expired = finding.expired_mute
    values: dict[str, Any] = {
        **finding.to_dict(),
        "evidence": json.dumps(dict(finding.evidence), sort_keys=True),
        "clusterId": cluster.id,
        "clusterName": cluster.name,
        "subscription": cluster.subscription,
        "resourceGroup": cluster.resource_group,
        "location": cluster.location,
        "owners": ",".join(result.owners),
        "sweepId": sweep_id,
        "resultId": result_id(sweep_id, cluster.id),
        "muted": "true" if mute else "false",
        "muteReason": mute.reason if mute else "",
        "muteExpires": mute.expires.isoformat() if mute and mute.expires else "",
        "muteSource": mute.source if mute else "",
        "exemptionExpired": expired.expires.isoformat() if expired and expired.expires else "",
        "rootCauses": " ".join(cause.key for cause in finding.root_causes),
    }
    return {name: str(values[name])[:PROPERTY_LIMIT] for name in FINDING_PROPERTIES}


def root_cause_properties(group: EstateCause, sweep_id: str) -> dict[str, str]:
    cause = group.cause
    values: dict[str, Any] = {
        "sweepId": sweep_id,
        "key": cause.key,
        "kind": cause.kind.value,
        "causeName": cause.name,
        "resourceId": cause.resource_id,
        "resourceSubscription": cause.subscription,
        "part": cause.part,
        "status": group.status.value,
        "checks": ",".join(group.checks),
        "summary": cause.summary,
        "fix": cause.fix,
        "items": json.dumps(list(cause.items)),
        "clusterCount": len(group.affected),
        "subscriptionCount": len(group.subscriptions),
        "subscriptions": ",".join(group.subscriptions),
        "clusterIds": ",".join(cluster.id for cluster in group.clusters),
    }
    return {name: str(values[name])[:PROPERTY_LIMIT] for name in ROOT_CAUSE_PROPERTIES}


def sweep_properties(counts: Mapping[str, int], sweep_id: str) -> dict[str, str]:
    return {"sweepId": sweep_id, **{name: str(counts.get(name, 0)) for name in SWEEP_PROPERTIES[1:]}}


class EventPublisher:
    """Writes the events to a logger that the Azure Monitor distro exports (see `configure_exporter`)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def publish(self, results: Sequence[ClusterResult], sweep_id: str) -> int:
        """A whole sweep at once (the CLI): every finding, every root cause, then the sweep's summary."""
        sent = sum(self.publish_result(result, sweep_id) for result in results)
        groups = estate_causes(results)
        self.publish_root_causes(groups, sweep_id)
        self.publish_sweep({**summary(results), "rootCauses": len(groups)}, sweep_id)
        return sent + len(groups) + 1

    def publish_root_causes(self, groups: Sequence[EstateCause], sweep_id: str) -> None:
        for group in groups:
            self._emit(ROOT_CAUSE_EVENT, root_cause_properties(group, sweep_id))

    def publish_result(self, result: ClusterResult, sweep_id: str) -> int:
        for finding in result.findings:
            self._emit(FINDING_EVENT, finding_properties(result, finding, sweep_id))
        return len(result.findings)

    def publish_sweep(self, counts: Mapping[str, int], sweep_id: str) -> None:
        """The event that closes a sweep: clusters checked, root causes and findings per status."""
        self._emit(SWEEP_EVENT, sweep_properties(counts, sweep_id))

    def _emit(self, name: str, properties: dict[str, str]) -> None:
        self._logger.info(name, extra={EVENT_NAME_ATTRIBUTE: name, **properties})


@functools.cache
def configure_exporter(connection_string: str) -> tuple[EventPublisher, Any]:
    """A log pipeline to Application Insights for the events logger alone; returns the publisher and the
    provider to flush. Configured once per process and connection string.

    Not the distro's `configure_azure_monitor`: even with tracing disabled it instruments requests, urllib3
    and the Azure SDK, so dependency and exception telemetry would carry ARM, Kubernetes and webhook URLs
    (legacy Teams connector URLs hold their secret in the path). Here no tracer, meter or instrumentation
    exists, and only records of the events logger reach the exporter: Application Insights receives the
    custom events and nothing else (the Functions host reports the app's requests and logs itself)."""
    from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter  # import here: only with telemetry on
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    # A run that ends must not leave events to resend from disk: no offline storage.
    exporter = AzureMonitorLogExporter(connection_string=connection_string, disable_offline_storage=True)
    provider = LoggerProvider()
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    set_logger_provider(provider)  # so a host that shuts OpenTelemetry down flushes it too
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers = [LoggingHandler(level=logging.INFO, logger_provider=provider)]
    logger.setLevel(logging.INFO)
    logger.propagate = False  # events are telemetry, not console output
    return EventPublisher(logger), provider
