"""The sample estate is the fixture set (one folder per failure mode): every check fails at least once and
passes at least once, each cluster shows the verdict it was built for, and the generator reproduces it."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from checks.registry import CHECK_IDS
from collect.snapshot_folder import read_estate
from model.estate import estate_causes
from sweep.core.evaluate import evaluate_raw
from sweep.core.settings import Settings
from tools.make_example_estate import write_estate

ESTATE = Path(__file__).resolve().parent.parent / "examples" / "estate"

# cluster -> {check: (status, text the detail or remediation must name)}
EXPECTED: dict[str, dict[str, tuple[str, str]]] = {
    "aks-payments-prod": {check: ("pass", "") for check in CHECK_IDS if check != "private-cluster-reach"},
    "aks-orders-prod": {"konnectivity-agent": ("fail", "konnectivity-agent-5c9f7d8b4-r7t2n is in CrashLoopBackOff")},
    "aks-legacy-batch": {
        "konnectivity-agent": ("fail", "tunnelfront-6c8d9f7b5c-vx2lm runs on aks-system-"),
        "egress-rules": ("pass", ""),
    },
    "aks-ledger-prod": {
        "egress-rules": ("fail", "no rule of Azure Firewall fw-hub-classic allows it"),
        "authorized-ip-ranges": ("pass", ""),
    },
    "aks-web-prod": {
        "alpn-tls": ("fail", "rule collection group rcg-platform, rule collection inspect-outbound-web"),
        "egress-rules": ("pass", ""),
    },
    "aks-claims-prod": {"authorized-ip-ranges": ("fail", "client vpn-users 192.0.2.0/25")},
    "aks-inventory-prod": {"apiserver-load": ("fail", "inventory-operator/v0.3.1")},
    "aks-catalog-prod": {"apiserver-load": ("fail", "inventory-operator/v0.3.1")},  # the same leaking client
    "aks-storefront-prod": {"helm-history": ("fail", "storefront/web-frontend (320 revisions, Helm 3)")},
    "aks-search-prod": {"kubelet-port": ("fail", "rule deny-kubelet-inbound (priority 200, Deny)")},
    "aks-core-private": {"private-cluster-reach": ("pass", ""), "authorized-ip-ranges": ("skipped", "")},
    "aks-risk-private": {
        "private-cluster-reach": ("fail", "vnet-build-agents has no Connected peering"),
        "apiserver-probe": ("fail", "dns: NXDOMAIN"),
    },
    "aks-billing-lz": {  # loadBalancer cluster routed to a hub firewall in the connectivity subscription
        "egress-rules": ("fail", "no rule of Azure Firewall afw-hub-corp-weu allows it"),
        "authorized-ip-ranges": ("pass", ""),  # the firewall's egress IP is listed
    },
    "aks-payroll-lz": {  # the second spoke behind the same corp hub policy
        "egress-rules": ("fail", "no rule of Azure Firewall afw-hub-corp-weu allows it"),
        "authorized-ip-ranges": ("pass", ""),
    },
    "aks-vwan-prod": {  # no route table: the secured Virtual WAN hub's routing intent sends it to the hub firewall
        "egress-rules": ("pass", "NSGs and firewall allow every requirement"),
        "authorized-ip-ranges": ("pass", ""),  # the hub firewall's public address is listed
    },
    "aks-ops-private": {  # the zone is linked to the hub only; the spoke resolves through the hub's resolver
        "private-cluster-reach": ("pass", ""),
        "egress-rules": ("pass", ""),
    },
}


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, object]]:
    settings = Settings.from_env({})
    evaluated = {}
    for folder in read_estate(ESTATE):
        assert folder.raw is not None, folder.error
        result = evaluate_raw(folder.raw, settings)
        assert result.input_error is None
        evaluated[folder.path.name] = {finding.check: finding for finding in result.findings}
    return evaluated


def test_the_estate_has_every_cluster(results) -> None:
    assert sorted(results) == sorted(EXPECTED)


@pytest.mark.parametrize(
    ("cluster", "check", "status", "text"),
    [
        (cluster, check, status, text)
        for cluster, checks in EXPECTED.items()
        for check, (status, text) in checks.items()
    ],
)
def test_each_cluster_shows_its_failure_mode(results, cluster, check, status, text) -> None:
    finding = results[cluster][check]
    assert finding.status.value == status, f"{finding.title}: {finding.detail}"
    assert text in finding.detail + finding.remediation


@pytest.mark.parametrize("check", CHECK_IDS)
def test_every_check_fails_somewhere_and_passes_somewhere(results, check) -> None:
    statuses = {findings[check].status.value for findings in results.values()}
    assert {"pass", "fail"} <= statuses, f"{check}: {sorted(statuses)}"


def test_failures_name_a_command(results) -> None:
    for findings in results.values():
        for finding in findings.values():
            if finding.status.value == "fail":
                assert any(tool in finding.remediation for tool in ("az ", "kubectl ", "helm ")), finding.check


def test_two_root_causes_each_break_two_clusters_and_the_hub_policys_fix_admits_both_spokes() -> None:
    settings = Settings.from_env({})
    groups = estate_causes(evaluate_raw(folder.raw, settings) for folder in read_estate(ESTATE) if folder.raw)
    shared = {group.cause.name: sorted(c.name for c in group.clusters) for group in groups if len(group.affected) > 1}
    assert shared == {
        "firewall policy afwp-hub-corp-weu (resource group rg-firewall-policies)": ["aks-billing-lz", "aks-payroll-lz"],
        "client inventory-operator/v0.3.1": ["aks-catalog-prod", "aks-inventory-prod"],
    }
    policy = next(group.cause for group in groups if group.cause.name.startswith("firewall policy afwp-hub-corp"))
    assert policy.owners == ("team-connectivity",)  # its owner tag: the card goes to that team's webhook first
    assert "10.240.0.0/16 10.241.0.0/16" in policy.fix


def test_the_generator_reproduces_the_committed_estate(tmp_path: Path) -> None:
    write_estate(tmp_path / "estate")
    comparison = filecmp.dircmp(ESTATE, tmp_path / "estate")
    differing: list[str] = []

    def collect(node: filecmp.dircmp, prefix: str = "") -> None:
        differing.extend(prefix + name for name in node.diff_files + node.left_only + node.right_only)
        for name, child in node.subdirs.items():
            collect(child, f"{prefix}{name}/")

    collect(comparison)
    assert differing == []
