"""checkov scans infra/ with no failed check; every skip sits in place with a reason, and is used."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra.templates import INFRA, REPO, bicep_files

# checkov pins packages that conflict with requirements-dev.txt, so it lives in its own venv
# (requirements-tools.txt, made by `make test`); CHECKOV overrides the path.
SKIP_COMMENT = re.compile(r"checkov:skip=([A-Z0-9_]+)(:?)(.*)$")


def checkov_binary() -> str:
    candidates = [os.environ.get("CHECKOV", ""), str(REPO / ".venv-tools" / "bin" / "checkov"), shutil.which("checkov")]
    found = next((path for path in candidates if path and Path(path).is_file()), None)
    if found is None:
        message = "checkov is not installed: run `make test` (it creates .venv-tools) or set CHECKOV"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def checkov_report(target: list[str], framework: str) -> dict:
    """checkov's JSON report of one framework over `target` (["-d", dir] or ["-f", file])."""
    completed = subprocess.run(
        [checkov_binary(), *target, "--framework", framework, "--output", "json", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # --skip-download: no guideline downloads, the scan stays on this machine
    )
    assert completed.returncode in (0, 1), completed.stderr[-2000:]
    document = json.loads(completed.stdout)
    reports = document if isinstance(document, list) else [document]
    (found,) = [item for item in reports if item.get("check_type") == framework]
    return found


@pytest.fixture(scope="module")
def report() -> dict:
    return checkov_report(["-d", str(INFRA)], "bicep")


def test_checkov_finds_no_failed_check(report: dict) -> None:
    failed = [
        f"{check['check_id']} {check['check_name']} ({check['file_path']} {check['resource']})"
        for check in report["results"].get("failed_checks", [])
    ]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    # the scan really covered the templates: the app, storage and vault were checked
    passed_resources = {check["resource"].rsplit(".", 1)[0] for check in report["results"]["passed_checks"]}
    assert {"Microsoft.Web/sites", "Microsoft.Storage/storageAccounts", "Microsoft.KeyVault/vaults"} <= passed_resources


def in_place_skips() -> list[tuple[str, str, str]]:
    skips = []
    for path in bicep_files():
        for line in path.read_text().splitlines():
            match = SKIP_COMMENT.search(line)
            if match:
                skips.append((path.relative_to(INFRA).as_posix(), match.group(1), match.group(3).strip()))
    return skips


def test_every_in_place_skip_gives_a_reason() -> None:
    skips = in_place_skips()
    assert skips, "expected the documented skips in infra/"
    for path, check_id, reason in skips:
        assert len(reason) >= 20, f"{path}: checkov:skip={check_id} needs ': <reason>'"


def test_every_skip_is_used_and_every_skipped_check_is_in_place(report: dict) -> None:
    skipped = {(check["file_path"].lstrip("/"), check["check_id"]) for check in report["results"]["skipped_checks"]}
    declared = {(path, check_id) for path, check_id, _ in in_place_skips()}
    assert declared == skipped  # no stale skip comment, and no skip from outside the files
