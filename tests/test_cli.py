"""The command line as a user runs it: `python -m sweep` in a subprocess, exit codes, formats, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from checks import registry as checks

ROOT = Path(__file__).resolve().parent.parent
ESTATE = ROOT / "examples" / "estate"
SCHEMA = json.loads((ROOT / "publish" / "report.schema.json").read_text())
HEALTHY = ESTATE / "aks-payments-prod"


def sweep(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sweep", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_json_report_on_the_sample_estate_matches_the_schema_and_exits_1() -> None:
    run = sweep("--snapshot", str(ESTATE), "--format", "json")
    assert run.returncode == 1, run.stderr
    document = json.loads(run.stdout)
    jsonschema.validate(document, SCHEMA)
    assert document["summary"]["clusters"] == len(document["clusters"]) >= 10
    for cluster in document["clusters"]:
        assert [finding["check"] for finding in cluster["findings"]] == list(checks.CHECK_IDS)
    total = sum(document["summary"][status] for status in ("pass", "fail", "warn", "skipped", "error"))
    assert total == 9 * len(document["clusters"])
    assert run.stderr == ""


def test_text_report_lists_failures_first_without_colour_when_piped() -> None:
    run = sweep("--snapshot", str(ESTATE))
    assert run.returncode == 1
    assert "\033[" not in run.stdout
    first_block = run.stdout.split("\n\n")[0]
    assert "FAIL" in first_block.splitlines()[1]
    assert "cluster(s):" in run.stdout.splitlines()[-1]


def test_markdown_report_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    run = sweep("--snapshot", str(ESTATE), "--format", "markdown", "--output", str(out))
    assert run.returncode == 1 and run.stdout == ""
    text = out.read_text()
    assert text.startswith("# AKS API Reach") and "| Check | Status | Severity | Finding |" in text
    assert "```" in text  # remediation commands as code blocks


def test_check_filter_keeps_only_the_named_checks_in_registry_order() -> None:
    run = sweep("--snapshot", str(ESTATE), "--format", "json", "--check", "apiserver-probe", "--check", "helm-history")
    document = json.loads(run.stdout)
    for cluster in document["clusters"]:
        assert [finding["check"] for finding in cluster["findings"]] == ["helm-history", "apiserver-probe"]


def test_exit_0_when_nothing_fails() -> None:
    run = sweep("--snapshot", str(HEALTHY))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 cluster(s): 0 fail, 0 error" in run.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--snapshot", "/nonexistent/estate"], "error: /nonexistent/estate: no such snapshot folder"),
        (["--snapshot", str(ESTATE), "--check", "nope"], "error: unknown check id(s): nope"),
        (["--cluster", "/subscriptions/x/resourceGroups/y"], "is not an AKS cluster resource id"),
        (
            ["--subscription", "s", "--management-group", "m"],
            "error: give --subscription or --management-group, not both",
        ),
        (["--context", "/nonexistent/context.json"], "error: /nonexistent/context.json: cannot read"),
        (["--snapshot", str(ESTATE), "--output", "/nonexistent/dir/r.txt"], "cannot write the report"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args, message) -> None:
    run = sweep(*args)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_bad_setting_is_one_line_and_exit_2() -> None:
    run = sweep("--snapshot", str(ESTATE), env={"AKS_REACH_HELM_HISTORY_FAIL_REVISIONS": "many"})
    assert run.returncode == 2
    assert run.stderr.strip() == "error: AKS_REACH_HELM_HISTORY_FAIL_REVISIONS='many' is not a valid int"


def test_a_broken_cluster_file_is_named_and_the_other_clusters_still_reported(tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    shutil.copytree(ESTATE, estate)
    broken = sorted(path for path in estate.iterdir() if (path / "cluster.json").is_file())[0]
    (broken / "cluster.json").write_text('{"id": ')
    run = sweep("--snapshot", str(estate), "--format", "json")
    assert run.returncode == 2
    assert run.stderr.strip().startswith(f"error: {broken / 'cluster.json'}: invalid JSON at line 1")
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    document = json.loads(run.stdout)
    jsonschema.validate(document, SCHEMA)
    assert len(document["clusters"]) == len([p for p in estate.iterdir() if (p / "cluster.json").is_file()])
    errored = [c for c in document["clusters"] if c["name"] == broken.name]
    assert errored and {f["status"] for f in errored[0]["findings"]} == {"error"}


def test_queries_lists_the_shipped_kql() -> None:
    run = sweep("queries")
    assert run.returncode == 0
    assert run.stdout.startswith("apiserver-requests")
