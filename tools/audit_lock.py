"""`make audit`: the locked requirements files against a vulnerability database (pip-audit), saying plainly
what was checked. pip-audit reports "No known vulnerabilities found" and exits 0 even when the database
answered for none of the packages (it lists them as skipped): here every package must have been checked,
or the audit fails with one line saying how many were not and why.

    python -m tools.audit_lock requirements.txt [requirements-dev.txt ...]

Exit status: 0 every package checked and none vulnerable; 1 a known vulnerability; 2 some package could
not be checked (database unreachable, package unknown to it) or pip-audit could not run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AUDIT_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Audit:
    """What pip-audit's JSON report says of one lock file."""

    checked: int
    unchecked: dict[str, str]  # package -> why it could not be checked
    vulnerable: dict[str, list[str]]  # package==version -> vulnerability ids

    def verdict(self, lock: str) -> tuple[int, str]:
        total = self.checked + len(self.unchecked)
        if self.vulnerable:
            named = ", ".join(f"{package} ({', '.join(ids)})" for package, ids in sorted(self.vulnerable.items()))
            return 1, f"audit: {lock}: known vulnerabilities in {named}"
        if self.unchecked:
            first = sorted(self.unchecked.items())[0]
            return 2, (
                f"audit: {lock}: checked nothing for {len(self.unchecked)} of {total} packages, so this is no "
                f"pass (e.g. {first[0]}: {first[1]})"
            )
        return 0, f"audit: {lock}: {total} packages checked, no known vulnerability"


def read_report(document: dict[str, Any]) -> Audit:
    """pip-audit's `--format json` document: {"dependencies": [{"name", "version", "vulns": [...]} or
    {"name", "skip_reason"}], "fixes": [...]}."""
    checked, unchecked, vulnerable = 0, {}, {}
    for dependency in document.get("dependencies", []):
        name = str(dependency.get("name", "?"))
        if "skip_reason" in dependency:
            unchecked[name] = str(dependency["skip_reason"])
            continue
        checked += 1
        ids = [str(vuln.get("id", "?")) for vuln in dependency.get("vulns", [])]
        if ids:
            vulnerable[f"{name}=={dependency.get('version', '?')}"] = ids
    return Audit(checked, unchecked, vulnerable)


def audit(lock: Path) -> tuple[int, str]:
    """Runs pip-audit on one hashed lock file, without installing it (--disable-pip: every package is pinned)."""
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(lock),
        "--require-hashes",
        "--disable-pip",
        "--progress-spinner",
        "off",
        "--format",
        "json",
    ]
    # The audit asks the package index's own database; the machine's pip configuration (local wheel folders,
    # extra indexes) has no vulnerability data.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    environment["PIP_CONFIG_FILE"] = os.devnull
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=AUDIT_TIMEOUT_SECONDS, env=environment, check=False
        )
    except subprocess.TimeoutExpired:
        return 2, f"audit: {lock}: pip-audit did not finish within {AUDIT_TIMEOUT_SECONDS} s; nothing was checked"
    try:
        document = json.loads(completed.stdout)
    except json.JSONDecodeError:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return 2, f"audit: {lock}: pip-audit could not check anything: {last[:300]}"
    return read_report(document).verdict(lock.name)


def main(arguments: list[str]) -> int:
    if not arguments:
        print("usage: python -m tools.audit_lock LOCK_FILE ...", file=sys.stderr)
        return 2
    worst = 0
    for name in arguments:
        lock = Path(name)
        if not lock.is_file():
            status, line = 2, f"audit: {name}: no such lock file"
        else:
            status, line = audit(lock)
        print(line, file=sys.stderr if status else sys.stdout)
        worst = max(worst, status)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
