"""Fixture-driven check tests (as Polaris does): tests/fixtures/checks/<check-id>/<case>/ is a one-cluster
snapshot folder with an expect.json: {"status": "fail", "detail_contains": [...], "remediation_contains": [...]}.
Each case goes through the real loader, so the fixtures also pin the file shapes `az` and `kubectl` print."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checks import registry as checks
from collect.snapshot_folder import read_cluster
from sweep.evaluate import evaluate_raw
from sweep.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
CASES = sorted(FIXTURES.glob("*/*/expect.json"))


@pytest.mark.parametrize("expect_path", CASES, ids=lambda path: f"{path.parent.parent.name}/{path.parent.name}")
def test_fixture_case(expect_path: Path) -> None:
    check_id = expect_path.parent.parent.name
    expect = json.loads(expect_path.read_text())
    result = evaluate_raw(read_cluster(expect_path.parent), Settings.from_env({}), checks.select([check_id]))
    assert result.input_error is None
    (finding,) = result.findings
    assert finding.check == check_id
    assert finding.status.value == expect["status"], f"{finding.title}: {finding.detail}"
    for text in expect.get("detail_contains", []):
        assert text in finding.detail, f"{text!r} not in detail: {finding.detail}"
    for text in expect.get("remediation_contains", []):
        assert text in finding.remediation, f"{text!r} not in remediation: {finding.remediation}"
    json.dumps(finding.to_dict())  # evidence must be JSON-serializable


@pytest.mark.parametrize("check_id", checks.CHECK_IDS)
def test_every_check_has_a_passing_and_a_failing_fixture(check_id: str) -> None:
    statuses = {json.loads(path.read_text())["status"] for path in FIXTURES.glob(f"{check_id}/*/expect.json")}
    assert {"pass", "fail"} <= statuses, f"{check_id}: fixtures cover only {sorted(statuses)}"
