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
    estate_view, first_block = run.stdout.split("\n\n")[:2]
    assert estate_view.startswith("Root causes, largest first") and "\n  #1 FAIL  " in estate_view
    assert "owners (resource tag): team-connectivity" in estate_view  # the corp hub policy's owner tag
    assert first_block.splitlines()[2].startswith("  FAIL ")
    clusters = len([path for path in ESTATE.iterdir() if (path / "cluster.json").is_file()])
    assert run.stdout.splitlines()[-2].startswith(f"{clusters} clusters: ")


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
    assert "1 cluster: 0 fail, 0 error" in run.stdout


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
        (
            ["--snapshot", str(ESTATE), "--context", "/nonexistent/context.json"],
            "error: /nonexistent/context.json: cannot read",
        ),
        (["--snapshot", str(ESTATE), "--status", "fail,bad"], "expected statuses from pass, fail"),
        (["--snapshot", str(ESTATE), "--all-subscriptions"], "--snapshot evaluates a folder"),
        (["--all-subscriptions", "--subscription", "s"], "--all-subscriptions is a scope of its own"),
        (["--snapshot"], "argument --snapshot: expected one argument"),
        (["queries", "junk"], "unrecognized arguments: junk"),
        (["queries", "--show", "junk"], "no query named 'junk'; shipped: apiserver-requests"),
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


def test_queries_show_prints_the_kql_as_shipped() -> None:
    run = sweep("queries", "--show", "apiserver-requests")
    assert run.returncode == 0, run.stderr
    assert run.stdout == (ROOT / "collect" / "queries" / "apiserver-requests.kql").read_text()
    assert "AKSAudit" in run.stdout


def test_a_bare_command_prints_usage_and_starts_no_live_sweep() -> None:
    run = sweep(env={"AZURE_CLIENT_ID": "", "HOME": "/nonexistent"})
    assert run.returncode == 2 and run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert lines[0].startswith("usage: python -m sweep") and "--all-subscriptions" in run.stderr
    assert lines[-1] == (
        "error: give --snapshot DIR, or the scope of a live run: "
        "--subscription, --management-group, --cluster or --all-subscriptions"
    )


def test_no_azure_credential_is_one_line_naming_az_login_and_the_managed_identity_setting(tmp_path: Path) -> None:
    # No az CLI on PATH, no profile in HOME, no AZURE_* variables, no metadata endpoint: every credential fails.
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "NO_PROXY": "*"}
    run = subprocess.run(
        [sys.executable, "-m", "sweep", "--all-subscriptions"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1, run.stderr  # azure-identity's per-credential WARNING dump is silenced
    assert run.stderr.startswith("error: no Azure credential: run `az login`")
    assert "AZURE_CLIENT_ID" in run.stderr


def test_status_filter_applies_to_every_format_and_the_summary_still_counts_all() -> None:
    everything = json.loads(sweep("--snapshot", str(ESTATE), "--format", "json").stdout)
    run = sweep("--snapshot", str(ESTATE), "--format", "json", "--status", "fail,warn")
    assert run.returncode == 1, run.stderr
    document = json.loads(run.stdout)
    jsonschema.validate(document, SCHEMA)
    assert document["summary"] == everything["summary"]
    statuses = {finding["status"] for cluster in document["clusters"] for finding in cluster["findings"]}
    assert "fail" in statuses <= {"fail", "warn"}
    expected = [c["name"] for c in everything["clusters"] if {f["status"] for f in c["findings"]} & {"fail", "warn"}]
    assert [cluster["name"] for cluster in document["clusters"]] == expected
    text = sweep("--snapshot", str(ESTATE), "--status", "FAIL").stdout
    assert " PASS " not in text and " WARN " not in text and " FAIL " in text
    assert f"of {len(everything['clusters'])} clusters shown (--status)" in text
    markdown = sweep("--snapshot", str(ESTATE), "--format", "markdown", "--status", "skipped").stdout
    assert "❌ fail" not in markdown and "⏭️ skipped" in markdown


def test_text_summary_counts_clusters_by_their_worst_status() -> None:
    document = json.loads(sweep("--snapshot", str(ESTATE), "--format", "json").stdout)
    order = ["fail", "error", "warn", "skipped", "pass"]
    worst = [min((f["status"] for f in c["findings"]), key=order.index) for c in document["clusters"]]
    expected = f"{len(worst)} clusters: " + ", ".join(f"{worst.count(status)} {status}" for status in order)
    expected += f"; {len(document['rootCauses'])} root causes"  # counted next to the clusters
    text = sweep("--snapshot", str(ESTATE)).stdout
    assert expected in text.splitlines()
    assert worst.count("fail") == sum(
        1 for c in document["clusters"] if any(f["status"] == "fail" for f in c["findings"])
    )


def run_on_terminal(args: list[str], columns: int, env: dict[str, str]) -> str:
    """The command with its stdout on a pseudo-terminal of `columns` columns, as a user sees it."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    environ = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "COLUMNS")}
    process = subprocess.Popen(
        [sys.executable, "-m", "sweep", *args],
        cwd=ROOT,
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env={**environ, **env},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_on_a_terminal_the_report_is_coloured_and_fits_its_width_unless_no_color() -> None:
    coloured = run_on_terminal(["--snapshot", str(ESTATE)], 100, {})
    assert "\033[31mFAIL" in coloured
    plain = run_on_terminal(["--snapshot", str(ESTATE)], 100, {"NO_COLOR": "1"})
    assert "\033[" not in plain
    lines = plain.splitlines()
    assert all(len(line) <= 100 or " " not in line.strip() for line in lines), [
        line for line in lines if len(line) > 100
    ]
    narrow = run_on_terminal(["--snapshot", str(ESTATE), "--status", "fail"], 72, {"NO_COLOR": "1"})
    assert all(len(line) <= 72 or " " not in line.strip() for line in narrow.splitlines())
    assert narrow != plain


def ranges_finding(folder: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    run = sweep("--snapshot", str(folder), "--format", "json", "--check", "authorized-ip-ranges", *args, env=env)
    assert run.returncode in (0, 1), run.stderr
    (cluster,) = json.loads(run.stdout)["clusters"]
    return cluster["findings"][0]


def test_snapshot_context_precedence_cluster_over_estate_over_flag_over_setting(tmp_path: Path) -> None:
    """authorized ranges of aks-claims-prod: 203.0.113.0/28 and 198.51.100.20/32; 192.0.2.0/25 is outside."""
    estate = tmp_path / "estate"
    cluster = estate / "aks-claims-prod"
    shutil.copytree(ESTATE / "aks-claims-prod", cluster)
    (cluster / "context.json").unlink()
    outside = {"AKS_REACH_CLIENTS": json.dumps([{"name": "vpn", "ips": ["192.0.2.0/25"]}])}
    inside = tmp_path / "inside.json"
    inside.write_text(json.dumps({"clients": [{"name": "office", "ips": ["198.51.100.20"]}]}))
    outside_file = tmp_path / "outside.json"
    outside_file.write_text(json.dumps({"clients": [{"name": "partner", "ips": ["192.0.2.9"]}]}))

    nothing = ranges_finding(estate)
    assert nothing["status"] == "warn"
    assert nothing["remediation"].endswith(
        f"az tag update --resource-id {json.loads((cluster / 'cluster.json').read_text())['id']} "
        "--operation Merge --tags aks-reach-clients=<cidr>,<cidr>"
    )
    setting = ranges_finding(estate, env=outside)
    assert setting["status"] == "fail" and "client vpn 192.0.2.0/25" in setting["detail"]
    assert ranges_finding(estate, "--context", str(inside), env=outside)["status"] == "pass"  # flag over setting
    (estate / "context.json").write_text(json.dumps({"clients": [{"name": "partner", "ips": ["192.0.2.9"]}]}))
    estate_wins = ranges_finding(estate, "--context", str(inside), env=outside)
    assert estate_wins["status"] == "fail" and "client partner 192.0.2.9" in estate_wins["detail"]
    (cluster / "context.json").write_text(inside.read_text())
    assert ranges_finding(estate, "--context", str(outside_file), env=outside)["status"] == "pass"  # cluster wins
    assert ranges_finding(cluster, "--context", str(outside_file))["status"] == "pass"  # a cluster folder alone too


def test_snapshot_mode_adds_the_clients_the_cluster_tag_lists(tmp_path: Path) -> None:
    cluster = tmp_path / "aks-claims-prod"
    shutil.copytree(ESTATE / "aks-claims-prod", cluster)
    (cluster / "context.json").unlink()
    body = json.loads((cluster / "cluster.json").read_text())
    body["tags"]["aks-reach-clients"] = "192.0.2.7, 198.51.100.20"
    (cluster / "cluster.json").write_text(json.dumps(body))
    tagged = ranges_finding(cluster)
    assert tagged["status"] == "fail" and "client tag:aks-reach-clients 192.0.2.7" in tagged["detail"]
    assert tagged["title"].startswith("1 address(es) outside")  # 198.51.100.20 is inside the ranges
    renamed = ranges_finding(cluster, env={"AKS_REACH_CLIENTS_TAG": "other-tag"})
    assert renamed["status"] == "warn"
