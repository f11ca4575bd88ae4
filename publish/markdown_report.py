"""The Markdown report, for runbook output and pull-request comments. Everything a cluster says (names, owners,
titles, details, exemption reasons) is inert Markdown and commands are literal code (publish/plain_text.py):
no tenant text becomes a link or markup."""

from __future__ import annotations

from collections.abc import Sequence

from model.estate import EstateCause, causes_of, estate_causes
from model.finding import ClusterResult, Status
from publish.plain_text import code_block, code_span, inert_markdown
from publish.text_report import (
    DOCS_HINT,
    cause_numbers,
    cause_reference,
    clusters_by_worst_status,
    findings_worst_first,
    mute_note,
    root_cause_count,
    worst_first,
)

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
    groups = estate_causes(shown)
    numbers = cause_numbers(groups)
    counts = f"{clusters_by_worst_status(results)} (each cluster by its worst finding); {root_cause_count(estate_causes(results))}."
    lines = ["# AKS API Reach", "", counts, ""]
    if len(shown) < len(results):
        lines += [f"{len(shown)} of {len(results)} clusters shown (`--status`).", ""]
    lines += [f"{DOCS_HINT}.", ""]
    lines += _estate_view(groups)
    for result in worst_first(shown):
        causes = causes_of(result, groups)
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
            lines += ["", f"### `{finding.check}`: {_cell(finding.title)}", ""]
            lines += [f"Points at {_cell(reference)}.\n" for _, reference in cause_reference(finding, numbers, causes)]
            lines.append(inert_markdown(finding.detail))
            if finding.remediation:
                lines += ["", "Fix:", "", *code_block(finding.remediation)]
            lines += ["", f"Docs: {finding.docs}"]
        lines.append("")
    return "\n".join(lines)


def _estate_view(groups: list[EstateCause]) -> list[str]:
    """The root causes, largest first: a table, then each one's fix and clusters."""
    if not groups:
        return []
    lines = ["## Root causes", "", "Each fixed once fixes every cluster listed.", ""]
    lines += ["| # | Status | Root cause | Clusters | Subscriptions |", "|---|---|---|---|---|"]
    lines += [
        f"| {number} | {_ICONS[group.status]} | {_cell(group.cause.name)} | {len(group.affected)} | "
        f"{len(group.subscriptions)} |"
        for number, group in enumerate(groups, 1)
    ]
    for number, group in enumerate(groups, 1):
        cause = group.cause
        lines += ["", f"### Root cause {number}: {_cell(cause.name)}", "", f"{_cell(cause.summary)} ({group.reach()})."]
        if cause.items:
            lines += ["", "Lacks or denies: " + _cell(", ".join(cause.items)) + "."]
        if cause.fix:
            lines += ["", "Fix:", "", *code_block(cause.fix)]
        lines += ["", "Clusters: " + _cell(", ".join(cluster.name for cluster in group.clusters)) + "."]
    lines.append("")
    return lines
