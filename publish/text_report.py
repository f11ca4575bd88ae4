"""The human report: one block per cluster (failing clusters first), its findings worst first, wrapped to
the terminal's width. Its layout is described in docs/report.md."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import replace

from model.estate import EstateCause, causes_of, estate_causes
from model.finding import ClusterResult, Finding, Mute, Status
from publish.plain_text import printable

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
_STATUS_CHARS = 7  # "SKIPPED"
MIN_TEXT_CHARS = 30  # below this the text column starts on its own, less indented, line
ACTIONABLE = (Status.FAIL, Status.ERROR, Status.WARN)  # findings whose detail, fix and docs link are printed
DOCS_HINT = "How each check decides: docs/checks.md; this report's layout: docs/report.md"


def worst_status(result: ClusterResult) -> Status:
    """The worst status of the findings no exemption mutes (a muted failure does not make a cluster fail)."""
    statuses = (finding.status for finding in result.findings if not finding.muted)
    return min(statuses, key=STATUS_ORDER.__getitem__, default=Status.PASS)


def worst_first(results: Sequence[ClusterResult]) -> list[ClusterResult]:
    return sorted(results, key=lambda result: STATUS_ORDER[worst_status(result)])


def findings_worst_first(result: ClusterResult) -> list[Finding]:
    return sorted(result.findings, key=lambda finding: STATUS_ORDER[finding.status])


def mute_note(mute: Mute) -> str:
    until = f" until {mute.expires}" if mute.expires else ""
    return f"muted{until}: {mute.reason} ({mute.source})"


def clusters_by_worst_status(results: Sequence[ClusterResult]) -> str:
    """'11 clusters: 9 fail, 1 error, 1 warn, 0 skipped, 0 pass': each cluster counted once, by its worst finding."""
    counts = Counter(worst_status(result) for result in results)
    by_status = ", ".join(f"{counts.get(status, 0)} {status.value}" for status in STATUS_ORDER)
    muted = sum(1 for result in results for finding in result.findings if finding.muted)
    return f"{len(results)} cluster{'' if len(results) == 1 else 's'}: {by_status}" + (
        f"; {muted} finding{'' if muted == 1 else 's'} muted" if muted else ""
    )


def root_cause_count(groups: Sequence[EstateCause]) -> str:
    return f"{len(groups)} root cause{'' if len(groups) == 1 else 's'}"


def cause_numbers(groups: Sequence[EstateCause]) -> dict[str, int]:
    """Each root cause's number in the estate view (1 = the largest), by key: what a cluster's finding cites."""
    return {group.key: number for number, group in enumerate(groups, 1)}


def cause_reference(finding: Finding, numbers: dict[str, int], groups: dict[str, EstateCause]) -> list[tuple[int, str]]:
    """(number, 'root cause #1: <name> (breaks 3 clusters in 2 subscriptions)') for each root cause the finding
    names (none when muted: a muted finding is in no group)."""
    return [
        (numbers[cause.key], f"root cause #{numbers[cause.key]}: {cause.name} ({groups[cause.key].reach()})")
        for cause in finding.root_causes
        if cause.key in groups and not finding.muted
    ]


def only_statuses(results: Sequence[ClusterResult], statuses: Collection[Status]) -> list[ClusterResult]:
    """The findings with one of `statuses`; a cluster left with none is left out (`--status`)."""
    kept = [replace(r, findings=tuple(f for f in r.findings if f.status in statuses)) for r in results]
    return [result for result in kept if result.findings]


def render_text(
    results: Sequence[ClusterResult],
    colour: bool = False,
    width: int = 100,
    shown: Sequence[ClusterResult] | None = None,
) -> str:
    """`results` are the whole run (the summary line counts them); `shown` the clusters and findings
    printed (default: all). Every line fits in `width` columns, except a single word longer than that."""
    shown = results if shown is None else shown
    check_chars = max((len(finding.check) for result in shown for finding in result.findings), default=10)
    indent = 2 + _STATUS_CHARS + 1 + check_chars + 2
    if width - indent < MIN_TEXT_CHARS:  # narrow terminal: title and detail go under the check, indented 4
        indent = 4
    groups = estate_causes(shown)
    numbers = cause_numbers(groups)
    lines = _estate_view(groups, width)
    for result in worst_first(shown):
        causes = causes_of(result, groups)
        cluster = result.cluster
        header = f"{cluster.name}  ({cluster.subscription}/{cluster.resource_group}, {cluster.location})"
        owners = f"owners: {', '.join(result.owners)}" if result.owners else ""
        if owners and len(header) + 2 + len(owners) <= width:
            header, owners = f"{header}  {owners}", ""
        lines += _wrapped(header, width, "", "    ")
        if owners:
            lines += _wrapped(owners, width, "    ", "    ")
        for finding in findings_worst_first(result):
            label = f"{finding.status.value.upper():<{_STATUS_CHARS}}"
            if colour:
                label = f"{_COLOURS[finding.status]}{label}{_RESET}"
            lead = f"  {label} {finding.check:<{check_chars}}  "
            body = " " * indent
            if indent == 4:
                lines.append(lead.rstrip())
                lead = body
            first, *rest = _wrapped(finding.title, width, " " * indent, body)
            lines.append(lead + first[indent:])
            lines += rest
            if finding.muted:  # accepted: why and until when, instead of the detail and fix
                lines += _wrapped(mute_note(finding.muted), width, body, body)
            elif finding.status in ACTIONABLE:
                for _, reference in cause_reference(finding, numbers, causes):
                    lines += _wrapped(reference, width, body, body + "    ")
                for prefix, text in (("", finding.detail), ("fix: ", finding.remediation), ("docs: ", finding.docs)):
                    if text:
                        lines += _wrapped(prefix + text, width, body, body + " " * len(prefix))
        lines.append("")
    if len(shown) < len(results):
        lines.append(f"{len(shown)} of {len(results)} clusters shown (--status)")
    counts = clusters_by_worst_status(results) + f"; {root_cause_count(estate_causes(results))}"
    lines += _wrapped(counts, width, "", "  ")
    lines += _wrapped(DOCS_HINT, width, "", "  ")
    return "\n".join(lines) + "\n"


def _estate_view(groups: Sequence[EstateCause], width: int) -> list[str]:
    """The root causes of the run, largest first: what is wrong, the fix, how far it reaches and where."""
    if not groups:
        return []
    heading = f"Root causes, largest first ({root_cause_count(groups)}; each fixed once fixes every cluster listed)"
    lines = _wrapped(heading, width, "", "  ")
    for number, group in enumerate(groups, 1):
        cause = group.cause
        lines += _wrapped(
            f"#{number} {group.status.value.upper()}  {cause.name}: {group.reach()}", width, "  ", "      "
        )
        body = "      "
        entries = [
            ("", cause.summary),
            ("lacks: " if cause.kind.value == "firewall" else "denies: ", ", ".join(cause.items)),
            ("held in subscription: ", cause.subscription),
            ("owners (resource tag): ", ", ".join(cause.owners)),
            ("fix: ", cause.fix),
            ("clusters: ", ", ".join(cluster.name for cluster in group.clusters)),
        ]
        for prefix, text in entries:
            if text:
                lines += _wrapped(prefix + text, width, body, body + " " * len(prefix))
    lines.append("")
    return lines


def _wrapped(text: str, width: int, first: str, rest: str) -> list[str]:
    """`text` wrapped between words. A word too long for its column (a URL, an ARM id) is never cut: its
    line starts further left, as far as it must to end inside `width`. Control characters in it (a tenant's
    ANSI or terminal-hyperlink sequences) are shown as U+FFFD: only the report's own colours reach the terminal."""
    lines = textwrap.wrap(
        printable(text),
        width=width,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
        break_long_words=False,
    ) or [first.rstrip()]
    return [_pulled_left(line, width) for line in lines]


def _pulled_left(line: str, width: int) -> str:
    if len(line) <= width:
        return line
    content = line.lstrip()
    return " " * max(width - len(content), 0) + content
