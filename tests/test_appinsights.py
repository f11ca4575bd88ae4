"""Application Insights: a sweep with a connection string sends its custom events to the ingestion endpoint.

The endpoint is a local capture server (the connection string's IngestionEndpoint); the assertions are on
the envelopes the Azure Monitor exporter actually POSTs to {IngestionEndpoint}/v2.1/track."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.registry import CHECK_IDS
from publish.appinsights import (
    FINDING_EVENT,
    FINDING_PROPERTIES,
    PROPERTY_LIMIT,
    ROOT_CAUSE_EVENT,
    ROOT_CAUSE_PROPERTIES,
    SWEEP_EVENT,
    SWEEP_PROPERTIES,
)
from tests.capture import IngestionCapture

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ingestion() -> Iterator[IngestionCapture]:
    capture = IngestionCapture()
    yield capture
    capture.stop()


def run_sweep(connection_string: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": connection_string,
        # Keep the exporter on loopback: no statsbeat, no cloud metadata probes.
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
        "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
    }
    return subprocess.run(
        [sys.executable, "-m", "sweep", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_finding_arrives_as_a_custom_event(ingestion: IngestionCapture) -> None:
    run = run_sweep(
        ingestion.connection_string(),
        "--snapshot",
        "examples/estate",
        "--format",
        "json",
    )
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert ingestion.paths and all(path.endswith("/v2.1/track") for path in ingestion.paths)
    findings = [{"properties": properties} for properties in ingestion.events(FINDING_EVENT)]
    sweeps = [{"properties": properties} for properties in ingestion.events(SWEEP_EVENT)]
    assert len(findings) == 9 * len(report["clusters"]) and len(sweeps) == 1
    for finding in findings:
        properties = finding["properties"]
        assert set(FINDING_PROPERTIES) <= set(properties)
        assert all(isinstance(value, str) and len(value) <= PROPERTY_LIMIT for value in properties.values())
        assert properties["check"] in CHECK_IDS
        json.loads(properties["evidence"])
    sweep = sweeps[0]["properties"]
    assert set(SWEEP_PROPERTIES) <= set(sweep)
    assert (
        {findings[0]["properties"]["sweepId"]} == {f["properties"]["sweepId"] for f in findings} == {sweep["sweepId"]}
    )
    assert int(sweep["fail"]) == report["summary"]["fail"] and int(sweep["clusters"]) == len(report["clusters"])
    causes = ingestion.events(ROOT_CAUSE_EVENT)
    assert [c["key"] for c in causes] == [c["key"] for c in report["rootCauses"]]
    assert int(sweep["rootCauses"]) == report["summary"]["rootCauses"] == len(causes) >= 2
    for cause in causes:
        assert set(ROOT_CAUSE_PROPERTIES) <= set(cause) and cause["sweepId"] == sweep["sweepId"]
        listed = next(c for c in report["rootCauses"] if c["key"] == cause["key"])
        assert int(cause["clusterCount"]) == len(listed["clusters"]) and cause["resourceId"] == listed["resourceId"]
    helm = next(
        f["properties"]
        for f in findings
        if f["properties"]["clusterName"] == "aks-storefront-prod" and f["properties"]["check"] == "helm-history"
    )
    assert helm["status"] == "fail" and helm["owners"] == "team-storefront" and "web-frontend" in helm["detail"]


def test_a_malformed_connection_string_is_one_line() -> None:
    run = run_sweep("not a connection string", "--snapshot", "examples/estate/aks-payments-prod")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert (
        run.stderr.startswith("error: APPLICATIONINSIGHTS_CONNECTION_STRING:")
        and len(run.stderr.strip().splitlines()) == 1
    )
