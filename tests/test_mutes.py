"""Exemptions: matching, expiry, owners' tags on and off, unused entries and malformed lists (one line naming
the entry), then mutes through the CLI's exit status and JSON report, the Application Insights envelopes and
the Teams cards (a local webhook, the state in Azurite)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from azure.data.tables import TableServiceClient
from hypothesis import given
from hypothesis import strategies as st

from checks.registry import CHECK_IDS
from collect.snapshot_folder import read_estate
from model.finding import ClusterResult, Finding, Severity, Status
from model.mutes import MuteRule, TagMuteError, apply_mutes, tag_rules
from model.snapshot import frozen_map
from publish.appinsights import FINDING_EVENT, SWEEP_EVENT
from publish.notify_state import NotificationState, SweepRef
from publish.teams import OutcomeStatus, TeamsSender, WebhookRoutes, notify
from sweep.app.bookkeeping import new_sweep_id
from sweep.core.evaluate import evaluate_raw
from sweep.core.mutes import SCHEMA_PATH, Exemptions, ExemptionSource, MuteListError, parse_mute_list
from sweep.core.settings import Settings
from tests.azurite import Azurite
from tests.builders import SUBSCRIPTION, make_cluster
from tests.capture import IngestionCapture
from tests.test_appinsights import run_sweep
from tests.test_cli import ESTATE, SCHEMA, sweep
from tests.webhook_capture import WebhookCapture
from tools.make_example_estate import SUB

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_LIST = ROOT / "examples" / "mute-list.yaml"
TODAY = date(2026, 6, 1)
ESTATE_SUBSCRIPTIONS = [SUB, "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d"]  # the sample estate's (the landing zone's second)


def finding(check: str, status: Status = Status.FAIL) -> Finding:
    return Finding(check, status, Severity.HIGH, f"{check} title", f"{check} detail", "az fix", {}, "https://x")


def result_of(cluster=None, statuses: dict[str, Status] | None = None) -> ClusterResult:
    statuses = statuses or {"helm-history": Status.FAIL, "kubelet-port": Status.PASS}
    cluster = cluster or make_cluster(tags=frozen_map({"environment": "dev", "owner": "team-a"}))
    return ClusterResult(cluster, ("team-a",), tuple(finding(check, status) for check, status in statuses.items()))


def rule(**fields) -> MuteRule:
    return MuteRule(**{"label": "entry 1", "checks": frozenset({"helm-history"}), "reason": "accepted", **fields})


# --- matching ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selectors", "matches"),
    [
        ({"clusters": ("aks-test",)}, True),
        ({"clusters": ("AKS-*",)}, True),  # case-insensitive
        ({"clusters": ("*/resourceGroups/rg-aks/providers/*",)}, True),  # with "/": the ARM id
        ({"clusters": ("rg-aks",)}, False),  # without "/": the name only
        ({"clusters": ("other", "aks-t?st")}, True),  # alternatives of one kind: any
        ({"subscriptions": (SUBSCRIPTION.upper(),)}, True),
        ({"subscriptions": ("00000000-*",), "resource_groups": ("rg-other",)}, False),  # kinds: all
        ({"resource_groups": ("rg-*",)}, True),
        ({"tags": frozen_map({"Environment": "d*"})}, True),  # tag names ignore case, values are patterns
        ({"tags": frozen_map({"environment": "prod"})}, False),
        ({"tags": frozen_map({"environment": "dev", "cost-center": "*"})}, False),  # every tag must be there
    ],
)
def test_a_rule_matches_clusters_by_id_name_subscription_group_and_tag(selectors: dict, matches: bool) -> None:
    cluster = make_cluster(tags=frozen_map({"environment": "dev"}))
    assert rule(**selectors).matches(cluster) is matches


def test_a_matching_finding_keeps_its_status_and_gains_muted() -> None:
    applied = apply_mutes(result_of(), [rule(clusters=("aks-*",), expires=date(2026, 6, 30))], TODAY)
    helm, kubelet = applied.result.findings
    assert helm.status is Status.FAIL and helm.muted is not None
    assert helm.muted.to_dict() == {"reason": "accepted", "expires": "2026-06-30", "source": "entry 1"}
    assert kubelet.muted is None  # the rule names helm-history only
    assert not applied.result.failed and applied.matched == {"entry 1"}
    anchored = '{"mutes": [{"checks": ["*"], "clusters": ["/subscriptions/s/*/x"], "reason": "r"}]}'
    assert "*" in parse_mute_list(anchored, "s")[0].checks


def test_an_expired_rule_mutes_nothing_and_says_so_an_active_one_wins() -> None:
    last_day = rule(clusters=("aks-test",), expires=TODAY)
    assert apply_mutes(result_of(), [last_day], TODAY).result.findings[0].muted  # the expiry day still mutes
    expired = replace(last_day, expires=date(2026, 5, 31))
    helm = apply_mutes(result_of(), [expired], TODAY).result.findings[0]
    assert helm.muted is None and helm.expired_mute == expired.as_mute()
    assert helm.detail == "Exemption expired on 2026-05-31: accepted (entry 1). helm-history detail"
    assert apply_mutes(result_of(), [expired], TODAY).result.failed
    renewed = replace(last_day, label="entry 2", expires=None)
    helm = apply_mutes(result_of(), [expired, renewed], TODAY).result.findings[0]
    assert helm.muted and helm.muted.source == "entry 2" and helm.expired_mute is None


@given(
    name=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    group=st.from_regex(r"[A-Za-z][\w.-]{0,20}", fullmatch=True),
)
def test_exact_selectors_always_match_their_own_cluster_and_a_different_name_never(name: str, group: str) -> None:
    cluster = make_cluster(name=name, resource_group=group)
    assert rule(clusters=(name.upper(),), resource_groups=(group,)).matches(cluster)
    assert rule(clusters=(cluster.id,)).matches(cluster)
    assert not rule(clusters=(name + "x",)).matches(cluster)


# --- owners' tags --------------------------------------------------------------------------------------------


def tagged(value: str):
    return make_cluster(tags=frozen_map({"AKS-Reach-Mute": value, "owner": "team-a"}))


def test_owners_mute_by_tag_only_when_the_platform_team_allows_it() -> None:
    cluster = tagged("helm-history,kubelet-port:2026-12-31:charts move to OCI; apiserver-load:2026-07-01:batch")
    results = [result_of(cluster)]
    off, report_off = Exemptions((), tag="").apply(results, TODAY)
    assert not any(f.muted for f in off[0].findings) and report_off.lines() == []
    on, report_on = Exemptions((), tag="aks-reach-mute").apply(results, TODAY)
    helm, kubelet = on[0].findings
    assert helm.muted and helm.muted.reason == "charts move to OCI" and helm.muted.expires == date(2026, 12, 31)
    assert helm.muted.source == "tag aks-reach-mute" and kubelet.muted
    assert not on[0].failed and report_on.unused == ()  # tag rules are the cluster's own: never "unused"


def test_an_owner_tag_past_its_date_fails_again_with_the_note() -> None:
    (muted,), _ = Exemptions((), tag="aks-reach-mute").apply([result_of(tagged("helm-history:2026-01-31:x"))], TODAY)
    assert muted.failed and muted.findings[0].detail.startswith(
        "Exemption expired on 2026-01-31: x (tag aks-reach-mute)."
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("helm-history:2026-12-31", "is not <check>[,<check>]:<YYYY-MM-DD>:<reason>"),
        ("helm-history::why", "is not <check>"),
        ("helm-histry:2026-12-31:why", "unknown check 'helm-histry'"),
        ("helm-history:31.12.2026:why", "'31.12.2026' in 'helm-history:31.12.2026:why' is not a date"),
    ],
)
def test_a_malformed_tag_is_named_and_ignored_never_fatal(value: str, problem: str) -> None:
    with pytest.raises(TagMuteError, match=r"^tag aks-reach-mute: "):
        tag_rules(tagged(value), "aks-reach-mute", CHECK_IDS)
    (result,), report = Exemptions((), tag="aks-reach-mute").apply([result_of(tagged(value))], TODAY)
    assert result.failed and not any(f.muted for f in result.findings)
    (invalid,) = report.invalid_tags
    assert invalid.cluster_id == result.cluster.id and problem in invalid.problem


# --- the list: unused, expired, malformed --------------------------------------------------------------------


def test_the_sample_list_parses_and_reports_unused_and_expired_entries() -> None:
    rules = parse_mute_list(EXAMPLE_LIST.read_text(), "examples/mute-list.yaml")
    assert [r.label for r in rules] == [
        "mute list entry 1 (storefront-helm-history)",
        "mute list entry 2 (legacy-batch-tunnel)",
        "mute list entry 3 (sandbox-clusters)",
    ]
    results = [evaluate_raw(folder.raw, Settings()) for folder in read_estate(ESTATE) if folder.raw]
    muted, report = Exemptions(tuple(rules)).apply(results, TODAY)
    assert report.unused == ("mute list entry 3 (sandbox-clusters)",)
    assert report.expired == ("mute list entry 2 (legacy-batch-tunnel)",)
    by_name = {result.cluster.name: result for result in muted}
    assert not by_name["aks-storefront-prod"].failed and by_name["aks-legacy-batch"].failed
    assert sum(1 for r in muted for f in r.findings if f.muted) == 1


def test_the_schema_lists_exactly_the_check_ids() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$defs"]["entry"]["properties"]["checks"]["items"]["enum"] == ["*", *CHECK_IDS]


VALID = {"name": "legacy", "checks": ["helm-history"], "clusters": ["aks-*"], "reason": "why", "expires": "2026-12-31"}


@pytest.mark.parametrize(
    "selectors",
    [
        {"clusters": ["aks-payments-prod"]},  # a name: the same name in any subscription matches
        {"clusters": ["/subscriptions/*/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/a"]},
        {"clusters": [f"/subscriptions/{SUB}/resourceGroups/rg/providers/x/a", "aks-payments-prod"]},
        {"resourceGroups": ["rg-aks-payments"]},
        {"tags": {"environment": "production"}},  # tags are the cluster owners' to set
        {"subscriptions": ["3f2c9a8e-*"], "clusters": ["aks-*"]},
    ],
)
@pytest.mark.parametrize("scope", [{"checks": ["*"], "expires": "2099-01-01"}, {"checks": ["helm-history"]}])
def test_an_entry_for_every_check_or_without_expiry_must_name_its_subscription(selectors, scope) -> None:
    entry = {"name": "wide", "reason": "why", **scope, **selectors}
    with pytest.raises(MuteListError) as raised:
        parse_mute_list(json.dumps({"mutes": [VALID, entry]}), "mutes.json")
    assert str(raised.value).startswith("mutes.json: entry 2 (wide): mutes every check (*) or has no expiry, so it")
    assert "\n" not in str(raised.value)
    narrow = {**entry, "checks": ["helm-history"], "expires": "2099-01-01"}  # one check, until a date: as before
    assert len(parse_mute_list(json.dumps({"mutes": [narrow]}), "mutes.json")) == 1
    anchored = {**entry, "subscriptions": [SUB]}
    assert parse_mute_list(json.dumps({"mutes": [anchored]}), "mutes.json")[0].anchored


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({k: v for k, v in VALID.items() if k != "reason"}, "entry 2 (legacy): 'reason' is a required property"),
        ({**VALID, "reason": "  "}, "entry 2 (legacy): reason: reason is empty: say why the finding is accepted"),
        ({**VALID, "checks": ["helm"]}, "entry 2 (legacy): checks.0: 'helm' is not a check id (known: konnectivity-"),
        ({**VALID, "expires": "2026-02-30"}, "entry 2 (legacy): expires: '2026-02-30' is not a date (YYYY-MM-DD)"),
        ({k: v for k, v in VALID.items() if k != "clusters"}, "entry 2 (legacy): names no clusters: give at least"),
        ({**VALID, "cluster": ["x"]}, "entry 2 (legacy): Additional properties are not allowed ('cluster' was"),
        ({**VALID, "tags": {"env": 1}}, "entry 2 (legacy): tags.env: 1 is not of type 'string'"),
        ("just text", "entry 2: 'just text' is not of type 'object'"),
    ],
)
def test_a_malformed_list_stops_with_one_line_naming_the_entry(entry: object, message: str) -> None:
    document = {"mutes": [{"checks": ["*"], "subscriptions": [SUB], "reason": "fine"}, entry]}
    with pytest.raises(MuteListError) as raised:
        parse_mute_list(json.dumps(document), "mutes.json")
    assert str(raised.value).startswith(f"mutes.json: {message}") and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mutes: [\n  - {checks: [x]\n", "mutes.yaml: not a mute list: invalid YAML at line 2 column 3: "),
        ("- checks: [helm-history]\n", "mutes.yaml: expected an object with a list `mutes:` of entries"),
        ("mutes: {}\n", "mutes.yaml: {} is not of type 'array'"),
        ("mutes:\n  - {checks: [x], expires: 2026-02-30}\n", "mutes.yaml: not a mute list: invalid YAML: day is out"),
    ],
)
def test_a_list_that_is_not_a_list_of_entries_is_one_line(text: str, message: str) -> None:
    with pytest.raises(MuteListError, match=f"^{message}"):
        parse_mute_list(text, "mutes.yaml")


def test_an_empty_document_mutes_nothing_and_a_source_rereads_after_its_refresh() -> None:
    assert parse_mute_list("", "AKS_REACH_MUTE_LIST") == []
    reads: list[int] = []
    now = [0.0]

    def read() -> list[MuteRule]:
        reads.append(1)
        return [rule(clusters=("x",))]

    source = ExemptionSource(read, refresh_seconds=300, clock=lambda: now[0])
    assert source.get() is source.get() and len(reads) == 1
    now[0] = 301.0
    assert source.get().rules == (rule(clusters=("x",)),) and len(reads) == 2


# --- through the CLI, the events and Teams -------------------------------------------------------------------


def write_list(tmp_path: Path, entries: list[dict]) -> Path:
    path = tmp_path / "mutes.yaml"
    path.write_text(json.dumps({"mutes": entries}))
    return path


def test_muting_every_failure_makes_the_cli_exit_0_and_the_report_counts_them_apart(tmp_path: Path) -> None:
    failing = {"subscriptions": ESTATE_SUBSCRIPTIONS, "checks": ["*"], "reason": "estate accepted for the demo"}
    run = sweep("--snapshot", str(ESTATE), "--format", "json", "--mute-list", str(write_list(tmp_path, [failing])))
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert document["reportVersion"] == 3 and document["summary"]["muted"] == 9 * len(document["clusters"])
    assert {document["summary"][s] for s in ("pass", "fail", "warn", "skipped", "error")} == {0}
    statuses = {f["status"] for c in document["clusters"] for f in c["findings"]}
    assert "fail" in statuses  # the real status stands
    assert document["mutes"] == {"unused": [], "expired": [], "invalidTags": []}


def test_the_sample_list_through_the_cli_text_report(tmp_path: Path) -> None:
    run = sweep("--snapshot", str(ESTATE), "--mute-list", str(EXAMPLE_LIST))
    assert run.returncode == 1  # the expired exemption lets legacy-batch fail again
    words = " ".join(run.stdout.split())  # the report wraps long lines
    assert "muted until 2099-03-31: Release history is pruned by the chart migration of CHG-1042" in words
    assert "Exemption expired on 2026-01-31: Tunnelfront stays" in words
    assert "; 1 finding muted" in run.stdout.splitlines()[-2]  # the summary line, before the docs hint
    assert run.stderr.splitlines() == [
        "warning: mute list entry 3 (sandbox-clusters) matches no cluster (unused)",
        "warning: mute list entry 2 (legacy-batch-tunnel) has expired: its findings are no longer muted",
    ]


def test_a_malformed_list_stops_the_cli_with_exit_2_and_one_line(tmp_path: Path) -> None:
    path = write_list(tmp_path, [{"name": "no-reason", "checks": ["helm-history"], "clusters": ["x"]}])
    run = sweep("--snapshot", str(ESTATE), "--mute-list", str(path))
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr == f"error: {path}: entry 1 (no-reason): 'reason' is a required property\n"
    missing = sweep("--snapshot", str(ESTATE), "--mute-list", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and missing.stderr.startswith(f"error: {tmp_path / 'nope.yaml'}: cannot read")


@pytest.fixture
def ingestion() -> Iterator[IngestionCapture]:
    capture = IngestionCapture()
    yield capture
    capture.stop()


def test_events_carry_the_mute_and_the_sweep_counts_it_apart(ingestion: IngestionCapture) -> None:
    run = run_sweep(ingestion.connection_string(), "--snapshot", str(ESTATE), "--mute-list", str(EXAMPLE_LIST))
    assert run.returncode == 1, run.stderr
    events = {(e["clusterName"], e["check"]): e for e in ingestion.events(FINDING_EVENT)}
    helm = events["aks-storefront-prod", "helm-history"]
    assert helm["status"] == "fail" and helm["muted"] == "true"
    assert helm["muteReason"].startswith("Release history") and helm["muteExpires"] == "2099-03-31"
    assert helm["muteSource"] == "mute list entry 1 (storefront-helm-history)" and helm["exemptionExpired"] == ""
    tunnel = events["aks-legacy-batch", "konnectivity-agent"]
    assert tunnel["muted"] == "false" and tunnel["exemptionExpired"] == "2026-01-31"
    assert tunnel["detail"].startswith("Exemption expired on 2026-01-31")
    assert sum(e["muted"] == "true" for e in events.values()) == 1
    (sweep_event,) = ingestion.events(SWEEP_EVENT)
    assert sweep_event["muted"] == "1"
    assert int(sweep_event["fail"]) == sum(e["status"] == "fail" and e["muted"] == "false" for e in events.values())


@pytest.mark.azurite
def test_muted_findings_send_no_teams_card(azurite: Azurite) -> None:
    results = {r.cluster.name: r for r in (evaluate_raw(f.raw, Settings()) for f in read_estate(ESTATE) if f.raw)}
    storefront = results["aks-storefront-prod"]
    muting = Exemptions((rule(clusters=("aks-storefront-prod",), expires=date(2026, 6, 30)),))
    with WebhookCapture() as webhook, TableServiceClient.from_connection_string(azurite.connection_string) as tables:
        state = NotificationState(tables.create_table("mutes" + uuid.uuid4().hex[:10]))
        sender = TeamsSender(WebhookRoutes.parse("", webhook.url("/default"), ()), timeout_seconds=5.0)

        sweeps = iter(range(1, 10))

        def notified(day: date) -> OutcomeStatus:
            (muted,), _ = muting.apply([storefront], day)
            started = datetime(2026, 11, 29, tzinfo=UTC) + timedelta(hours=next(sweeps))  # each a later sweep
            (outcome,) = notify([muted], SweepRef(new_sweep_id(started), started), state, sender, "https://x")
            return outcome.status

        assert notified(TODAY) is OutcomeStatus.UNCHANGED and webhook.posts == []  # muted: no card
        assert notified(date(2026, 7, 1)) is OutcomeStatus.SENT  # expired: the owners hear of it
        (post,) = webhook.posts
        assert "Exemption expired on 2026-06-30" in json.dumps(post.message)
        assert notified(TODAY) is OutcomeStatus.UNCHANGED  # muted again: no "resolved" card either
        assert len(webhook.posts) == 1


def test_the_markdown_report_marks_the_muted_finding_and_counts_it(tmp_path: Path) -> None:
    run = sweep("--snapshot", str(ESTATE), "--mute-list", str(EXAMPLE_LIST), "--format", "markdown")
    assert run.returncode == 1
    (row,) = [line for line in run.stdout.splitlines() if line.startswith("| `helm-history` | ❌ fail (muted)")]
    assert "muted until 2099-03-31: Release history is pruned" in row
    assert "; 1 finding muted" in run.stdout and "### `helm-history`" not in run.stdout  # no fix section for it
