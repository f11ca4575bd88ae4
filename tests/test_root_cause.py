"""Root-cause keys on findings and the estate view that groups them (model/root_cause.py, model/estate.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
from hypothesis import given
from hypothesis import strategies as st

from collect.raw import RawCluster
from model.estate import estate_causes
from model.finding import ClusterResult, Mute, Status
from model.root_cause import CauseKind, RootCause, normalised_user_agent
from publish.appinsights import ROOT_CAUSE_PROPERTIES, finding_properties, root_cause_properties
from publish.json_report import report_document
from publish.markdown_report import render_markdown
from publish.text_report import render_text
from sweep.core.evaluate import evaluate_raw
from sweep.core.settings import Settings
from tools import make_example_estate as estate

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "publish" / "report.schema.json").read_text())
LEAKER = "inventory-operator/v0.3.1 (linux/amd64) kubernetes/$Format"
SUBSCRIPTIONS = ("11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000002")


def throttled(name: str, octet: int, subscription: str, leaker: str = LEAKER) -> RawCluster:
    """A cluster whose audit rows show `leaker` listing at 64 calls per second and 9,400 answers of 429."""
    spoke = estate.Spoke(name, octet, subscription=subscription)
    body = estate.managed_cluster(
        spoke.name, spoke.group, spoke.location, spoke.subnet_id, "team-" + name, subscription=subscription
    )
    return RawCluster(
        cluster=body, kube=spoke.kube(), logs={"apiserver-requests": estate.audit_rows(leaker, throttled=9400)}
    )


def results_of(*raws: RawCluster) -> list[ClusterResult]:
    return [evaluate_raw(raw, Settings()) for raw in raws]


def test_one_user_agent_throttling_three_clusters_is_one_root_cause() -> None:
    results = results_of(
        throttled("aks-a", 201, SUBSCRIPTIONS[0]),
        throttled("aks-b", 202, SUBSCRIPTIONS[0]),
        # Another build of the same client version: the same client, whatever follows its name/version.
        throttled("aks-c", 203, SUBSCRIPTIONS[1], "Inventory-Operator/v0.3.1 (linux/arm64) kubernetes/abc123"),
        throttled("aks-d", 204, SUBSCRIPTIONS[1], "inventory-operator/v0.4.0 (linux/amd64) kubernetes/$Format"),
    )
    groups = estate_causes(results)
    assert [group.key for group in groups] == [
        "user-agent:inventory-operator/v0.3.1",
        "user-agent:inventory-operator/v0.4.0",
    ]
    biggest = groups[0]
    assert [cluster.name for cluster in biggest.clusters] == ["aks-a", "aks-b", "aks-c"]
    assert biggest.status is Status.FAIL and biggest.checks == ("apiserver-load",)
    assert biggest.subscriptions == SUBSCRIPTIONS and biggest.reach() == "breaks 3 clusters in 2 subscriptions"
    load = next(f for f in results[0].findings if f.check == "apiserver-load")
    assert load.status is Status.FAIL and [c.kind for c in load.root_causes] == [CauseKind.USER_AGENT]
    assert "inventory-operator" in load.root_causes[0].fix


def test_the_json_report_opens_with_the_root_causes_and_matches_schema_3() -> None:
    results = results_of(throttled("aks-a", 201, SUBSCRIPTIONS[0]), throttled("aks-b", 202, SUBSCRIPTIONS[1]))
    document = report_document(results, datetime(2026, 1, 1, tzinfo=UTC))
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    assert document["reportVersion"] == 3 and list(document)[:3] == ["reportVersion", "generatedAt", "rootCauses"]
    (cause,) = document["rootCauses"]
    assert cause["key"] == "user-agent:inventory-operator/v0.3.1"
    assert [c["name"] for c in cause["clusters"]] == ["aks-a", "aks-b"] and document["summary"]["rootCauses"] == 1
    finding = next(f for f in document["clusters"][0]["findings"] if f["check"] == "apiserver-load")
    assert [c["key"] for c in finding["rootCauses"]] == [cause["key"]]
    # A key the schema refuses (upper case) fails validation: the schema checks what it says.
    broken = json.loads(json.dumps(document))
    broken["rootCauses"][0]["key"] = "user-agent:Inventory"
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(broken)


def test_a_muted_finding_puts_its_cluster_in_no_root_cause() -> None:
    first, second = results_of(throttled("aks-a", 201, SUBSCRIPTIONS[0]), throttled("aks-b", 202, SUBSCRIPTIONS[0]))
    muted = replace(
        second,
        findings=tuple(
            replace(f, muted=Mute("accepted until the operator upgrade", "mute list entry 1"))
            if f.check == "apiserver-load"
            else f
            for f in second.findings
        ),
    )
    (group,) = estate_causes([first, muted])
    assert [cluster.name for cluster in group.clusters] == ["aks-a"]


def test_an_nsg_rule_denying_kubelet_is_the_root_cause_of_kubelet_port() -> None:
    (result,) = results_of(estate.nsg_denies_kubelet())
    kubelet = next(f for f in result.findings if f.check == "kubelet-port")
    (cause,) = kubelet.root_causes
    assert cause.kind is CauseKind.NSG_RULE and cause.part == "deny-kubelet-inbound"
    assert cause.resource_id.endswith("/networksecuritygroups/nsg-aks-search-prod-nodes")
    assert cause.fix.startswith("az network nsg rule create") and "--destination-port-ranges 10250" in cause.fix
    assert cause.name == "NSG nsg-aks-search-prod-nodes (resource group rg-aks-search-prod), rule deny-kubelet-inbound"


def test_a_cause_that_is_the_clusters_own_setting_has_no_key() -> None:
    (result,) = results_of(estate.ranges_missing_client())
    ranges = next(f for f in result.findings if f.check == "authorized-ip-ranges")
    assert ranges.status is Status.FAIL and ranges.root_causes == ()
    assert all(not f.root_causes for f in result.findings if f.status not in (Status.FAIL, Status.WARN))


def test_events_carry_the_keys_and_one_event_per_root_cause() -> None:
    results = results_of(throttled("aks-a", 201, SUBSCRIPTIONS[0]), throttled("aks-b", 202, SUBSCRIPTIONS[1]))
    load = next(f for f in results[0].findings if f.check == "apiserver-load")
    assert finding_properties(results[0], load, "s1")["rootCauses"] == "user-agent:inventory-operator/v0.3.1"
    (group,) = estate_causes(results)
    event = root_cause_properties(group, "s1")
    assert set(event) == set(ROOT_CAUSE_PROPERTIES) and all(isinstance(v, str) for v in event.values())
    assert event["clusterCount"] == "2" and event["subscriptions"] == ",".join(SUBSCRIPTIONS)
    assert event["key"] == group.key and event["checks"] == "apiserver-load" and event["status"] == "fail"


ARM_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=30)


@given(group=ARM_NAME, name=ARM_NAME, rule=ARM_NAME, flip=st.booleans())
def test_the_key_does_not_depend_on_how_arm_spells_the_id(group: str, name: str, rule: str, flip: bool) -> None:
    nsg = f"/subscriptions/{SUBSCRIPTIONS[0]}/resourceGroups/{group}/providers/Microsoft.Network/networkSecurityGroups/{name}"
    spelled = nsg.upper() if flip else nsg.lower() + "/"
    first = RootCause.of(CauseKind.NSG_RULE, nsg, rule, summary="one text")
    second = RootCause.of(CauseKind.NSG_RULE, spelled, rule.swapcase(), summary="another text")
    assert first.key == second.key == first.key.lower()
    assert first.subscription == SUBSCRIPTIONS[0]


@given(name=ARM_NAME, version=st.from_regex(r"v[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}", fullmatch=True), rest=st.text())
def test_a_user_agent_is_its_name_and_version(name: str, version: str, rest: str) -> None:
    client = normalised_user_agent(f"  {name}/{version} {rest}")
    assert client == f"{name}/{version}".lower() and " " not in client


def test_text_and_markdown_open_with_the_estate_view_and_findings_point_at_it() -> None:
    results = results_of(
        throttled("aks-a", 201, SUBSCRIPTIONS[0]),
        throttled("aks-b", 202, SUBSCRIPTIONS[0]),
        throttled("aks-c", 203, SUBSCRIPTIONS[1]),
        estate.nsg_denies_kubelet(),
    )
    text = render_text(results, width=100)
    lines = text.splitlines()
    assert lines[0].startswith("Root causes, largest first (2 root causes")
    assert lines[1] == "  #1 FAIL  client inventory-operator/v0.3.1: breaks 3 clusters in 2 subscriptions"
    assert "      clusters: aks-a, aks-b, aks-c" in lines and "      fix: kubectl get pods -A -o wide" in text
    assert text.count("root cause #1: client inventory-operator/v0.3.1 (breaks 3 clusters") == 3
    assert text.count("root cause #2: NSG nsg-aks-search-prod-nodes") == 1
    assert lines[-2] == "4 clusters: 4 fail, 0 error, 0 warn, 0 skipped, 0 pass; 2 root causes"
    markdown = render_markdown(results)
    assert markdown.index("## Root causes") < markdown.index("## aks-")
    assert "| 1 | ❌ fail | client inventory-operator/v0.3.1 | 3 | 2 |" in markdown
    assert markdown.count("Points at root cause #1: client inventory-operator/v0.3.1") == 3


def landing_zone_estate() -> list[RawCluster]:
    """Two hubs in the connectivity subscription with two spokes each: the prod hub's policy holds the egress
    tutorial's AKS rules, the nonprod hub's (like the platform's base policy) does not."""
    prod = [estate.Spoke(f"aks-prod-{n}", 210 + n, subscription=SUBSCRIPTIONS[0]) for n in (1, 2)]
    nonprod = [estate.Spoke(f"aks-dev-{n}", 220 + n, subscription=SUBSCRIPTIONS[n - 1]) for n in (1, 2)]
    raws = []
    for name, spokes, rules, ip in (
        ("prod", prod, True, "198.51.100.70"),
        ("nonprod", nonprod, False, "198.51.100.80"),
    ):
        hub_id, hub = estate.landing_zone_hub(name, spokes, aks_rules=rules, firewall_public_ip=ip)
        for spoke in spokes:
            raws.append(
                RawCluster(
                    cluster=estate.landing_zone_cluster(spoke, f"team-{spoke.name}", ip),
                    network=[*estate.landing_zone_spoke(spoke, hub_id), *hub, *estate.platform_base_policy()],
                    kube=spoke.kube(),
                )
            )
    return raws


def test_a_hub_policy_missing_the_aks_rules_is_one_root_cause_of_exactly_its_spokes() -> None:
    results = results_of(*landing_zone_estate())
    (group,) = [group for group in estate_causes(results) if group.cause.kind is CauseKind.FIREWALL]
    policy = estate.rid(
        estate.POLICY_RG, "Microsoft.Network/firewallPolicies", "afwp-hub-nonprod-weu", estate.CONNECTIVITY_SUB
    )
    assert group.key == f"firewall:{policy.lower()}" and group.cause.subscription == estate.CONNECTIVITY_SUB
    assert [cluster.name for cluster in group.clusters] == ["aks-dev-1", "aks-dev-2"]
    assert group.subscriptions == SUBSCRIPTIONS and group.status is Status.FAIL
    assert group.cause.name == "firewall policy afwp-hub-nonprod-weu (resource group rg-firewall-policies)"
    # One command admits both spokes; it names the connectivity subscription the policy lives in.
    assert "--source-addresses 10.221.0.0/16 10.222.0.0/16" in group.cause.fix
    assert (
        f"--subscription {estate.CONNECTIVITY_SUB}" in group.cause.fix and "AzureKubernetesService" in group.cause.fix
    )
    assert "Microsoft Container Registry (TCP 443)" in group.cause.items
    prod = [r for r in results if r.cluster.name.startswith("aks-prod")]
    assert all(f.status is not Status.FAIL for r in prod for f in r.findings if f.check == "egress-rules")


def test_a_shared_private_dns_zone_missing_the_hubs_link_is_one_root_cause() -> None:
    """Two private spokes resolve their API servers through one zone of the connectivity subscription, linked to
    the spokes but not to the hub where the declared jumpbox sits."""
    zone = estate.rid(
        "rg-private-dns",
        "Microsoft.Network/privateDnsZones",
        "privatelink.westeurope.azmk8s.io",
        estate.CONNECTIVITY_SUB,
    )
    spokes = [estate.Spoke(f"aks-private-{n}", 230 + n, subscription=SUBSCRIPTIONS[n - 1]) for n in (1, 2)]
    hub_id, hub = estate.landing_zone_hub("prod", spokes, aks_rules=True, firewall_public_ip="198.51.100.70")
    raws = [
        RawCluster(
            cluster=estate.landing_zone_cluster(
                spoke, "team-a", "198.51.100.70", outbound="userDefinedRouting", private=True, private_dns_zone=zone
            ),
            network=[
                *estate.landing_zone_spoke(spoke, hub_id),
                *hub,
                *estate.platform_base_policy(),
                *estate.private_zone(zone, [s.vnet_id for s in spokes]),
            ],
            kube=spoke.kube(),
            context={"clients": [{"name": "hub-jumpbox", "ips": ["10.0.10.4"], "vnet": hub_id}]},
        )
        for spoke in spokes
    ]
    (group,) = estate_causes(results_of(*raws))
    assert (
        group.cause.kind is CauseKind.PRIVATE_DNS_LINK
        and group.key == f"private-dns-link:{zone.lower()}#{hub_id.lower()}"
    )
    assert [cluster.name for cluster in group.clusters] == ["aks-private-1", "aks-private-2"]
    assert group.cause.fix.startswith("az network private-dns link vnet create -g rg-private-dns")
    assert group.cause.name.endswith("no link for VNet vnet-hub-prod-weu")
