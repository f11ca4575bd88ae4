"""The workbook's KQL reads only the events and properties the app emits (publish/appinsights.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from publish.appinsights import (
    FINDING_EVENT,
    FINDING_PROPERTIES,
    ROOT_CAUSE_EVENT,
    ROOT_CAUSE_PROPERTIES,
    SWEEP_EVENT,
    SWEEP_PROPERTIES,
)
from tests.infra.templates import INFRA, WORKBOOK, parse

EMITTED = {
    FINDING_EVENT: set(FINDING_PROPERTIES),
    ROOT_CAUSE_EVENT: set(ROOT_CAUSE_PROPERTIES),
    SWEEP_EVENT: set(SWEEP_PROPERTIES),
}
DOTTED = re.compile(r"customDimensions\.([A-Za-z_]\w*)")
INDEXED = re.compile(r"customDimensions\[\s*[\"']([^\"']+)[\"']\s*\]")
NAME_EQUALS = re.compile(r"\bname\s*==\s*\"([^\"]+)\"")
NAME_IN = re.compile(r"\bname\s+in\s*\(([^)]*)\)")


def queries(node: Any) -> Iterator[str]:
    """Every KQL query of a workbook: items, parameters, anything with a "query" string."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "query" and isinstance(value, str):
                yield value
            else:
                yield from queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from queries(item)


def events_of(query: str) -> set[str]:
    names = set(NAME_EQUALS.findall(query))
    for listed in NAME_IN.findall(query):
        names |= set(re.findall(r"\"([^\"]+)\"", listed))
    return names


def properties_of(query: str) -> set[str]:
    return set(DOTTED.findall(query)) | set(INDEXED.findall(query))


def problems(query: str) -> list[str]:
    """What in one query does not match the emitted events: the test's verdict, kept testable."""
    if "customEvents" not in query:
        return ["reads no customEvents"]
    events = events_of(query)
    if not events:
        return ["does not filter customEvents by event name"]
    found = [f"event {name!r} is not emitted" for name in sorted(events - set(EMITTED))]
    known = set().union(*(EMITTED.get(name, set()) for name in events))
    found += [
        f"customDimensions.{name} is not a property of {sorted(events)}"
        for name in sorted(properties_of(query) - known)
    ]
    return found


def workbook_queries() -> list[str]:
    return list(queries(json.loads(WORKBOOK.read_text())))


def test_every_query_reads_emitted_events_and_properties() -> None:
    found = workbook_queries()
    assert len(found) >= 6
    for query in found:
        assert problems(query) == [], query


def test_the_check_catches_a_wrong_property_or_event() -> None:
    assert problems('customEvents | where name == "AksApiReachFinding" | extend c = customDimensions.cluster') == [
        "customDimensions.cluster is not a property of ['AksApiReachFinding']"
    ]
    assert problems("customEvents | where name == \"AksApiReachSweep\" | extend c = customDimensions['check']") == [
        "customDimensions.check is not a property of ['AksApiReachSweep']"
    ]
    assert problems('customEvents | where name in ("AksReachFinding") | take 1') == [
        "event 'AksReachFinding' is not emitted"
    ]
    assert problems("customEvents | take 1") == ["does not filter customEvents by event name"]


def test_the_workbook_uses_both_events_and_the_key_properties() -> None:
    found = workbook_queries()
    used_events = set().union(*(events_of(query) for query in found))
    assert used_events == set(EMITTED)
    finding_queries = [query for query in found if FINDING_EVENT in events_of(query)]
    sweep_queries = [query for query in found if SWEEP_EVENT in events_of(query)]
    finding_used = set().union(*(properties_of(query) for query in finding_queries))
    sweep_used = set().union(*(properties_of(query) for query in sweep_queries))
    assert {"check", "status", "severity", "title", "detail", "remediation", "clusterId", "clusterName"} <= finding_used
    assert {"fail", "warn", "error", "clusters"} <= sweep_used


def test_the_workbook_has_the_four_views_and_is_deployed_by_the_template() -> None:
    workbook = json.loads(WORKBOOK.read_text())
    assert workbook["version"] == "Notebook/1.0"
    titles = [item["content"].get("title", "") for item in workbook["items"] if item["type"] == 3]
    for view in ("Estate summary", "Failing clusters by check", "over time", "Latest findings of"):
        assert any(view in title for title in titles), view
    for item in workbook["items"]:
        if item["type"] == 3:
            assert item["content"]["resourceType"] == "microsoft.insights/components"
    remediation = [query for query in workbook_queries() if "remediation" in properties_of(query)]
    assert remediation and all("{Cluster}" in query for query in remediation)
    serialized = parse(INFRA / "modules" / "workbook.bicep")["resources"]["workbook"]["config"]["properties"]
    assert serialized["serializedData"]["function"]["parameters"]["file_path"] == "../workbook.json"


DEDUPED_BY = re.compile(r"summarize\s+arg_max\(\s*timestamp\s*,\s*\*\s*\)\s+by\s+([\w\s,]+)")


def dedup_keys(query: str) -> set[str]:
    match = DEDUPED_BY.search(query)
    return {key.strip() for key in match.group(1).split(",")} if match else set()


def test_every_query_counts_a_redelivered_event_once() -> None:
    """Delivery is at least once: a redelivered result repeats its finding events (same resultId), a summary
    sent again repeats its sweepId. Each query keeps one event per finding, or per sweep, before counting."""
    for query in workbook_queries():
        keys = dedup_keys(query)
        if re.search(r"summarize\s+by\s", query):  # a distinct list (the cluster picker): repeats vanish
            continue
        if FINDING_EVENT in events_of(query):
            one_cluster = "{Cluster}" in query
            assert {"check"} <= keys and (one_cluster or keys & {"clusterId", "resultId"}), query
        if SWEEP_EVENT in events_of(query):
            assert "sweepId" in keys, query
    assert dedup_keys('customEvents | where name == "AksApiReachSweep" | take 1') == set()


def test_the_workbook_shows_muted_findings_apart_and_failing_clusters_per_check_over_sweeps() -> None:
    items = {item.get("name"): item["content"] for item in json.loads(WORKBOOK.read_text())["items"]}
    muted = items["muted-findings"]["query"]
    assert {"muted", "muteReason", "muteExpires", "muteSource", "exemptionExpired"} <= properties_of(muted)
    for name in ("estate-summary", "failing-by-check", "failing-clusters"):  # muted findings counted apart
        assert "not(muted)" in items[name]["query"], name
    assert "muted = countif(muted)" in items["estate-summary"]["query"]
    assert "muted" in properties_of(items["trend"]["query"])
    trend = items["failing-per-check-trend"]
    assert trend["visualization"] == "linechart" and "by sweepId, check" in trend["query"]
    assert events_of(trend["query"]) == {FINDING_EVENT, SWEEP_EVENT} and "top 48 by closed desc" in trend["query"]


def test_the_workbook_shows_root_causes_by_affected_clusters_and_their_trend() -> None:
    items = {item.get("name"): item["content"] for item in json.loads(WORKBOOK.read_text())["items"]}
    tile, trend = items["root-causes"], items["root-causes-trend"]
    assert events_of(tile["query"]) == events_of(trend["query"]) == {ROOT_CAUSE_EVENT}
    assert "order by clusters desc" in tile["query"] and "by key" in tile["query"]
    assert {"causeName", "clusterCount", "subscriptionCount", "fix"} <= properties_of(tile["query"])
    assert trend["visualization"] == "timechart" and "by sweepId, key" in trend["query"]
