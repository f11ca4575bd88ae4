"""The change-event templates: a system topic on the subscription, an event subscription delivering the
watched writes and deletes to the app's Event Grid trigger (its filter is the data file the app reads), a
template per further subscription, and no role for the app identity."""

from __future__ import annotations

import json

from sweep.rechecks.events import WATCHED
from tests.functions.test_function_app import DECLARED
from tests.infra.templates import INFRA, MAIN, REPO, parse

MODULE = INFRA / "modules" / "change-events.bicep"
PER_SUBSCRIPTION = INFRA / "changes" / "subscription.bicep"
# Event Grid advanced filtering: at most 25 values across a subscription's advanced filters
# (learn.microsoft.com/azure/event-grid/event-filtering, "Limitations").
MAX_FILTER_VALUES = 25


def test_the_topic_is_the_subscriptions_resource_manager_topic() -> None:
    topic = parse(MODULE)["resources"]["createdTopic"]
    assert topic["type"] == "Microsoft.EventGrid/systemTopics"
    properties = topic["config"]["config"]["properties"]
    assert properties["topicType"] == "Microsoft.Resources.Subscriptions"
    assert topic["config"]["config"]["location"] == "global"


def test_the_event_subscription_delivers_the_watched_changes_to_the_trigger() -> None:
    template = parse(MODULE)
    assert template["variables"]["watched"]["value"]["function"]["parameters"]["file_path"] == (
        "../../sweep/rechecks/data/watched_changes.json"
    )
    assert (
        MODULE.parent / "../../sweep/rechecks/data/watched_changes.json"
    ).resolve() == REPO / "sweep/rechecks/data/watched_changes.json"
    subscription = template["resources"]["changes"]["config"]["properties"]
    assert subscription["destination"]["endpointType"] == "AzureFunction"
    assert subscription["destination"]["properties"]["resourceId"] == "${functionAppId}/functions/${functionName}"
    assert template["parameters"]["functionName"]["default"] in {f.get_function_name() for f in DECLARED}
    (advanced,) = subscription["filter"]["advancedFilters"]
    assert advanced["operatorType"] == "StringBeginsWith" and advanced["key"] == "data.operationName"
    assert set(WATCHED["eventTypes"]) == {
        "Microsoft.Resources.ResourceWriteSuccess",
        "Microsoft.Resources.ResourceDeleteSuccess",
    }
    assert 0 < len(WATCHED["operationPrefixes"]) <= MAX_FILTER_VALUES
    assert subscription["retryPolicy"]["eventTimeToLiveInMinutes"] <= 60  # older changes are the next sweep's


def test_main_subscribes_its_own_subscription_with_the_per_subscription_template() -> None:
    main = parse(MAIN)
    module = main["modules"]["changeEvents"]
    assert (
        module["detail"]["path"] == "changes/subscription.bicep"
        and module["config"]["condition"] == "subscribeToChanges"
    )
    assert main["parameters"]["subscribeToChanges"]["default"] is False  # the function must exist first
    assert "functionAppId" in main["outputs"]
    per_subscription = parse(PER_SUBSCRIPTION)
    assert per_subscription["globals"]["scope"]["value"] == "subscription"
    assert {"functionAppId", "existingSystemTopicId"} <= set(per_subscription["parameters"])
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["subscribeToChanges"]["value"] == "${AKS_REACH_SUBSCRIBE_TO_CHANGES=false}"


def test_no_role_is_added_for_change_events() -> None:
    for path in (MODULE, PER_SUBSCRIPTION):
        assert "roleAssignments" not in path.read_text()
