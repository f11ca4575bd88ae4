"""The Markdown report, for runbook output and pull-request comments."""

from __future__ import annotations

from collections.abc import Sequence

from model.finding import ClusterResult, Status
from publish.text_report import DOCS_HINT, clusters_by_worst_status, findings_worst_first, mute_note, worst_first

_ICONS: dict[Status, str] = {
    Status.FAIL: "❌ fail",
    Status.ERROR: "⚠️ error",
    Status.WARN: "🟡 warn",
    Status.SKIPPED: "⏭️ skipped",
    Status.PASS: "✅ pass",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(results: Sequence[ClusterResult], shown: Sequence[ClusterResult] | None = None) -> str:
    """`results` are the whole run (counted in the summary); `shown` the clusters and findings listed."""
    shown = results if shown is None else shown
    lines = ["# AKS API Reach", "", f"{clusters_by_worst_status(results)} (each cluster by its worst finding).", ""]
    if len(shown) < len(results):
        lines += [f"{len(shown)} of {len(results)} clusters shown (`--status`).", ""]
    lines += [f"{DOCS_HINT}.", ""]
    for result in worst_first(shown):
        cluster = result.cluster
        lines += [f"## {cluster.name}", ""]
        lines.append(f"`{cluster.id}`" + (f" — owners: {', '.join(result.owners)}" if result.owners else ""))
        lines += ["", "| Check | Status | Severity | Finding |", "|---|---|---|---|"]
        findings = findings_worst_first(result)
        lines += [
            f"| `{f.check}` | {_ICONS[f.status]}{' (muted)' if f.muted else ''} | {f.severity.value} | "
            f"{_cell(f.title + (' — ' + mute_note(f.muted) if f.muted else ''))} |"
            for f in findings
        ]
        for finding in findings:
            if finding.muted or finding.status not in (Status.FAIL, Status.ERROR, Status.WARN):
                continue
            lines += ["", f"### `{finding.check}`: {finding.title}", "", finding.detail]
            if finding.remediation:
                lines += ["", "Fix:", "", "```", finding.remediation, "```"]
            lines += ["", f"Docs: {finding.docs}"]
        lines.append("")
    return "\n".join(lines)
