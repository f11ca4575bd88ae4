"""Change-driven rechecks end to end: Microsoft's documented Resource Manager events, decoded into real
`func.EventGridEvent` objects, through the decorated trigger -> the reference index the sweep wrote in
Azurite -> debounced recheck messages on the sweep's queue -> the worker -> Teams cards at a local webhook
(validated against the Adaptive Card 1.4 schema) and Application Insights envelopes that name the change.
Azure is the local HTTPS emulator with the real SDK clients."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.functions.queue import QueueMessage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publish.appinsights import FINDING_EVENT, ROOT_CAUSE_EVENT, SWEEP_EVENT
from sweep.app.runtime import Runtime
from sweep.rechecks.events import ChangeEventError, caller_of, lookup_ids, read_event
from sweep.rechecks.pending import RecheckMessage
from sweep.rechecks.plug_in import Rechecks
from tests.capture import IngestionCapture
from tests.emulator.server import AzureEmulator, EmulatedCluster
from tests.eventgrid import SAMPLES, SERVICE_PRINCIPAL_CLAIMS, delivered, managed_identity_claims, resource_event
from tests.functions.conftest import RECHECK_DELAY_SECONDS
from tests.functions.harness import DECLARED, FUNCTIONS, drain, wait_for
from tests.test_teams import validate_card
from tests.webhook_capture import WebhookCapture
from tools import make_example_estate as estate

SUB = estate.SUB
POLICY = estate.rid(estate.HUB_RG, "Microsoft.Network/firewallPolicies", "fwp-hub-premium")
RCG = f"{POLICY}/ruleCollectionGroups/rcg-platform"
RCG_WRITE = "Microsoft.Network/firewallPolicies/ruleCollectionGroups/write"
PIPELINE_APP_ID = "6a1f3b2c-0d4e-4f5a-8b6c-7d8e9f0a1b2c"
OBJECT_ID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
PIPELINE_OID = "5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f"  # the deploy pipeline identity's object id


def cluster_id(name: str) -> str:
    return estate.rid(f"rg-{name}", "Microsoft.ContainerService/managedClusters", name)


def web_twin() -> Any:
    """A second spoke routed through the same premium firewall (another VNet, subnet and route table)."""
    template = estate.firewall_policy_tls_inspection()
    shared = {POLICY.lower(), RCG.lower()} | {
        str(r["id"]).lower() for r in template.network or [] if "/azurefirewalls/" in str(r["id"]).lower()
    }
    own = [r for r in template.network or [] if str(r["id"]).lower() not in shared]
    text = json.dumps({"cluster": template.cluster, "network": own}).replace("aks-web-prod", "aks-shop-prod")
    renamed = json.loads(text.replace("10.228.", "10.238."))
    template.cluster = renamed["cluster"]
    template.network = renamed["network"] + [r for r in template.network or [] if str(r["id"]).lower() in shared]
    group = next(r for r in template.network if str(r["id"]).lower() == RCG.lower())
    for collection in group["properties"]["ruleCollections"]:  # the hub's rules admit both spokes
        for rule in collection["rules"]:
            rule["sourceAddresses"].append("10.238.0.0/16")
    return template


@pytest.fixture
def emulator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AzureEmulator]:
    """The estate above, or (parametrized indirectly) the clusters a test names."""
    raws = getattr(request, "param", None) or [
        estate.healthy(),
        estate.firewall_policy_tls_inspection(),
        web_twin(),
        estate.udr_classic_firewall_missing_rule(),
    ]
    network = {r["id"].lower(): r for raw in raws for r in raw.network or []}
    server = AzureEmulator([EmulatedCluster(raw) for raw in raws], list(network.values())).start(tmp_path / "ca.pem")
    yield server
    server.stop()


def sweep_once(runtime: Runtime) -> None:
    FUNCTIONS["sweep_timer"](None)
    for message in drain(runtime.queue):
        FUNCTIONS["check_cluster_message"](message)


def fire(event: dict[str, Any]) -> None:
    FUNCTIONS["resource_changed"](delivered(event))


def due_rechecks(runtime: Runtime) -> list[QueueMessage]:
    """The recheck messages, once their delay has passed (each is invisible until then)."""
    time.sleep(RECHECK_DELAY_SECONDS + 0.2)
    return [m for m in drain(runtime.queue) if RecheckMessage.matches(m.get_body())]


def rechecked(messages: list[QueueMessage]) -> set[str]:
    """The clusters of these recheck messages, after the worker has run them (which ends their claims)."""
    for message in messages:
        FUNCTIONS["check_cluster_message"](message)
    return {RecheckMessage.parse(m.get_body()).cluster_id.lower() for m in messages}


def swept_then_hub_broken(runtime: Runtime, emulator: AzureEmulator, webhook: WebhookCapture) -> int:
    """A sweep, then the hub's AKS collection removed (not yet announced); the cards posted so far."""
    sweep_once(runtime)
    without_aks_egress(emulator)
    return len(webhook.posts)


def card_title(card: dict[str, Any]) -> str:
    return str(card["body"][0]["text"])


def portal(resource_id: str) -> str:
    return f"https://portal.azure.com/#@/resource{resource_id}"


def without_aks_egress(emulator: AzureEmulator) -> None:
    """Someone replaces the rule collection group: the collection allowing AKS's FQDN tag is gone."""
    group = next(r for r in emulator.network if r["id"].lower() == RCG.lower())
    properties = group.get("properties", group)
    properties["ruleCollections"] = [c for c in properties["ruleCollections"] if c["name"] != "aks-egress"]


# --- the trigger and the documented events ------------------------------------------------------------------


def test_the_app_declares_the_event_grid_trigger() -> None:
    bindings = {f.get_function_name(): json.loads(f.get_function_json())["bindings"] for f in DECLARED}
    (trigger,) = bindings["resource_changed"]
    assert trigger["type"] == "eventGridTrigger" and trigger["direction"] == "IN" and trigger["name"] == "event"


def read(event: dict[str, Any]) -> Any:
    decoded = delivered(event)
    return read_event(decoded.id, decoded.event_type, decoded.subject, decoded.event_time, decoded.get_json())


def test_a_documented_write_event_by_a_person_names_them() -> None:
    event = resource_event(RCG, RCG_WRITE, claims=None)
    claims = event["data"]["claims"]
    claims.update({"name": "Ana Silva", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "ana@contoso.com"})
    change = read(event)
    assert change.operation == RCG_WRITE and change.resource_id == RCG and change.resource_name == "rcg-platform"
    assert change.caller == "Ana Silva (ana@contoso.com)" and not change.deleted
    assert change.time.tzinfo is not None and change.event_id == event["id"]
    # The sample's object id: what events, logs and stored results carry unless AKS_REACH_CALLER_NAMES=true.
    oid = claims["http://schemas.microsoft.com/identity/claims/objectidentifier"]
    assert change.caller_id == oid and change.describe(names=False).endswith(
        f" by object id {oid} at {change.time:%H:%M:%S} UTC"
    )
    assert change.to_json(names=False)["caller"] == f"object id {oid}" and "Ana" not in json.dumps(
        change.to_json(False)
    )
    assert "by Ana Silva (ana@contoso.com)" in change.describe(names=True)
    assert type(change).from_json(change.to_json()) == change  # the recheck claim row keeps the name for the card


def test_a_service_principal_is_named_by_its_app_id_and_a_managed_identity_by_its_name_too() -> None:
    by_principal = read(resource_event(RCG, RCG_WRITE, claims={**SERVICE_PRINCIPAL_CLAIMS, "appid": PIPELINE_APP_ID}))
    assert by_principal.caller == f"app id {PIPELINE_APP_ID}"
    by_identity = read(
        resource_event(RCG, RCG_WRITE, claims=managed_identity_claims("deploy-pipeline", PIPELINE_APP_ID, SUB))
    )
    assert by_identity.caller == f"deploy-pipeline (app id {PIPELINE_APP_ID})"
    principal = {"evidence": {"principalId": "0c9f", "principalType": "ServicePrincipal"}}
    assert caller_of({}, principal) == "principal 0c9f" and caller_of({}, {}) == "an unknown caller"


def test_the_documented_delete_event_reads_as_a_delete() -> None:
    link = estate.HUB_ZONE + "/virtualNetworkLinks/link-spoke"
    change = read(
        resource_event(link, "Microsoft.Network/privateDnsZones/virtualNetworkLinks/delete", "ResourceDeleteSuccess")
    )
    assert change.deleted and change.resource_name == "link-spoke"


def test_unwatched_events_are_ignored_not_errors() -> None:
    assert read(SAMPLES["ResourceWriteSuccess"]) is None  # a storage account write: not a reachability change
    assert read(SAMPLES["ResourceActionSuccess"]) is None  # listKeys: an action, not a write


def test_children_are_looked_up_as_themselves_and_their_parents() -> None:
    rule = f"{estate.rid('rg', 'Microsoft.Network/networkSecurityGroups', 'nsg')}/securityRules/deny-all"
    assert lookup_ids(rule) == [rule.lower(), rule.rsplit("/", 2)[0].lower()]
    assert lookup_ids(RCG) == [RCG.lower(), POLICY.lower()]


EVENT_FIELDS = st.dictionaries(
    st.sampled_from(["operationName", "resourceUri", "claims", "authorization"]),
    st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=80),
        st.lists(st.text(max_size=5), max_size=3),
        st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
    ),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    event_type=st.sampled_from(
        ["Microsoft.Resources.ResourceWriteSuccess", "Microsoft.Resources.ResourceDeleteSuccess", "x"]
    ),
    data=st.one_of(EVENT_FIELDS, st.text(max_size=20), st.none(), st.lists(st.integers(), max_size=3)),
    operation=st.sampled_from([RCG_WRITE, "Microsoft.Network/virtualNetworks/subnets/delete", "write"]),
    subject=st.one_of(st.none(), st.sampled_from([RCG, "/subscriptions/x", "' or 1==1 //"]), st.text(max_size=30)),
)
def test_any_event_is_a_change_ignored_or_a_one_line_error(
    event_type: str, data: Any, operation: str, subject: Any
) -> None:
    if isinstance(data, dict) and "operationName" not in data:
        data = {**data, "operationName": operation}
    try:
        change = read_event("e1", event_type, subject, datetime.now(UTC), data)
    except ChangeEventError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("event e1")
        return
    if change is not None:
        assert change.resource_id in (RCG, data.get("resourceUri")) and "'" not in change.resource_id


def test_malformed_events_are_dropped_with_one_log_line_and_no_retry(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    bad = [
        {**resource_event(RCG, RCG_WRITE), "data": "not an object"},
        resource_event(
            "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Network/ipGroups/ipg",
            "Microsoft.Network/ipGroups/write",
        ),
        resource_event(RCG, RCG_WRITE) | {"subject": None},
    ]
    bad[2]["data"]["resourceUri"] = "/subscriptions/3f2c9a8e-5b1d-4c7a-9e6f-2a1b0c9d8e7f/resourceGroups/rg'; drop"
    for event in bad:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="sweep.rechecks.recheck"):
            fire(event)  # returns normally: Event Grid does not redeliver
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "event dropped" in errors[0].getMessage(), [r.getMessage() for r in errors]
    assert due_rechecks(runtime) == []


# --- which clusters a change affects ------------------------------------------------------------------------


def test_a_rule_collection_group_change_rechecks_exactly_the_clusters_behind_that_firewall(
    runtime: Runtime, emulator: AzureEmulator
) -> None:
    sweep_once(runtime)  # each worker writes its cluster's references
    assert runtime.plug_in(Rechecks).references.clusters_for(RCG) == {
        cluster_id("aks-web-prod"),
        cluster_id("aks-shop-prod"),
    }
    graph_before = emulator.by_service["graph"]
    fire(resource_event(RCG, RCG_WRITE))
    assert rechecked(due_rechecks(runtime)) == {cluster_id("aks-web-prod").lower(), cluster_id("aks-shop-prod").lower()}
    assert emulator.by_service["graph"] == graph_before  # the index knew it: no Resource Graph query

    new_group = f"{POLICY}/ruleCollectionGroups/rcg-added-later"  # unknown to the index: its policy is known
    fire(resource_event(new_group, RCG_WRITE))
    assert len(rechecked(due_rechecks(runtime))) == 2

    ledger_route = estate.rid("rg-aks-ledger-prod", "Microsoft.Network/routeTables", "rt-aks-ledger-prod")
    fire(resource_event(f"{ledger_route}/routes/default-via-firewall", "Microsoft.Network/routeTables/routes/write"))
    assert rechecked(due_rechecks(runtime)) == {cluster_id("aks-ledger-prod").lower()}


def test_a_resource_the_index_does_not_know_is_found_with_one_resource_graph_query(
    runtime: Runtime, emulator: AzureEmulator
) -> None:
    subnet = (
        estate.rid("rg-aks-payments-prod", "Microsoft.Network/virtualNetworks", "vnet-aks-payments-prod")
        + "/subnets/snet-aks-nodes"
    )
    before = emulator.by_service["graph"]
    fire(resource_event(subnet, "Microsoft.Network/virtualNetworks/subnets/write"))  # no sweep yet: empty index
    assert emulator.by_service["graph"] == before + 1
    assert rechecked(due_rechecks(runtime)) == {cluster_id("aks-payments-prod").lower()}
    stranger = estate.rid("rg-elsewhere", "Microsoft.Network/networkSecurityGroups", "nsg-unused")
    fire(resource_event(stranger, "Microsoft.Network/networkSecurityGroups/write"))
    assert due_rechecks(runtime) == []


def test_a_cluster_change_rechecks_that_cluster_and_a_deleted_cluster_leaves_the_index(runtime: Runtime) -> None:
    sweep_once(runtime)
    pool = cluster_id("aks-web-prod") + "/agentPools/nodepool1"
    fire(resource_event(pool, "Microsoft.ContainerService/managedClusters/agentPools/write"))
    assert rechecked(due_rechecks(runtime)) == {cluster_id("aks-web-prod").lower()}
    fire(
        resource_event(
            cluster_id("aks-web-prod"), "Microsoft.ContainerService/managedClusters/delete", "ResourceDeleteSuccess"
        )
    )
    assert due_rechecks(runtime) == [] and runtime.plug_in(Rechecks).references.clusters_for(RCG) == {
        cluster_id("aks-shop-prod")
    }


# --- debounce -----------------------------------------------------------------------------------------------


def test_a_deployments_many_writes_make_one_recheck_per_cluster(runtime: Runtime) -> None:
    sweep_once(runtime)
    firewall = estate.rid(estate.HUB_RG, "Microsoft.Network/azureFirewalls", "fw-hub-premium")
    writes = [
        (POLICY, "Microsoft.Network/firewallPolicies/write"),
        (RCG, RCG_WRITE),
        (firewall, "Microsoft.Network/azureFirewalls/write"),
    ]
    events = [resource_event(resource, operation) for resource, operation in writes * 3]
    for event in events:
        fire(event)
    fire(events[0])  # Event Grid delivers at least once
    messages = due_rechecks(runtime)
    pending = runtime.plug_in(Rechecks).pending.claimed(RecheckMessage.parse(messages[0].get_body()))
    assert pending is not None and sorted(c.event_id for c in pending.changes) == sorted(e["id"] for e in events)
    assert len(messages) == 2 and rechecked(messages) == {
        cluster_id("aks-web-prod").lower(),
        cluster_id("aks-shop-prod").lower(),
    }


def test_a_redelivered_recheck_does_nothing_and_changes_during_a_recheck_get_their_own(
    runtime: Runtime, webhook: WebhookCapture
) -> None:
    sweep_once(runtime)
    sent = len(webhook.posts)
    payments_nsg = estate.rid(
        "rg-aks-payments-prod", "Microsoft.Network/networkSecurityGroups", "nsg-aks-payments-prod-nodes"
    )
    fire(resource_event(payments_nsg, "Microsoft.Network/networkSecurityGroups/write"))
    (message,) = due_rechecks(runtime)
    pending = runtime.plug_in(Rechecks).pending.claimed(
        RecheckMessage.parse(message.get_body())
    )  # a worker reads its claim ...
    assert pending is not None
    rule = f"{payments_nsg}/securityRules/allow-ci"
    fire(resource_event(rule, "Microsoft.Network/networkSecurityGroups/securityRules/write"))  # ... a write lands
    assert drain(runtime.queue) == []  # joined the pending recheck: no message of its own
    assert runtime.plug_in(Rechecks).pending.finish(
        pending
    )  # ... and the worker finishes: that write gets a recheck of its own
    (follow_up,) = due_rechecks(runtime)
    again = runtime.plug_in(Rechecks).pending.claimed(RecheckMessage.parse(follow_up.get_body()))
    assert again is not None and [change.resource_id for change in again.changes] == [rule]
    FUNCTIONS["check_cluster_message"](message)  # a redelivery of the first: its claim is gone, nothing runs
    FUNCTIONS["check_cluster_message"](follow_up)  # healthy: nothing is sent
    assert len(webhook.posts) == sent
    assert runtime.plug_in(Rechecks).pending.claimed(RecheckMessage.parse(follow_up.get_body())) is None


def test_a_poisoned_recheck_frees_its_claim_and_is_not_counted_into_a_sweep(
    runtime: Runtime, ingestion: IngestionCapture
) -> None:
    ingestion.clear()
    fire(resource_event(cluster_id("aks-ledger-prod"), "Microsoft.ContainerService/managedClusters/write"))
    (message,) = due_rechecks(runtime)
    FUNCTIONS["record_poison_message"](QueueMessage(body=message.get_body(), dequeue_count=5))
    assert runtime.plug_in(Rechecks).pending.claimed(RecheckMessage.parse(message.get_body())) is None
    fire(resource_event(cluster_id("aks-ledger-prod"), "Microsoft.ContainerService/managedClusters/write"))
    assert len(due_rechecks(runtime)) == 1  # the next change claims anew
    assert ingestion.events(SWEEP_EVENT) == [] and ingestion.events(FINDING_EVENT) == []


# --- findings that name the change --------------------------------------------------------------------------


def test_a_recheck_that_turns_a_check_to_fail_names_the_write_in_finding_event_and_card(
    runtime: Runtime, emulator: AzureEmulator, webhook: WebhookCapture, ingestion: IngestionCapture
) -> None:
    sweep_once(runtime)  # Teams hears of today's failures (TLS inspection on aks-web-prod, ...)
    wait_for(lambda: len(ingestion.events(SWEEP_EVENT)) == 1)
    ingestion.clear()
    sent = len(webhook.posts)
    without_aks_egress(emulator)
    pipeline = {**managed_identity_claims("deploy-pipeline", PIPELINE_APP_ID, SUB), OBJECT_ID_CLAIM: PIPELINE_OID}
    fire(resource_event(RCG, RCG_WRITE, claims=pipeline))
    for message in due_rechecks(runtime):
        FUNCTIONS["check_cluster_message"](message)

    # The two spokes' owners get their cluster card each, naming the write; the hub's owners get one root-cause
    # card for the rule collection group's policy, with both spokes (the spokes were rechecked apart).
    cards = [validate_card(post.message) for post in webhook.posts[sent:]]
    cluster_cards = [card for card in cards if not card_title(card).startswith("AKS API Reach root cause:")]
    cause_cards = [card for card in cards if card_title(card).startswith("AKS API Reach root cause:")]
    assert sorted(card_title(card) for card in cluster_cards) == [
        "AKS API Reach: aks-shop-prod",
        "AKS API Reach: aks-web-prod",
    ]
    where = f"rcg-platform (in firewallPolicies fwp-hub-premium, resource group {estate.HUB_RG}, subscription {SUB})"
    write = f"{RCG_WRITE} on {where} by deploy-pipeline (app id {PIPELINE_APP_ID}) at "
    for card in cluster_cards:
        text = json.dumps(card)
        assert f"egress-rules failing since {write}" in text
        assert {"title": "Open the changed resource", "type": "Action.OpenUrl", "url": portal(RCG)} in [
            dict(sorted(action.items())) for action in card["actions"]
        ]
    (cause,) = cause_cards
    text = json.dumps(cause)
    assert "firewall policy fwp-hub-premium" in card_title(cause)
    assert (
        "breaks 2 clusters" in text and "aks-web-prod (egress-rules)" in text and "aks-shop-prod (egress-rules)" in text
    )
    assert f"After {write}" in text
    wait_for(lambda: len([e for e in ingestion.events(FINDING_EVENT) if e["check"] == "egress-rules"]) == 2)
    egress = [e for e in ingestion.events(FINDING_EVENT) if e["check"] == "egress-rules"]
    assert {e["status"] for e in egress} == {"fail"} and all(e["sweepId"].startswith("recheck-") for e in egress)
    evidence = json.loads(egress[0]["evidence"])["precedingChanges"]
    assert evidence[0]["operation"] == RCG_WRITE and evidence[0]["caller"] == f"object id {PIPELINE_OID}"
    assert all(f"by object id {PIPELINE_OID}" in e["detail"] for e in egress)  # telemetry: the id, not the name
    assert "deploy-pipeline" not in json.dumps(ingestion.events(FINDING_EVENT))
    alpn = [e for e in ingestion.events(FINDING_EVENT) if e["check"] == "alpn-tls"]
    assert alpn and all("failing since" not in e["detail"] for e in alpn)  # failing before the change: not blamed on it
    assert ingestion.events(SWEEP_EVENT) == []  # a recheck is no sweep

    fire(resource_event(RCG, RCG_WRITE, claims=pipeline))  # the same failure found again: Teams knows it
    for message in due_rechecks(runtime):
        FUNCTIONS["check_cluster_message"](message)
    assert len(webhook.posts) == sent + len(cards)  # and the root cause, unchanged, sends nothing either


# --- root causes on the recheck path ------------------------------------------------------------------------


def test_an_event_delivered_again_after_its_recheck_ran_rechecks_nothing(runtime: Runtime) -> None:
    sweep_once(runtime)
    event = resource_event(RCG, RCG_WRITE)
    fire(event)
    assert rechecked(due_rechecks(runtime)) == {cluster_id("aks-web-prod").lower(), cluster_id("aks-shop-prod").lower()}
    fire(event)  # Event Grid's retry (it did not hear the 200 of the first delivery)
    assert due_rechecks(runtime) == []
    fire(resource_event(RCG, RCG_WRITE))  # another write of the same group is a new change
    assert len(due_rechecks(runtime)) == 2


def test_an_event_whose_rechecks_could_not_be_queued_is_taken_as_new_when_retried(runtime: Runtime) -> None:
    sweep_once(runtime)
    event = resource_event(RCG, RCG_WRITE)
    runtime.plug_in(Rechecks).rounds.open(
        read(event), [cluster_id("aks-web-prod")]
    )  # a delivery that stopped before queueing
    fire(event)
    assert len(due_rechecks(runtime)) == 2


def test_after_a_burst_the_card_names_the_write_that_broke_it_not_the_last(
    runtime: Runtime, emulator: AzureEmulator, webhook: WebhookCapture
) -> None:
    sent = swept_then_hub_broken(runtime, emulator, webhook)
    route_table = estate.rid("rg-aks-web-prod", "Microsoft.Network/routeTables", "rt-aks-web-prod")
    broke = datetime(2026, 1, 5, 9, 14, 7, tzinfo=UTC)
    fire(resource_event(RCG, RCG_WRITE, when=broke))
    fire(resource_event(route_table, "Microsoft.Network/routeTables/write", when=broke.replace(second=52)))
    for message in due_rechecks(runtime):
        FUNCTIONS["check_cluster_message"](message)
    cards = [json.dumps(validate_card(post.message)) for post in webhook.posts[sent:]]
    web = next(card for card in cards if '"AKS API Reach: aks-web-prod"' in card)
    assert f"egress-rules failing since {RCG_WRITE} on rcg-platform" in web and "at 09:14:07 UTC" in web
    assert "(and 1 other change to resources it uses)" in web and "09:14:52" not in web
    (cause,) = [card for card in cards if "AKS API Reach root cause:" in card]
    assert f"After {RCG_WRITE} on rcg-platform" in cause and "at 09:14:07 UTC" in cause


@pytest.mark.parametrize(
    "emulator", [[estate.virtual_wan_cluster("aks-vwan-prod", 234, subscription=SUB)]], indirect=True
)
def test_writes_to_a_secured_hubs_routing_intent_and_connections_recheck_its_spokes(runtime: Runtime) -> None:
    sweep_once(runtime)
    network = estate.virtual_wan_cluster("aks-vwan-prod", 234, subscription=SUB).network or []
    hub = next(r["id"] for r in network if str(r.get("type")).lower() == "microsoft.network/virtualhubs")
    spoke = {estate.rid("rg-aks-vwan-prod", "Microsoft.ContainerService/managedClusters", "aks-vwan-prod").lower()}
    for child, operation in (
        ("routingIntent/ri-hub", "Microsoft.Network/virtualHubs/routingIntent/write"),
        ("hubVirtualNetworkConnections/conn-x", "Microsoft.Network/virtualHubs/hubVirtualNetworkConnections/write"),
    ):
        fire(resource_event(f"{hub}/{child}", operation))
        assert rechecked(due_rechecks(runtime)) == spoke


def test_a_sweep_event_counts_the_estates_root_causes_and_each_has_its_event(
    runtime: Runtime, ingestion: IngestionCapture
) -> None:
    sweep_once(runtime)
    wait_for(lambda: len(ingestion.events(SWEEP_EVENT)) == 1)
    (sweep,) = ingestion.events(SWEEP_EVENT)
    causes = ingestion.events(ROOT_CAUSE_EVENT)
    assert int(sweep["rootCauses"]) == len(causes) > 0
    assert {cause["sweepId"] for cause in causes} == {sweep["sweepId"]}
    assert {cause["key"] for cause in causes} == {row.key for row in runtime.root_causes.rows() if row.members}


def test_a_recheck_that_failed_every_delivery_does_not_hold_back_the_changes_root_cause_card(
    runtime: Runtime, emulator: AzureEmulator, webhook: WebhookCapture
) -> None:
    sent = swept_then_hub_broken(runtime, emulator, webhook)
    fire(resource_event(RCG, RCG_WRITE))
    web, shop = sorted(
        due_rechecks(runtime), key=lambda m: "aks-shop-prod" in RecheckMessage.parse(m.get_body()).cluster_id
    )
    FUNCTIONS["check_cluster_message"](web)
    assert not [p for p in webhook.posts[sent:] if "root cause" in json.dumps(p.message)]  # the round waits for shop
    FUNCTIONS["record_poison_message"](QueueMessage(body=shop.get_body(), dequeue_count=5))
    (cause,) = [
        json.dumps(p.message) for p in webhook.posts[sent:] if "AKS API Reach root cause" in json.dumps(p.message)
    ]
    assert "New root cause: breaks 1 cluster" in cause and "aks-web-prod (egress-rules)" in cause
