"""The alert rules: deployed only with an action group, on the Application Insights component, and their
KQL (infra/alerts/) reads only the events, properties and values the app emits, like the workbook's."""

from __future__ import annotations

import inspect
import re
from dataclasses import replace
from datetime import date

import pytest

from checks.registry import CHECK_IDS
from model.finding import Finding, Mute, Status
from publish.appinsights import finding_properties
from sweep.app import fanout
from sweep.app.http_check import ON_DEMAND_SWEEP_PREFIX
from tests.builders import make_cluster
from tests.infra.templates import INFRA, MAIN, parse
from tests.infra.test_workbook import problems, properties_of
from tests.test_mutes import finding, result_of

ALERTS = INFRA / "alerts"
QUERIES = sorted(ALERTS.glob("*.kql"))
# What the issue asks alerts for: the tunnel and the control plane degrading.
WATCHED = {"konnectivity-agent", "egress-rules", "apiserver-load"}


def kql(name: str) -> str:
    return (ALERTS / f"{name}.kql").read_text()


@pytest.mark.parametrize("path", QUERIES, ids=lambda path: path.stem)
def test_every_alert_query_reads_emitted_events_and_properties(path) -> None:
    assert problems(path.read_text()) == []


def test_compared_values_are_the_ones_the_app_sends() -> None:
    newly = kql("newly-failing")
    (listed,) = re.findall(r"let watched = dynamic\(\[([^\]]*)\]\)", newly)
    assert set(re.findall(r'"([^"]+)"', listed)) == WATCHED <= set(CHECK_IDS)
    assert 'tostring(customDimensions.status) == "fail"' in newly and Status.FAIL.value == "fail"
    muted = finding_properties(
        result_of(make_cluster()), finding_with_mute(), "sweep-1"
    )  # the property as sent: "true" / "false"
    assert muted["muted"] == "true" and 'tostring(customDimensions.muted) != "true"' in newly
    for name in ("newly-failing", "sweep-incomplete"):
        assert f'not(sweepId startswith "{ON_DEMAND_SWEEP_PREFIX}")' in kql(name)
    assert {"sweepId", "status", "muted", "check", "clusterId", "clusterName"} <= properties_of(newly)
    assert properties_of(kql("sweep-incomplete")) == {"sweepId", "clusterId", "detail"}
    (phrase,) = re.findall(r'customDimensions.detail\) has "([^"]+)"', kql("sweep-incomplete"))
    assert phrase in inspect.getsource(fanout)  # the detail of a cluster the timer gave up on


def finding_with_mute() -> Finding:
    return replace(finding("egress-rules"), muted=Mute("accepted", "mute list entry 1", date(2027, 1, 1)))


def test_rules_are_deployed_with_an_action_group_only_on_the_component() -> None:
    main = parse(MAIN)
    assert main["parameters"]["alertActionGroupId"]["default"] == ""
    module = main["modules"]["alerts"]
    assert module["config"]["condition"] == {
        "operator": {
            "type": "not",
            "operands": {
                "bool_value": {"function": {"type": "empty", "parameters": {"item_to_test": "alertActionGroupId"}}}
            },
        }
    }
    params = module["config"]["config"]["params"]
    assert params["actionGroupId"] == "alertActionGroupId" and "appInsightsId" in str(params["appInsightsId"])
    template = parse(INFRA / "modules" / "alerts.bicep")
    alert = template["resources"]["alert"]
    assert (alert["type"], alert["api_version"]) == ("Microsoft.Insights/scheduledQueryRules", "2023-12-01")
    properties = alert["config"]["config"]["properties"]
    assert properties["scopes"] == ["appInsightsId"] and properties["actions"]["actionGroups"] == ["actionGroupId"]
    assert properties["evaluationFrequency"] == "PT15M" and properties["overrideQueryTimeRange"] == "P2D"
    (condition,) = properties["criteria"]["allOf"]
    assert (condition["timeAggregation"], condition["operator"], condition["threshold"]) == ("Count", "GreaterThan", 0)
    text = (INFRA / "modules" / "alerts.bicep").read_text()
    loaded = set(re.findall(r"loadTextContent\('\.\./alerts/([^']+)'\)", text))
    assert (
        loaded
        == {path.name for path in QUERIES}
        == {"newly-failing.kql", "sweep-incomplete.kql", "root-cause-reach.kql"}
    )
    # N is a parameter of the template, put into the query where it says {threshold}.
    assert "param rootCauseClusterThreshold int = 5" in text and "let threshold = {threshold};" in kql(
        "root-cause-reach"
    )
    # the 15-minute windows in the KQL follow the rule's frequency, so each condition alerts once
    assert "ingested > ago(15m)" in kql("newly-failing") and "between (ago(2h15m) .. ago(2h))" in kql(
        "sweep-incomplete"
    )
