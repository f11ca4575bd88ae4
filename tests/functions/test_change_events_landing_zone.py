"""Change-driven rechecks on a landing zone (tests/emulator/landing_zone.py): hubs, firewalls at the same 10.0.1.4,
firewall policies under one base policy, IP groups and the private DNS zone live in the connectivity subscription,
outside the sweep's scope; the spokes sit in two workload subscriptions. A change in the connectivity subscription
rechecks exactly the clusters whose collection read the changed resource."""

from __future__ import annotations

import dataclasses
import json

import pytest

import function_app
from sweep.app.runtime import Runtime
from tests.emulator.landing_zone import CONNECTIVITY_SUB, NONPROD_SUB, PROD_SUB, ZONE, LandingZone
from tests.emulator.server import AzureEmulator
from tests.eventgrid import managed_identity_claims, resource_event
from tests.functions.test_change_events import PIPELINE_APP_ID, RCG_WRITE, due_rechecks, fire, rechecked, sweep_once
from tests.live import test_landing_zone as served
from tests.test_teams import validate_card
from tests.webhook_capture import WebhookCapture
from tools import make_example_estate as estate

POLICIES = "rg-firewall-policies"
zone, emulator = served.zone, served.emulator  # the landing zone and the emulator serving it (fixtures)


def connectivity(group: str, kind: str, name: str) -> str:
    return estate.rid(group, kind, name, CONNECTIVITY_SUB)


PROD_RCG = (
    connectivity(POLICIES, "Microsoft.Network/firewallPolicies", "afwp-hub-prod-weu") + "/ruleCollectionGroups/rcg-aks"
)


@pytest.fixture
def landing(runtime: Runtime, zone: LandingZone) -> Runtime:
    """The app sweeping the two workload subscriptions (not the connectivity one), with the hub's jumpbox."""
    scoped = dataclasses.replace(
        runtime,
        settings=dataclasses.replace(runtime.settings, subscriptions=(PROD_SUB, NONPROD_SUB)),
        context={"clients": [*runtime.context["clients"], *zone.context["clients"]]},
    )
    function_app.services.use(scoped)
    return scoped


def cluster(subscription: str, name: str) -> str:
    return estate.rid(f"rg-{name}", "Microsoft.ContainerService/managedClusters", name, subscription).lower()


PROD, DEV = cluster(PROD_SUB, "aks-orders-prod"), cluster(NONPROD_SUB, "aks-orders-dev")


def test_changes_in_the_connectivity_subscription_recheck_exactly_the_clusters_behind_them(
    landing: Runtime, emulator: AzureEmulator
) -> None:
    sweep_once(landing)
    graph = emulator.by_service["graph"]
    changes = [
        (PROD_RCG, RCG_WRITE, {PROD}),
        (
            connectivity(POLICIES, "Microsoft.Network/firewallPolicies", "afwp-hub-nonprod-weu"),
            "Microsoft.Network/firewallPolicies/write",
            {DEV},
        ),
        (  # the parent policy both hub policies inherit from
            estate.BASE_POLICY + "/ruleCollectionGroups/rcg-platform",
            RCG_WRITE,
            {PROD, DEV},
        ),
        (  # both firewalls sit at 10.0.1.4: only the one the prod spoke routes to
            connectivity("rg-hub-prod-weu", "Microsoft.Network/azureFirewalls", "afw-hub-prod-weu"),
            "Microsoft.Network/azureFirewalls/write",
            {PROD},
        ),
        (  # the source of the prod hub's AKS rules
            connectivity(POLICIES, "Microsoft.Network/ipGroups", "ipg-aks-prod-spokes"),
            "Microsoft.Network/ipGroups/write",
            {PROD},
        ),
        (
            connectivity("rg-hub-nonprod-weu", "Microsoft.Network/virtualNetworks", "vnet-hub-nonprod-weu")
            + "/virtualNetworkPeerings/hub-to-aks-orders-dev",
            "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete",
            {DEV},
        ),
        (
            ZONE + "/virtualNetworkLinks/vnet-aks-orders-prod-link",
            "Microsoft.Network/privateDnsZones/virtualNetworkLinks/delete",
            {PROD},
        ),
    ]
    for resource_id, operation, expected in changes:
        kind = "ResourceDeleteSuccess" if operation.endswith("/delete") else "ResourceWriteSuccess"
        fire(resource_event(resource_id, operation, kind))
        assert rechecked(due_rechecks(landing)) == expected, resource_id
    assert emulator.by_service["graph"] == graph  # every one was in the index the sweep wrote
    # The nonprod hub's IP group: no rule of its policy chain uses it, so no cluster's checks read it.
    fire(
        resource_event(
            connectivity(POLICIES, "Microsoft.Network/ipGroups", "ipg-aks-nonprod-spokes"),
            "Microsoft.Network/ipGroups/write",
        )
    )
    assert due_rechecks(landing) == [] and emulator.by_service["graph"] == graph + 1


def test_a_hub_rule_change_that_breaks_egress_is_named_in_the_owners_card(
    landing: Runtime, emulator: AzureEmulator, webhook: WebhookCapture
) -> None:
    sweep_once(landing)
    sent = len(webhook.posts)
    group = next(r for r in emulator.network if r["id"].lower() == PROD_RCG.lower())
    group["properties"]["ruleCollections"] = []  # the pipeline replaced the group with an empty one
    claims = managed_identity_claims("deploy-pipeline", PIPELINE_APP_ID, CONNECTIVITY_SUB)
    fire(resource_event(PROD_RCG, RCG_WRITE, claims=claims))
    assert rechecked(due_rechecks(landing)) == {PROD}
    # Two cards: the cluster's owners', naming the write, and one for the root cause it opened, naming it too.
    cluster_card, cause_card = sorted(
        (json.dumps(validate_card(post.message)) for post in webhook.posts[sent:]), key=len
    )
    texts = [json.loads(cluster_card), json.loads(cause_card)]
    by_title = {card["body"][0]["text"]: json.dumps(card) for card in texts}
    text = by_title["AKS API Reach: aks-orders-prod"]
    assert "egress-rules failing since" in text
    where = (
        f"(in firewallPolicies afwp-hub-prod-weu, resource group rg-firewall-policies, subscription {CONNECTIVITY_SUB})"
    )
    assert f"{RCG_WRITE} on rcg-aks {where} by deploy-pipeline (app id {PIPELINE_APP_ID})" in text
    cause = by_title[
        "AKS API Reach root cause: firewall policy afwp-hub-prod-weu (resource group rg-firewall-policies)"
    ]
    assert "New root cause: breaks 1 cluster" in cause and "aks-orders-prod (egress-rules)" in cause
    assert f"by deploy-pipeline (app id {PIPELINE_APP_ID})" in cause
