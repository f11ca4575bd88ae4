"""The Markdown report, for runbook output and pull-request comments. Everything a cluster says (names, owners,
titles, details, exemption reasons) is inert Markdown and commands are literal code (publish/plain_text.py):
no tenant text becomes a link or markup."""

from __future__ import annotations

from collections.abc import Sequence

from model.finding import ClusterResult, Status
from publish.plain_text import code_block, code_span, inert_markdown
from publish.text_report import DOCS_HINT, clusters_by_worst_status, findings_worst_first, mute_note, worst_first

_ICONS: dict[Status, str] = {
    Status.FAIL: "❌ fail",
    Status.ERROR: "⚠️ error",
    Status.WARN: "🟡 warn",
    Status.SKIPPED: "⏭️ skipped",
    Status.PASS: "✅ pass",
}


def _cell(text: str) -> str:
    return inert_markdown(" ".join(text.splitlines()))  # `|` is escaped too: it cannot end the cell


def render_markdown(results: Sequence[ClusterResult], shown: Sequence[ClusterResult] | None = None) -> str:
    """`results` are the whole run (counted in the summary); `shown` the clusters and findings listed."""
    shown = results if shown is None else shown
    lines = ["# AKS API Reach", "", f"{clusters_by_worst_status(results)} (each cluster by its worst finding).", ""]
    if len(shown) < len(results):
        lines += [f"{len(shown)} of {len(results)} clusters shown (`--status`).", ""]
    lines += [f"{DOCS_HINT}.", ""]
    for result in worst_first(shown):
        cluster = result.cluster
        lines += [f"## {inert_markdown(cluster.name)}", ""]
        owners = f" — owners: {inert_markdown(', '.join(result.owners))}" if result.owners else ""
        lines.append(code_span(cluster.id) + owners)
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
            lines += ["", f"### `{finding.check}`: {_cell(finding.title)}", "", inert_markdown(finding.detail)]
            if finding.remediation:
                lines += ["", "Fix:", "", *code_block(finding.remediation)]
            lines += ["", f"Docs: {finding.docs}"]
        lines.append("")
    return "\n".join(lines)
