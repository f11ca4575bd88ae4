"""The human report: one block per cluster (failing clusters first), its findings worst first."""

from __future__ import annotations

from collections.abc import Sequence

from model.finding import ClusterResult, Finding, Status
from publish.json_report import summary

# Worst first: what a reader must act on comes before what is fine.
STATUS_ORDER: dict[Status, int] = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.SKIPPED: 3, Status.PASS: 4}
_COLOURS: dict[Status, str] = {
    Status.FAIL: "\033[31m",
    Status.ERROR: "\033[35m",
    Status.WARN: "\033[33m",
    Status.SKIPPED: "\033[2m",
    Status.PASS: "\033[32m",
}
_RESET = "\033[0m"


def worst_first(results: Sequence[ClusterResult]) -> list[ClusterResult]:
    return sorted(results, key=lambda result: min((STATUS_ORDER[f.status] for f in result.findings), default=4))


def findings_worst_first(result: ClusterResult) -> list[Finding]:
    return sorted(result.findings, key=lambda finding: STATUS_ORDER[finding.status])


def render_text(results: Sequence[ClusterResult], colour: bool = False) -> str:
    lines: list[str] = []
    width = max((len(finding.check) for result in results for finding in result.findings), default=10)
    for result in worst_first(results):
        cluster = result.cluster
        owners = f"  owners: {', '.join(result.owners)}" if result.owners else ""
        lines.append(f"{cluster.name}  ({cluster.subscription}/{cluster.resource_group}, {cluster.location}){owners}")
        for finding in findings_worst_first(result):
            status = f"{finding.status.value.upper():<7}"
            if colour:
                status = f"{_COLOURS[finding.status]}{status}{_RESET}"
            lines.append(f"  {status} {finding.check:<{width}}  {finding.title}")
            if finding.status in (Status.FAIL, Status.ERROR, Status.WARN):
                if finding.detail:
                    lines.append(f"  {'':7} {'':{width}}  {finding.detail}")
                if finding.remediation:
                    lines.append(f"  {'':7} {'':{width}}  fix: {finding.remediation}")
        lines.append("")
    counts = summary(results)
    lines.append(
        f"{counts['clusters']} cluster(s): {counts['fail']} fail, {counts['error']} error, {counts['warn']} warn, "
        f"{counts['skipped']} skipped, {counts['pass']} pass"
    )
    return "\n".join(lines) + "\n"
