"""Teams notifications: cards (validated against the Adaptive Card 1.4 schema), change detection with the
state in Azurite tables through the real TableClient, routing, retries and the size rule, against a local
capture webhook. Cluster results come from evaluating the sample estate, so findings are real."""

from __future__ import annotations

import itertools
import json
import logging
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import adaptive_cards
import jsonschema
import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableClient, TableServiceClient

from collect.snapshot_folder import read_estate
from model.errors import SettingsError
from model.finding import ClusterResult, Status
from publish.notify_state import NotificationState, Notified, SweepRef, partition_key, row_key
from publish.root_cause_card import CauseChange, PrecedingChange, root_cause_message
from publish.teams import (
    NotificationOutcome,
    OutcomeStatus,
    TeamsSender,
    WebhookRoutes,
    notify,
    parse_retry_after,
)
from publish.teams_card import MAX_MESSAGE_BYTES, FailureChange, encode_message, portal_link, teams_message
from sweep.app.runtime import teams_from_settings
from sweep.app.storage import table_client
from sweep.core.evaluate import evaluate_raw, unreachable_result
from sweep.core.settings import Settings
from tests.azurite import Azurite, UnsignedStorageToken
from tests.builders import make_cluster
from tests.webhook_capture import Answer, WebhookCapture

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = Path(adaptive_cards.__file__).parent / "schemas" / "schema-1.4.json"
SECRET_PATH = "/workflows/0f1e2d3c4b5a/triggers/manual/paths/invoke"
SECRET_QUERY = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sig=Zx9SecretSignature"
SWEEP = SweepRef("019ad3c4-5e00-7abc-8def-0123456789ab", datetime(2026, 11, 29, 12, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def estate() -> dict[str, ClusterResult]:
    settings = Settings()
    results = [evaluate_raw(folder.raw, settings) for folder in read_estate(ROOT / "examples" / "estate") if folder.raw]
    return {result.cluster.name: result for result in results}


@pytest.fixture
def capture() -> Iterator[WebhookCapture]:
    with WebhookCapture() as server:
        yield server


@pytest.fixture
def state(azurite: Azurite) -> Iterator[NotificationState]:
    table = "state" + uuid.uuid4().hex[:12]  # one table per test: tests share one Azurite
    with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        yield NotificationState(service.create_table(table))


def validate_card(message: dict) -> dict:
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft6Validator(schema).validate(card)
    assert card["version"] == "1.4"
    return card


def card_texts(card: dict) -> list[str]:
    return [element["text"] for element in card["body"] if element["type"] == "TextBlock"]


def routes_of(settings: Settings) -> WebhookRoutes:
    return WebhookRoutes.parse(settings.teams_webhooks, settings.teams_default_webhook, settings.teams_webhook_hosts)


def sender_for(settings: Settings, **options: float) -> TeamsSender:
    return TeamsSender(routes_of(settings), timeout_seconds=5.0, **options)


def fixed(result: ClusterResult, healthy: ClusterResult) -> ClusterResult:
    """The same cluster once its problems are fixed: the findings of a healthy sample cluster."""
    assert not healthy.failed
    return replace(result, findings=healthy.findings)


# --- the card --------------------------------------------------------------------------------------------


def test_card_is_a_valid_adaptive_card_1_4_with_commands_and_portal_link(estate):
    ledger = estate["aks-ledger-prod"]
    change = FailureChange(new=("egress-rules",), still=(), resolved=("konnectivity-agent",))
    card = validate_card(teams_message(ledger, change, "https://portal.azure.com/"))
    texts = card_texts(card)
    egress = next(finding for finding in ledger.findings if finding.check == "egress-rules")
    assert texts[0] == "AKS API Reach: aks-ledger-prod"
    assert egress.title in texts
    monospace = [element["text"] for element in card["body"] if element.get("fontType") == "Monospace"]
    # The hub firewall is the network team's: the owners read whose it is, not a command they cannot run.
    assert monospace == [] and egress.root_causes
    assert any(
        text.startswith("Root cause: firewall fw-hub-classic (resource group rg-connectivity-hub)") for text in texts
    )
    assert any(text.startswith("- konnectivity-agent (now pass)") for text in texts)
    facts = {fact["title"]: fact["value"] for fact in card["body"][2]["facts"]}
    assert facts["Resource group"] == "rg-aks-ledger-prod"
    assert facts["Owners"] == "team-ledger"
    assert card["actions"][0]["url"] == f"https://portal.azure.com/#@/resource{ledger.cluster.id}"
    assert portal_link("https://portal.azure.us", "/x") == "https://portal.azure.us/#@/resource/x"


def test_huge_findings_are_cut_to_the_size_limit_with_and_n_more(estate):
    ledger = estate["aks-ledger-prod"]
    huge = tuple(
        replace(
            finding,
            status=Status.FAIL,
            detail="d" * 40_000,
            remediation=f"az aks update {'--x ' * 1500}",
            root_causes=(),
        )
        for finding in ledger.findings
    )
    result = replace(ledger, findings=huge)
    checks = tuple(finding.check for finding in huge)
    message = teams_message(result, FailureChange(new=checks, still=(), resolved=()), "https://portal.azure.com")
    assert len(encode_message(message)) <= MAX_MESSAGE_BYTES
    card = validate_card(message)
    shown = [element for element in card["body"] if element.get("fontType") == "Monospace"]
    assert 1 <= len(shown) < len(checks)
    assert f"… and {len(checks) - len(shown)} more failing checks (see the full report)" in card_texts(card)
    details = [text for text in card_texts(card) if text.startswith("ddd")]
    assert details and all(len(text) <= 600 for text in details)


def test_a_card_that_fits_has_no_and_more(estate):
    result = estate["aks-risk-private"]
    failing = tuple(finding.check for finding in result.findings if finding.status is Status.FAIL)
    card = validate_card(teams_message(result, FailureChange(failing, (), ()), "https://portal.azure.com"))
    assert not [text for text in card_texts(card) if "more failing" in text]
    # A finding with a root cause names it instead of its command (the cause's owners get the command).
    own = [f for f in result.findings if f.status is Status.FAIL and not f.root_causes]
    assert len([element for element in card["body"] if element.get("fontType") == "Monospace"]) == len(own)
    assert len(failing) == 2 and len(own) < len(failing)


# --- change detection with the state in Azurite ------------------------------------------------------------


@pytest.mark.azurite
def test_second_identical_sweep_sends_nothing_and_a_fix_sends_resolved(estate, capture, state):
    settings = Settings(teams_default_webhook=capture.url("/default"))
    sender = sender_for(settings)
    ledger = estate["aks-ledger-prod"]

    [first] = notify([ledger], SWEEP, state, sender, settings.portal_url)
    assert (first.status, first.new, first.resolved) == (OutcomeStatus.SENT, ("egress-rules",), ())
    [post] = capture.posts_to("/default")
    card = validate_card(post.message)
    assert "egress-rules · severity high" in card_texts(card)
    assert state.last_failing(ledger.cluster) == {"egress-rules"}

    [second] = notify([ledger], SWEEP, state, sender, settings.portal_url)
    assert second.status is OutcomeStatus.UNCHANGED
    assert len(capture.posts_to("/default")) == 1

    [third] = notify([fixed(ledger, estate["aks-payments-prod"])], SWEEP, state, sender, settings.portal_url)
    assert (third.status, third.new, third.resolved) == (OutcomeStatus.SENT, (), ("egress-rules",))
    resolved_card = validate_card(capture.posts_to("/default")[1].message)
    assert "Resolved" in card_texts(resolved_card)
    assert any(text.startswith("- egress-rules (now pass)") for text in card_texts(resolved_card))
    assert state.last_failing(ledger.cluster) == frozenset()

    [fourth] = notify([fixed(ledger, estate["aks-payments-prod"])], SWEEP, state, sender, settings.portal_url)
    assert fourth.status is OutcomeStatus.UNCHANGED
    assert len(capture.posts_to("/default")) == 2


def later(sweep: SweepRef, hours: int = 1) -> SweepRef:
    return SweepRef(f"{sweep.sweep_id[:-2]}{hours:02d}", sweep.started + timedelta(hours=hours))


@pytest.mark.azurite
def test_concurrent_deliveries_of_one_result_post_one_card(estate, capture, state):
    """Threads stand for workers handling redeliveries of the same message at once: each round, eight read
    the same state row; the ETag and the claim let exactly one of them post."""
    settings = Settings(teams_default_webhook=capture.url("/default"))
    sender = sender_for(settings, min_interval_seconds=0.0)
    failing = [result for result in estate.values() if result.failed]
    assert len(failing) >= 3
    for round_, result in enumerate(failing):
        start = threading.Barrier(8)

        def deliver(result: ClusterResult = result, start: threading.Barrier = start) -> NotificationOutcome:
            start.wait(timeout=10)
            [outcome] = notify([result], SWEEP, state, sender, settings.portal_url)
            return outcome

        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = [future.result(timeout=60) for future in [pool.submit(deliver) for _ in range(8)]]
        statuses = sorted(outcome.status.value for outcome in outcomes)
        assert statuses.count("sent") == 1, statuses
        assert set(statuses) <= {"sent", "busy", "unchanged"}
        assert len(capture.posts) == round_ + 1  # one card per cluster, whatever the interleaving
        notified = state.read(result.cluster)
        assert notified.failing == {f.check for f in result.findings if f.status is Status.FAIL}
        assert notified.sweep == SWEEP and not notified.claimed_by


@pytest.mark.azurite
def test_a_late_result_of_an_older_sweep_neither_posts_nor_overwrites(estate, capture, state):
    settings = Settings(teams_default_webhook=capture.url("/default"))
    sender = sender_for(settings)
    ledger = estate["aks-ledger-prod"]
    healed = fixed(ledger, estate["aks-payments-prod"])
    older, newer = SWEEP, later(SWEEP)

    assert notify([ledger], older, state, sender, settings.portal_url)[0].status is OutcomeStatus.SENT
    [resolved] = notify([healed], newer, state, sender, settings.portal_url)
    assert (resolved.status, resolved.resolved) == (OutcomeStatus.SENT, ("egress-rules",))
    [late] = notify([ledger], older, state, sender, settings.portal_url)  # sweep N's redelivery, after N+1
    assert late.status is OutcomeStatus.STALE and newer.sweep_id in late.reason
    assert len(capture.posts) == 2
    assert state.read(ledger.cluster).failing == frozenset() and state.read(ledger.cluster).sweep == newer


@pytest.mark.azurite
def test_an_unchanged_result_still_moves_the_row_to_its_sweep(estate, capture, state):
    """Sweep N+1 finds a never-notified cluster healthy (nothing to send); sweep N's late failing result
    must not then announce a failure the newest check does not see."""
    settings = Settings(teams_default_webhook=capture.url("/default"))
    sender = sender_for(settings)
    ledger = estate["aks-ledger-prod"]
    healed = fixed(ledger, estate["aks-payments-prod"])
    [quiet] = notify([healed], later(SWEEP), state, sender, settings.portal_url)
    assert quiet.status is OutcomeStatus.UNCHANGED and state.read(ledger.cluster).sweep == later(SWEEP)
    assert notify([ledger], SWEEP, state, sender, settings.portal_url)[0].status is OutcomeStatus.STALE
    assert capture.posts == []


@pytest.mark.azurite
def test_a_claim_left_by_a_stopped_delivery_lapses(estate, capture, state):
    settings = Settings(teams_default_webhook=capture.url("/default"))
    ledger = estate["aks-ledger-prod"]
    now = datetime.now(UTC)
    held = state.write(
        ledger.cluster, Notified(), [], None, "019ad3c4-0000-7000-8000-000000000000", now + timedelta(minutes=5)
    )
    [busy] = notify([ledger], SWEEP, state, sender_for(settings), settings.portal_url)
    assert busy.status is OutcomeStatus.BUSY and capture.posts == []
    state.write(ledger.cluster, held, [], None, held.claimed_by, now - timedelta(seconds=1))  # its time is up
    [sent] = notify([ledger], SWEEP, state, sender_for(settings), settings.portal_url)
    assert sent.status is OutcomeStatus.SENT and len(capture.posts) == 1


@pytest.mark.azurite
def test_first_sweep_of_a_healthy_cluster_sends_nothing(estate, capture, state):
    settings = Settings(teams_default_webhook=capture.url("/default"))
    [outcome] = notify([estate["aks-payments-prod"]], SWEEP, state, sender_for(settings), settings.portal_url)
    assert outcome.status is OutcomeStatus.UNCHANGED
    assert capture.posts == []


@pytest.mark.azurite
def test_a_collection_error_neither_resolves_nor_renotifies(estate, capture, state):
    settings = Settings(teams_default_webhook=capture.url("/default"))
    sender = sender_for(settings)
    risk = estate["aks-risk-private"]
    assert notify([risk], SWEEP, state, sender, settings.portal_url)[0].status is OutcomeStatus.SENT
    unreachable = replace(unreachable_result(risk.cluster.id, "Kubernetes API: timeout"), owners=risk.owners)
    [during_outage] = notify([unreachable], SWEEP, state, sender, settings.portal_url)
    assert during_outage.status is OutcomeStatus.UNCHANGED
    assert state.last_failing(risk.cluster) == {"private-cluster-reach", "apiserver-probe"}
    assert notify([risk], SWEEP, state, sender, settings.portal_url)[0].status is OutcomeStatus.UNCHANGED
    assert len(capture.posts) == 1


@pytest.mark.azurite
def test_429_with_retry_after_then_success(estate, capture, state):
    settings = Settings(teams_default_webhook=capture.url("/busy"))
    capture.answer("/busy", Answer(429, '{"error":"throttled"}', {"Retry-After": "1"}))
    started = time.monotonic()
    [outcome] = notify([estate["aks-web-prod"]], SWEEP, state, sender_for(settings), settings.portal_url)
    assert outcome.status is OutcomeStatus.SENT
    posts = capture.posts_to("/busy")
    assert len(posts) == 2 and posts[0].body == posts[1].body
    assert posts[1].received_at - posts[0].received_at >= 1.0  # waited as long as Retry-After asked
    assert time.monotonic() - started >= 1.0
    assert state.last_failing(estate["aks-web-prod"].cluster) == {"alpn-tls"}


@pytest.mark.azurite
def test_a_failing_webhook_keeps_the_state_so_the_next_sweep_sends_again(estate, capture, state):
    settings = Settings(teams_default_webhook=capture.url("/down"))
    sender = sender_for(settings, max_attempts=3, backoff_seconds=0.05)
    search = estate["aks-search-prod"]
    capture.always("/down", Answer(503, "Service Unavailable"))
    [failed] = notify([search], SWEEP, state, sender, settings.portal_url)
    assert failed.status is OutcomeStatus.FAILED
    assert failed.reason == "not accepted by default webhook: HTTP 503 (after 3 attempts)"
    assert len(capture.posts_to("/down")) == 3
    assert state.last_failing(search.cluster) == frozenset()

    capture.always("/down", Answer(202))
    [sent] = notify([search], SWEEP, state, sender, settings.portal_url)
    assert (sent.status, sent.new) == (OutcomeStatus.SENT, ("kubelet-port",))
    assert state.last_failing(search.cluster) == {"kubelet-port"}


@pytest.mark.azurite
def test_one_refusing_owner_fails_the_cluster_and_both_owners_get_it_next_sweep(estate, capture, state):
    webhooks = {"team-a": capture.url("/a"), "team-b": capture.url("/b")}
    settings = Settings(teams_webhooks=json.dumps(webhooks))
    sender = sender_for(settings)
    result = replace(estate["aks-claims-prod"], owners=("team-a", "team-b"))
    capture.answer("/b", Answer(400, "Bad Request"))
    [failed] = notify([result], SWEEP, state, sender, settings.portal_url)
    assert (failed.status, failed.reason) == (OutcomeStatus.FAILED, "not accepted by team-b: HTTP 400")
    assert len(capture.posts_to("/b")) == 1  # a 4xx other than 429 is not retried
    [sent] = notify([result], SWEEP, state, sender, settings.portal_url)
    assert sent.status is OutcomeStatus.SENT and sent.webhooks == ("team-a", "team-b")
    assert len(capture.posts_to("/a")) == 2 and len(capture.posts_to("/b")) == 2


@pytest.mark.azurite
def test_legacy_connector_answers(estate, capture, state):
    settings = Settings(teams_webhooks=json.dumps({"team-web": capture.url("/legacy")}))
    capture.answer("/legacy", Answer(200, "Summary or Text is required."))
    [refused] = notify([estate["aks-web-prod"]], SWEEP, state, sender_for(settings), settings.portal_url)
    assert refused.reason == "not accepted by team-web: HTTP 200 with an error: Summary or Text is required."
    capture.answer("/legacy", Answer(200, "1"))
    [accepted] = notify([estate["aks-web-prod"]], SWEEP, state, sender_for(settings), settings.portal_url)
    assert accepted.status is OutcomeStatus.SENT


# --- routing -----------------------------------------------------------------------------------------------


@pytest.mark.azurite
def test_routing_by_owner_case_insensitive_default_and_one_post_per_url(estate, capture, state):
    webhooks = {
        "Team-Ledger": capture.url("/ledger"),
        "team-x": capture.url("/shared"),
        "team-y": capture.url("/shared"),
    }
    settings = Settings(teams_webhooks=json.dumps(webhooks), teams_default_webhook=capture.url("/default"))
    results = [
        estate["aks-ledger-prod"],  # owner team-ledger: matches "Team-Ledger"
        estate["aks-orders-prod"],  # owner team-orders: not in the map -> default
        replace(estate["aks-search-prod"], owners=()),  # no owner tag -> default
        replace(estate["aks-web-prod"], owners=("team-x", "TEAM-Y")),  # one URL for both -> one post
        replace(estate["aks-claims-prod"], owners=("team-x", "team-orders")),  # shared URL and the default
    ]
    outcomes = notify(results, SWEEP, state, sender_for(settings), settings.portal_url)
    assert [outcome.status for outcome in outcomes] == [OutcomeStatus.SENT] * 5
    assert [outcome.webhooks for outcome in outcomes] == [
        ("Team-Ledger",),
        ("default webhook",),
        ("default webhook",),
        ("team-x, team-y",),
        ("team-x", "default webhook"),
    ]

    def names(path: str) -> list[str]:
        return [card_texts(validate_card(post.message))[0] for post in capture.posts_to(path)]

    assert names("/ledger") == ["AKS API Reach: aks-ledger-prod"]
    assert names("/default") == [
        "AKS API Reach: aks-orders-prod",
        "AKS API Reach: aks-search-prod",
        "AKS API Reach: aks-claims-prod",
    ]
    assert names("/shared") == ["AKS API Reach: aks-web-prod", "AKS API Reach: aks-claims-prod"]


@pytest.mark.azurite
def test_no_webhook_at_all_skips_and_keeps_the_change_for_later(estate, capture, state, caplog):
    caplog.set_level(logging.INFO, logger="aks_api_reach.teams")
    settings = Settings(teams_webhooks=json.dumps({"team-other": capture.url("/other")}))
    [outcome] = notify([estate["aks-orders-prod"]], SWEEP, state, sender_for(settings), settings.portal_url)
    assert (outcome.status, outcome.reason) == (
        OutcomeStatus.SKIPPED,
        "no webhook for team-orders and no default webhook",
    )
    assert capture.posts == []
    assert state.last_failing(estate["aks-orders-prod"].cluster) == frozenset()
    assert "Teams skipped: aks-orders-prod (no webhook for team-orders and no default webhook)" in caplog.text


def test_posts_to_one_url_are_paced_below_four_per_second(estate, capture):
    sender = TeamsSender(routes_of(Settings(teams_default_webhook=capture.url("/paced"))))
    [webhook] = sender.routes.for_owners(())
    message = teams_message(estate["aks-web-prod"], FailureChange(("alpn-tls",), (), ()), "https://portal.azure.com")
    deliveries = [sender.deliver(webhook, message) for _ in range(3)]
    assert all(delivery.accepted for delivery in deliveries)
    times = [post.received_at for post in capture.posts_to("/paced")]
    assert len(times) == 3 and all(later - earlier >= 0.25 for earlier, later in itertools.pairwise(times))


# --- secrets -----------------------------------------------------------------------------------------------


@pytest.mark.azurite
def test_webhook_urls_never_reach_logs_or_outcomes(estate, capture, state, caplog):
    caplog.set_level(logging.DEBUG)
    secret_url = capture.url(f"{SECRET_PATH}?{SECRET_QUERY}")
    refused_url = capture.url(f"/refused{SECRET_PATH}?{SECRET_QUERY}")
    unreachable_url = f"http://127.0.0.1:9/{SECRET_PATH}?{SECRET_QUERY}"  # discard port: nothing listens
    webhooks = {"team-web": secret_url, "team-ledger": refused_url, "team-risk": unreachable_url}
    settings = Settings(teams_webhooks=json.dumps(webhooks))
    capture.answer(SECRET_PATH, Answer(429, "", {"Retry-After": "0"}))
    capture.always(f"/refused{SECRET_PATH}", Answer(500, f"failed to run {SECRET_PATH}"))
    sender = sender_for(settings, max_attempts=2, backoff_seconds=0.05)
    results = [estate["aks-web-prod"], estate["aks-ledger-prod"], estate["aks-risk-private"]]
    outcomes = notify(results, SWEEP, state, sender, settings.portal_url)
    assert [outcome.status for outcome in outcomes] == [OutcomeStatus.SENT, OutcomeStatus.FAILED, OutcomeStatus.FAILED]
    assert outcomes[2].reason.startswith("not accepted by team-risk: request failed: URLError:")
    texts = [caplog.text, *(repr(outcome) for outcome in outcomes), repr(sender.routes)]
    for secret in (SECRET_PATH, "Zx9SecretSignature", secret_url, capture.url(""), "0f1e2d3c4b5a"):
        assert all(secret not in text for text in texts), secret


# --- settings and construction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (
            {"AKS_REACH_TEAMS_WEBHOOKS": "not json"},
            "AKS_REACH_TEAMS_WEBHOOKS is not a JSON object of owner to webhook URL",
        ),
        ({"AKS_REACH_TEAMS_WEBHOOKS": '["https://a"]'}, "AKS_REACH_TEAMS_WEBHOOKS is not a JSON object"),
        ({"AKS_REACH_TEAMS_WEBHOOKS": '{"team-a": 7}'}, "the entry of owner 'team-a' is not an owner name and a URL"),
        (
            {"AKS_REACH_TEAMS_WEBHOOKS": '{"team-a": "http://hooks.example.com/secret-path"}'},
            "AKS_REACH_TEAMS_WEBHOOKS (owner 'team-a') is not an https URL",
        ),
        (
            {"AKS_REACH_TEAMS_DEFAULT_WEBHOOK": "ftp://hooks.example.com/secret-path"},
            "AKS_REACH_TEAMS_DEFAULT_WEBHOOK is not an https URL",
        ),
        (
            {
                "AKS_REACH_TEAMS_DEFAULT_WEBHOOK": "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/hook/)"
            },
            "AKS_REACH_TEAMS_DEFAULT_WEBHOOK is an unresolved Key Vault reference",
        ),
        (  # cards carry ranges, egress IPs and node names: a typo'd or planted URL must not receive them
            {"AKS_REACH_TEAMS_WEBHOOKS": '{"team-a": "https://hooks.example.com/secret-path"}'},
            "AKS_REACH_TEAMS_WEBHOOKS (owner 'team-a') points at a host outside AKS_REACH_TEAMS_WEBHOOK_HOSTS",
        ),
        (  # a suffix match, not a substring: the pattern's dot is part of it
            {"AKS_REACH_TEAMS_DEFAULT_WEBHOOK": "https://evil-logic.azure.com.example.net/secret-path"},
            "AKS_REACH_TEAMS_DEFAULT_WEBHOOK points at a host outside AKS_REACH_TEAMS_WEBHOOK_HOSTS",
        ),
    ],
)
def test_bad_webhook_settings_name_the_setting_never_the_url(environment, message):
    with pytest.raises(SettingsError) as error:
        routes_of(Settings.from_env(environment))
    assert message in str(error.value)
    assert "secret-path" not in str(error.value) and "kv.vault" not in str(error.value)


def test_https_and_local_http_webhooks_are_accepted():
    settings = Settings(
        teams_webhooks='{"a": "https://prod-1.westeurope.logic.azure.com/workflows/x", "b": "http://localhost:8080/x"}',
        teams_default_webhook="http://127.0.0.1:7071/hook",
    )
    routes = routes_of(settings)
    assert sorted(routes.by_owner) == ["a", "b"] and routes.default is not None
    assert "logic.azure.com" not in repr(routes)
    power_platform = "https://0a1b2c3d4e5f.00.environment.api.powerplatform.com:443/powerautomate/automations/direct/x"
    legacy = "https://contoso.webhook.office.com/webhookb2/x"
    assert len(routes_of(Settings(teams_webhooks=json.dumps({"a": power_platform, "b": legacy}))).by_owner) == 2
    sovereign = Settings(teams_default_webhook="https://prod-1.usgovarizona.logic.azure.us/workflows/x")
    assert routes_of(replace(sovereign, teams_webhook_hosts=("*.logic.azure.us",))).default is not None


def test_teams_needs_a_state_store():
    with pytest.raises(SettingsError, match="AzureWebJobsStorage"):
        table_client(Settings(teams_default_webhook="https://example.org/hook"), None)


@pytest.mark.azurite
def test_teams_from_settings_with_the_storage_connection_string(estate, capture, azurite):
    settings = Settings(
        teams_default_webhook=capture.url("/default"),
        storage_connection=azurite.connection_string,
        state_table="fromsettings" + uuid.uuid4().hex[:8],
    )
    state, sender = teams_from_settings(settings, table_client(settings, None))
    outcomes: list[NotificationOutcome] = notify(
        [estate["aks-storefront-prod"]], SWEEP, state, sender, settings.portal_url
    )
    assert outcomes[0].status is OutcomeStatus.SENT and outcomes[0].new == ("helm-history",)
    assert state.table_name == settings.state_table


@pytest.mark.azurite
def test_state_by_table_endpoint_and_credential(azurite):
    # Azure passes the managed identity's TokenCredential; Azurite over http takes the account key credential.
    credential = AzureNamedKeyCredential(azurite.account_name, azurite.account_key)
    table = "endpoint" + uuid.uuid4().hex[:8]
    cluster = make_cluster(name="aks-endpoint")
    writer = NotificationState(TableServiceClient(azurite.table_url, credential=credential).create_table(table))
    writer.write(cluster, Notified(), ["kubelet-port", "alpn-tls"], SWEEP)
    reader = NotificationState(TableClient.from_connection_string(azurite.connection_string, table))
    assert reader.last_failing(cluster) == {"alpn-tls", "kubelet-port"}
    assert reader.last_failing(make_cluster(name="aks-other")) == frozenset()


def test_table_keys_are_valid_and_distinct():
    cluster = make_cluster(name="aks-Prod-1")
    assert partition_key(cluster) == "00000000-0000-0000-0000-000000000001"
    assert row_key(cluster).startswith("aks-prod-1-")
    assert row_key(replace(cluster, id=cluster.id.upper())) == row_key(cluster)  # ARM ids are case-insensitive
    other_group = replace(cluster, id=cluster.id.replace("/resourceGroups/rg-aks/", "/resourceGroups/rg-aks.aks-prod/"))
    assert row_key(other_group) != row_key(cluster)
    not_aks = replace(cluster, id="unknown cluster?#/x\x01", subscription="")
    key = row_key(not_aks)
    assert not set(key) & set("/\\#?") and all(ord(character) >= 0x20 for character in key)
    assert partition_key(not_aks) == "unknown-subscription"


def test_retry_after_in_seconds_or_as_a_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: retry now


def test_a_retry_after_beyond_the_budget_gives_up_at_once(estate, capture):
    sender = TeamsSender(routes_of(Settings(teams_default_webhook=capture.url("/slow"))), budget_seconds=5)
    [webhook] = sender.routes.for_owners(("anyone",))
    capture.answer("/slow", Answer(429, "", {"Retry-After": "120"}))
    message = teams_message(estate["aks-web-prod"], FailureChange(("alpn-tls",), (), ()), "https://portal.azure.com")
    started = time.monotonic()
    delivery = sender.deliver(webhook, message)
    assert not delivery.accepted and delivery.attempts == 1
    assert delivery.reason == "HTTP 429; no retry: waiting 120 s would pass the 5 s budget"
    assert time.monotonic() - started < 5


def test_a_redirect_is_refused_not_followed(estate, capture):
    sender = TeamsSender(routes_of(Settings(teams_default_webhook=capture.url("/moved"))))
    [webhook] = sender.routes.for_owners(())
    capture.answer("/moved", Answer(302, "", {"Location": capture.url("/elsewhere")}))
    message = teams_message(estate["aks-web-prod"], FailureChange(("alpn-tls",), (), ()), "https://portal.azure.com")
    delivery = sender.deliver(webhook, message)
    assert (delivery.accepted, delivery.reason) == (False, "HTTP 302")
    assert capture.posts_to("/elsewhere") == []


@pytest.mark.azurite
def test_the_posted_message_of_a_huge_cluster_fits(estate, capture, state):
    settings = Settings(teams_default_webhook=capture.url("/default"))
    ledger = estate["aks-ledger-prod"]
    huge = tuple(
        replace(finding, status=Status.FAIL, detail="d" * 40_000, remediation="x" * 9_000, root_causes=())
        for finding in ledger.findings
    )
    [outcome] = notify([replace(ledger, findings=huge)], SWEEP, state, sender_for(settings), settings.portal_url)
    assert outcome.status is OutcomeStatus.SENT and len(outcome.new) == len(huge)
    [post] = capture.posts_to("/default")
    assert len(post.body) <= MAX_MESSAGE_BYTES
    assert f"… and {len(huge) - 2} more failing checks (see the full report)" in card_texts(validate_card(post.message))


@pytest.mark.azurite
def test_state_with_the_table_service_uri_and_a_token_credential(estate, capture, azurite_oauth, monkeypatch):
    # The managed identity's path: AzureWebJobsStorage__tableServiceUri and a TokenCredential, over HTTPS.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_oauth.ca_bundle))
    credential = UnsignedStorageToken()
    settings = Settings(
        teams_default_webhook=capture.url("/default"),
        storage_table_uri=azurite_oauth.azurite.table_url,
        state_table="identity" + uuid.uuid4().hex[:8],
    )
    state, sender = teams_from_settings(settings, table_client(settings, credential))
    kubelet = estate["aks-search-prod"]
    assert [outcome.status for outcome in notify([kubelet], SWEEP, state, sender, settings.portal_url)] == [
        OutcomeStatus.SENT
    ]
    [again] = notify([kubelet], SWEEP, state, sender, settings.portal_url)
    assert again.status is OutcomeStatus.UNCHANGED
    assert state.last_failing(kubelet.cluster) == {"kubelet-port"}
    assert ("https://storage.azure.com/.default",) in credential.scopes
    assert len(capture.posts) == 1


# --- text from clusters is plain text ------------------------------------------------------------------------

MARKDOWN_LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\(([^)]*)\)")  # [text](url) with unescaped brackets
UNESCAPED_EMPHASIS = re.compile(r"(?<!\\)\*(?<!\\)\*")
HOSTILE = "dial tcp 10.1.2.3:10250: i/o timeout [Open the runbook](https://attacker.example)"


def hostile_result(tmp_path: Path) -> ClusterResult:
    """A sample cluster whose namespace holds a pod with the hostile probe output as a Warning event (what a
    tenant can write), evaluated by the real checks: kubelet-port quotes the event in its detail."""
    folder = tmp_path / "aks-payments-prod"
    shutil.copytree(ROOT / "examples" / "estate" / "aks-payments-prod", folder)
    event = {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": "web-0.17a", "namespace": "tenant-a"},
        "involvedObject": {
            "kind": "Pod",
            "namespace": "tenant-a",
            "name": "web-0 **[urgent](https://attacker.example)**",
        },
        "reason": "Unhealthy",
        "type": "Warning",
        "message": f"Readiness probe failed: {HOSTILE}",
    }
    (folder / "kube" / "03-EventList.json").write_text(
        json.dumps({"kind": "EventList", "apiVersion": "v1", "items": [event]})
    )
    cluster = json.loads((folder / "cluster.json").read_text())
    cluster["tags"] = {**cluster.get("tags", {}), "owner": "team-payments, [Approve](https://attacker.example/owner)"}
    (folder / "cluster.json").write_text(json.dumps(cluster))
    [read] = read_estate(folder)
    return evaluate_raw(read.raw, Settings())


def test_hostile_event_text_renders_inert_in_the_card(tmp_path):
    result = hostile_result(tmp_path)
    kubelet = next(finding for finding in result.findings if finding.check == "kubelet-port")
    assert kubelet.status is Status.FAIL and "[Open the runbook](https://attacker.example)" in kubelet.detail
    card = validate_card(teams_message(result, FailureChange(("kubelet-port",), (), ()), "https://portal.azure.com"))
    texts = card_texts(card) + [fact["value"] for fact in card["body"][2]["facts"]] + [card["fallbackText"]]
    links = [link for text in texts for link in MARKDOWN_LINK.findall(text)]
    assert links == [
        "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/tcp-timeouts-dial-tcp-nodeip-10250"
    ]
    assert not any(UNESCAPED_EMPHASIS.search(text) for text in texts)
    assert "https://attacker" not in json.dumps(card, ensure_ascii=False)
    detail = next(text for text in card_texts(card) if "Readiness probe failed" in text)
    assert "\\[Open the runbook\\](https:\u200b//attacker.example)" in detail  # shown as written, not a link
    owners = next(fact["value"] for fact in card["body"][2]["facts"] if fact["title"] == "Owners")
    assert owners == "team-payments, \\[Approve\\](https:\u200b//attacker.example/owner)"


def test_a_root_cause_card_shows_a_leaking_clients_user_agent_as_text() -> None:
    """A leaking client is named by its user agent, which whoever runs the client chooses."""
    agent = "evil/1.0 [Rotate the keys](https://attacker.example/rotate) **now**"
    cause = {"name": agent, "summary": f"{agent} lists pods 40 times a second", "items": [agent], "fix": agent}
    change = CauseChange.between(
        {}, {"/subscriptions/s/x": ("aks-payments-prod [x](https://attacker.example)", "apiserver-load")}
    )
    assert change is not None
    cause["owners"] = [agent]  # a resource's owner tag is the tenant's text too
    preceding = PrecedingChange(agent, "")
    card = validate_card(root_cause_message(cause, change, "https://portal.azure.com", preceding_change=preceding))
    texts = card_texts(card) + [fact["value"] for fact in card["body"][2]["facts"]] + [card["fallbackText"]]
    assert not [link for text in texts for link in MARKDOWN_LINK.findall(text)]
    assert not any(UNESCAPED_EMPHASIS.search(text) for text in texts)
    assert "https://attacker" not in json.dumps(card, ensure_ascii=False)
