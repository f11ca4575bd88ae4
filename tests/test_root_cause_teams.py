"""Root-cause Teams cards: membership and notification state in Azurite through the real TableClient, cards
posted to a local capture webhook and validated against the Adaptive Card 1.4 schema. Results come from
evaluating the two-hub landing zone of tests/test_root_cause.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from collect.raw import RawCluster
from model.finding import ClusterResult, Mute
from model.root_cause import CauseKind
from publish.notify_state import SweepRef
from publish.root_cause_state import RootCauseState
from publish.teams import OutcomeStatus, TeamsSender, WebhookRoutes, notify_root_causes
from tests.azurite import Azurite
from tests.test_root_cause import landing_zone_estate, results_of
from tests.test_teams import SWEEP, card_texts, validate_card
from tests.webhook_capture import Answer, WebhookCapture
from tools import make_example_estate as estate

pytestmark = pytest.mark.azurite
PORTAL = "https://portal.azure.com"


@pytest.fixture
def capture() -> Iterator[WebhookCapture]:
    with WebhookCapture() as server:
        yield server


@pytest.fixture
def state(azurite: Azurite) -> Iterator[RootCauseState]:
    with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        yield RootCauseState(service.create_table("rc" + uuid.uuid4().hex[:12]))


@pytest.fixture(scope="module")
def zone() -> dict[str, ClusterResult]:
    return {result.cluster.name: result for result in results_of(*landing_zone_estate())}


def sender(capture: WebhookCapture) -> TeamsSender:
    routes = WebhookRoutes.parse(
        f'{{"{estate.CONNECTIVITY_SUB.upper()}": "{capture.url("/network-team")}"}}', capture.url("/default"), ()
    )  # local test webhooks: no host list applies
    return TeamsSender(routes, timeout_seconds=5.0)


def later(hours: int) -> SweepRef:
    return replace(SWEEP, sweep_id=f"{SWEEP.sweep_id[:-2]}{hours:02d}", started=SWEEP.started + timedelta(hours=hours))


def healthy(result: ClusterResult, like: ClusterResult) -> ClusterResult:
    return replace(result, findings=like.findings)


def test_one_card_per_root_cause_to_the_connectivity_subscription_then_resolved(zone, capture, state) -> None:
    for result in zone.values():  # each cluster's check, in any order, moves only itself
        state.record_cluster(result)
    outcomes = notify_root_causes(state, SWEEP, sender(capture), PORTAL)
    [sent] = [o for o in outcomes if o.status is OutcomeStatus.SENT]
    assert sent.change == "opened" and sent.webhooks == (estate.CONNECTIVITY_SUB.upper(),)  # matched case-insensitively
    [post] = capture.posts_to("/network-team")
    card = validate_card(post.message)
    texts = card_texts(card)
    assert (
        texts[0]
        == "AKS API Reach root cause: firewall policy afwp-hub-nonprod-weu (resource group rg-firewall-policies)"
    )
    assert texts[1] == "New root cause: breaks 2 clusters"
    assert [t for t in texts if t.startswith("- ")] == [
        "- aks-dev-1 (egress-rules) · new",
        "- aks-dev-2 (egress-rules) · new",
    ]
    monospace = [e["text"] for e in card["body"] if e.get("fontType") == "Monospace"]
    assert len(monospace) == 1 and "--source-addresses 10.221.0.0/16 10.222.0.0/16" in monospace[0]
    assert card["actions"][0]["url"].endswith("/providers/microsoft.network/firewallpolicies/afwp-hub-nonprod-weu")
    assert not capture.posts_to("/default")

    # The same results again: nothing to say.
    assert {o.status for o in notify_root_causes(state, later(1), sender(capture), PORTAL)} == {OutcomeStatus.UNCHANGED}
    # One spoke fixed: the cause shrinks, which sends nothing; both fixed: one "resolved" card.
    prod = zone["aks-prod-1"]
    state.record_cluster(healthy(zone["aks-dev-1"], prod))
    assert {o.status for o in notify_root_causes(state, later(2), sender(capture), PORTAL)} == {OutcomeStatus.UNCHANGED}
    state.record_cluster(healthy(zone["aks-dev-2"], prod))
    [resolved] = notify_root_causes(state, later(3), sender(capture), PORTAL)
    assert resolved.status is OutcomeStatus.SENT and resolved.change == "resolved"
    card = validate_card(capture.posts_to("/network-team")[-1].message)
    assert card_texts(card)[1] == "Resolved: no cluster fails on it now (1 when last reported)"
    assert len(capture.posts_to("/network-team")) == 2


def test_a_muted_or_unjudged_cluster_keeps_its_place_and_a_late_sweep_changes_nothing(zone, capture, state) -> None:
    for result in zone.values():
        state.record_cluster(result)
    notify_root_causes(state, later(5), sender(capture), PORTAL)
    assert len(capture.posts_to("/network-team")) == 1
    dev = zone["aks-dev-1"]
    muted = replace(
        dev, findings=tuple(replace(f, muted=Mute("hub change booked", "mute list entry 1")) for f in dev.findings)
    )
    assert state.record_cluster(muted) == []  # a mute neither resolves nor shrinks the cause
    (row,) = [row for row in state.rows() if row.key.startswith(CauseKind.FIREWALL.value)]
    assert sorted(name for name, _ in row.members.values()) == ["aks-dev-1", "aks-dev-2"]
    # A result of an older sweep is not applied.
    state.record_cluster(healthy(zone["aks-dev-1"], zone["aks-prod-1"]))
    state.record_cluster(healthy(zone["aks-dev-2"], zone["aks-prod-1"]))
    [stale] = notify_root_causes(state, SWEEP, sender(capture), PORTAL)
    assert stale.status is OutcomeStatus.STALE and len(capture.posts_to("/network-team")) == 1


def test_a_refusing_webhook_keeps_the_change_for_the_next_sweep(zone, capture, state) -> None:
    for result in zone.values():
        state.record_cluster(result)
    capture.answer("/network-team", Answer(status=400))
    [failed] = notify_root_causes(state, SWEEP, sender(capture), PORTAL)
    assert failed.status is OutcomeStatus.FAILED and "HTTP 400" in failed.reason
    [sent] = notify_root_causes(state, later(1), sender(capture), PORTAL)
    assert sent.status is OutcomeStatus.SENT and sent.change == "opened"


def tagged(raws: list[RawCluster], resource_type: str, owner: str) -> list[RawCluster]:
    """The estate with every resource of this type carrying the owner tag (ARM bodies keep `tags` at the top)."""
    for raw in raws:
        for resource in raw.network or []:
            if str(resource.get("type", "")).lower() == resource_type.lower():
                resource["tags"] = {"Owner": owner, "cost-center": "4711"}  # tag names are case-insensitive
    return raws


def test_a_cause_whose_resource_carries_the_owner_tag_goes_to_that_owners_webhook_first(capture, state) -> None:
    raws = tagged(landing_zone_estate(), "Microsoft.Network/firewallPolicies", "hub-team, security")
    results = results_of(*raws)
    dev = next(r for r in results if r.cluster.name == "aks-dev-1")
    (cause,) = {c for f in dev.findings for c in f.root_causes if c.kind is CauseKind.FIREWALL}
    assert cause.owners == ("hub-team", "security")
    for result in results:
        state.record_cluster(result)
    routes = WebhookRoutes.parse(
        json.dumps(
            {
                "HUB-TEAM": capture.url("/hub-team"),
                estate.CONNECTIVITY_SUB: capture.url("/network-team"),  # the subscription's route comes second
            }
        ),
        capture.url("/default"),
        (),
    )
    [sent] = [o for o in notify_root_causes(state, SWEEP, TeamsSender(routes, 5.0), PORTAL) if o.webhooks]
    assert sent.webhooks == ("HUB-TEAM",) and not capture.posts_to("/network-team")
    card = validate_card(capture.posts_to("/hub-team")[0].message)
    assert {"title": "Owners (resource tag)", "value": "hub-team, security"} in card["body"][2]["facts"]
    # No webhook for any of its owners: the subscription's route, then the default.
    assert routes.for_cause(["security"], estate.CONNECTIVITY_SUB)[0].url == capture.url("/network-team")
    assert routes.for_cause(["security"], "another-subscription")[0].url == capture.url("/default")


def test_a_sweeps_close_drops_clusters_it_did_not_check_and_their_sources_from_the_fix(zone, capture, state) -> None:
    for result in zone.values():
        state.record_cluster(result)
    notify_root_causes(state, SWEEP, sender(capture), PORTAL)
    closing_sweep_started = datetime.now(UTC)
    etags = {row.key: row.etag for row in state.rows()}
    for name in ("aks-prod-1", "aks-prod-2", "aks-dev-2"):  # aks-dev-1 was deleted: no sweep checks it again
        state.record_cluster(zone[name])
    assert {row.key: row.etag for row in state.rows()} == etags  # the same verdicts write no shared row
    assert state.prune(closing_sweep_started) == [
        row.key for row in state.rows() if row.key.startswith(CauseKind.FIREWALL.value)
    ]
    (row,) = [row for row in state.rows() if row.key.startswith(CauseKind.FIREWALL.value)]
    assert [name for name, _ in row.members.values()] == ["aks-dev-2"]
    assert "10.222.0.0/16" in row.cause["fix"] and "10.221.0.0/16" not in row.cause["fix"]
    assert row.cause["sources"] == ["10.222.0.0/16"]
    # A shrink sends nothing; the estate view the sweep's events report has the one cluster left.
    assert {o.status for o in notify_root_causes(state, later(1), sender(capture), PORTAL)} == {OutcomeStatus.UNCHANGED}
    (group,) = state.estate_causes()
    assert [c.name for c in group.clusters] == ["aks-dev-2"] and group.status.value == "fail"
    assert state.prune(closing_sweep_started) == []  # checked since: stays
