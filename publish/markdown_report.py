"""The Markdown report, for runbook output and pull-request comments."""

from __future__ import annotations

from collections.abc import Sequence

from model.finding import ClusterResult, Status
from publish.json_report import summary
from publish.text_report import findings_worst_first, worst_first

_ICONS: dict[Status, str] = {
    Status.FAIL: "❌ fail",
    Status.ERROR: "⚠️ error",
    Status.WARN: "🟡 warn",
    Status.SKIPPED: "⏭️ skipped",
    Status.PASS: "✅ pass",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(results: Sequence[ClusterResult]) -> str:
    counts = summary(results)
    lines = [
        "# AKS API Reach",
        "",
        f"{counts['clusters']} cluster(s): **{counts['fail']} fail**, {counts['error']} error, {counts['warn']} warn, "
        f"{counts['skipped']} skipped, {counts['pass']} pass.",
        "",
    ]
    for result in worst_first(results):
        cluster = result.cluster
        lines += [f"## {cluster.name}", ""]
        lines.append(f"`{cluster.id}`" + (f" — owners: {', '.join(result.owners)}" if result.owners else ""))
        lines += ["", "| Check | Status | Severity | Finding |", "|---|---|---|---|"]
        findings = findings_worst_first(result)
        lines += [f"| `{f.check}` | {_ICONS[f.status]} | {f.severity.value} | {_cell(f.title)} |" for f in findings]
        for finding in findings:
            if finding.status not in (Status.FAIL, Status.ERROR, Status.WARN):
                continue
            lines += ["", f"### `{finding.check}`: {finding.title}", "", finding.detail]
            if finding.remediation:
                lines += ["", "Fix:", "", "```", finding.remediation, "```"]
            lines += ["", f"Docs: {finding.docs}"]
        lines.append("")
    return "\n".join(lines)
