"""The estate report for people (`--format html`): one self-contained HTML file.

Everything is inline (CSS and script), and a Content-Security-Policy allows only those two blocks, by
their hashes, and nothing from the network: opened from disk or a mail attachment it requests nothing.
Without the script it is still the whole report (tables, and per cluster its findings in a `<details>`
that a grid cell's link opens); the script adds the filters, copy buttons and the theme switch. At 5,000
clusters the findings' markup is most of the file: it sits in `<noscript>`, which a browser running the
script reads as plain text (quick to parse); the script then builds it in idle time slices, and at
once for a cluster that is opened, linked to or printed (bench/html_report.py measures it).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from model.estate import EstateCause, causes_of, estate_causes
from model.finding import ClusterResult, Finding, Status
from publish.json_report import summary
from publish.text_report import STATUS_ORDER, cause_numbers, cause_reference, mute_note, root_cause_count, worst_first

ASSETS = Path(__file__).with_name("html")


def text(value: str) -> str:
    """Element content: only <, > and & need escaping (quotes would triple JSON evidence's size)."""
    return escape(value, quote=False)


STATUSES = tuple(sorted(Status, key=STATUS_ORDER.__getitem__))  # fail, error, warn, skipped, pass
NO_OWNER = "(no owner)"


def render_html(
    results: Sequence[ClusterResult],
    generated_at: datetime,
    check_ids: Sequence[str],
    mutes: Mapping[str, Any] | None = None,
) -> str:
    """The report; `check_ids` are the grid's columns (the checks that ran, in registry order)."""
    style = (ASSETS / "report.css").read_text(encoding="utf-8")
    script = (ASSETS / "report.js").read_text(encoding="utf-8")
    ordered = worst_first(results)
    counts = summary(results)
    groups = estate_causes(results)
    numbers = cause_numbers(groups)
    when = generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"AKS API Reach: {counts['clusters']} clusters, {when}"
    policy = (
        "default-src 'none'; "
        f"style-src '{_sha256(style)}'; script-src '{_sha256(script)}'; "
        "img-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    parts = [
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n",
        f"<meta http-equiv='Content-Security-Policy' content=\"{policy}\">\n",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n<meta name='color-scheme' content='light dark'>\n",
        f"<title>{escape(title)}</title>\n<style>{style}</style>\n</head>\n<body>\n",
        "<header><h1>AKS API Reach</h1>",
        f"<p class='lede'>{counts['clusters']} clusters, {root_cause_count(groups)}, generated {escape(when)}: "
        f"{_summary_badges(counts)}</p>",
        "<button type='button' id='theme' class='js-only' hidden>Theme: auto</button></header>\n",
        _filters(ordered, check_ids, groups),
        "<main>\n",
        _estate_view(groups, {result.cluster.id.lower(): index for index, result in enumerate(ordered)}),
        _grid(ordered, check_ids, numbers),
        _counts_per_check(results, check_ids),
        _counts_per_owner(results),
        _mutes(mutes) if mutes else "",
        "<section id='clusters'><h2>Findings per cluster</h2>\n",
        *(_cluster(index, result, groups, numbers) for index, result in enumerate(ordered)),
        "</section>\n</main>\n",
        f"<script>{script}</script>\n</body>\n</html>\n",
    ]
    return "".join(parts)


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _summary_badges(counts: Mapping[str, int]) -> str:
    badges = [f"<span class='badge s-{s.value}'>{counts[s.value]} {s.value}</span>" for s in STATUSES]
    badges.append(f"<span class='badge muted'>{counts['muted']} muted</span>")
    return " ".join(badges)


def owners_of(result: ClusterResult) -> tuple[str, ...]:
    return result.owners or (NO_OWNER,)


def _tokens(result: ClusterResult) -> str:
    """The findings in the filter's terms: `check:status:muted(0/1)` each."""
    return " ".join(f"{f.check}:{f.status.value}:{int(bool(f.muted))}" for f in result.findings)


def _row_data(result: ClusterResult, numbers: dict[str, int]) -> str:
    """The filter's data; `data-rc`: the numbers of the root causes the cluster's findings point at."""
    owners = "|".join(owners_of(result))
    causes = sorted({numbers[c.key] for f in result.findings if not f.muted for c in f.root_causes if c.key in numbers})
    return (
        f" data-owners='{escape(owners)}' data-sub='{escape(result.cluster.subscription)}'"
        f" data-f='{escape(_tokens(result))}' data-rc='{' '.join(map(str, causes))}'"
    )


def _options(values: Iterable[str], label: str) -> str:
    options = "".join(f"<option>{escape(value)}</option>" for value in values)
    return f"<option value=''>{escape(label)}</option>{options}"


def _filters(results: Sequence[ClusterResult], check_ids: Sequence[str], groups: Sequence[EstateCause]) -> str:
    causes = "".join(
        f"<option value='{number}'>#{number} {escape(group.cause.name)}</option>"
        for number, group in enumerate(groups, 1)
    )
    owners = sorted({owner for result in results for owner in owners_of(result)}, key=str.lower)
    subscriptions = sorted({result.cluster.subscription for result in results if result.cluster.subscription})
    return (
        "<form id='filters' class='js-only' hidden><fieldset><legend>Show clusters with a finding that is</legend>"
        f"<label>Status <select name='status'>{_options((s.value for s in STATUSES), 'any status')}</select></label>"
        f"<label>Check <select name='check'>{_options(check_ids, 'any check')}</select></label>"
        "<label>Muted <select name='muted'><option value=''>muted or not</option>"
        "<option value='1'>muted</option><option value='0'>not muted</option></select></label>"
        f"<label>Owner <select name='owner'>{_options(owners, 'any owner')}</select></label>"
        f"<label>Subscription <select name='sub'>{_options(subscriptions, 'any subscription')}</select></label>"
        f"<label>Root cause <select name='rc'><option value=''>any root cause</option>{causes}</select></label>"
        "<button type='reset'>Clear</button> <output id='shown' aria-live='polite'></output>"
        "</fieldset></form>\n"
    )


def _estate_view(groups: Sequence[EstateCause], index_of: dict[str, int]) -> str:
    """The root causes, largest first: what is wrong, the fix, the reach, and links to the clusters."""
    if not groups:
        return ""
    rows = []
    for number, group in enumerate(groups, 1):
        cause = group.cause
        clusters = ", ".join(
            f"<a href='#c{index_of[cluster.id.lower()]}'>{text(cluster.name)}</a>"
            for cluster in group.clusters
            if cluster.id.lower() in index_of
        )
        items = f"<p class='items'>Lacks or denies: {text(', '.join(cause.items))}</p>" if cause.items else ""
        fix = (
            f"<div class='fix'><pre><code>{text(cause.fix)}</code></pre>"
            "<button type='button' class='copy js-only' hidden>Copy</button></div>"
            if cause.fix
            else ""
        )
        rows.append(
            f"<tr id='rc{number}' class='s-{group.status.value}'><th scope='row'>#{number}</th>"
            f"<td><span class='badge s-{group.status.value}'>{group.status.value}</span></td>"
            f"<td><strong>{text(cause.name)}</strong><p>{text(cause.summary)}</p>{items}{fix}</td>"
            f"<td class='n'>{len(group.affected)}</td><td class='n'>{len(group.subscriptions)}</td>"
            f"<td>{clusters} <button type='button' class='rc-filter js-only' data-rc='{number}' hidden>"
            "Show only these</button></td></tr>"
        )
    return (
        "<section id='root-causes'><h2>Root causes</h2>"
        "<p class='hint'>Largest first; each fixed once fixes every cluster listed.</p>"
        "<table class='causes'><thead><tr><th scope='col'>#</th><th scope='col'>Status</th>"
        "<th scope='col'>What is wrong, and the fix</th><th scope='col'>Clusters</th>"
        "<th scope='col'>Subscriptions</th><th scope='col'>Affected clusters</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>\n"
    )


def _grid(results: Sequence[ClusterResult], check_ids: Sequence[str], numbers: dict[str, int]) -> str:
    """A table in ARIA roles on CSS-grid rows: each row skips layout while off screen (content-visibility),
    which a <table> cannot do; at 5,000 clusters laying out a real table blocked the page for over a second."""
    head = "".join(f"<span role='columnheader'>{text(check)}</span>" for check in check_ids)
    rows = []
    for index, result in enumerate(results):
        by_check = {finding.check: finding for finding in result.findings}
        cells = []
        for check in check_ids:
            finding = by_check.get(check)
            if finding is None:
                cells.append("<span role='cell' class='s-none'>n/a</span>")
                continue
            muted = " m" if finding.muted else ""
            label = finding.status.value + (" (muted)" if finding.muted else "")
            cells.append(
                f"<span role='cell' class='s-{finding.status.value}{muted}'>"
                f"<a href='#c{index}-{escape(check)}'>{label}</a></span>"
            )
        rows.append(
            f"<div role='row' class='row' id='r{index}'{_row_data(result, numbers)}><span role='rowheader'>"
            f"<a href='#c{index}'>{text(result.cluster.name)}</a></span>"
            f"<span role='cell'>{text(', '.join(owners_of(result)))}</span>{''.join(cells)}</div>\n"
        )
    return (
        "<section id='overview'><h2>Estate overview</h2>"
        "<p class='hint'>One row per cluster (failing first), one column per check; a cell opens its finding.</p>"
        "<div class='scroll'><div class='grid' role='table' aria-label='Clusters by check'>"
        "<div role='row' class='row head'><span role='columnheader'>Cluster</span>"
        f"<span role='columnheader'>Owners</span>{head}</div>\n{''.join(rows)}</div></div></section>\n"
    )


def _count_cells(counts: Mapping[str, int], keys: Iterable[str]) -> str:
    return "".join(f"<td class='n{' z' if not counts.get(key) else ''}'>{counts.get(key, 0)}</td>" for key in keys)


def _counts_per_check(results: Sequence[ClusterResult], check_ids: Sequence[str]) -> str:
    counts: dict[str, Counter[str]] = {check: Counter() for check in check_ids}
    for finding in (finding for result in results for finding in result.findings):
        counter = counts.setdefault(finding.check, Counter())
        counter["muted" if finding.muted else finding.status.value] += 1
    keys = [*(s.value for s in STATUSES), "muted"]
    head = "".join(f"<th scope='col'>{key}</th>" for key in keys)
    rows = "".join(
        f"<tr><th scope='row'>{escape(check)}</th>{_count_cells(counter, keys)}</tr>"
        for check, counter in counts.items()
    )
    return (
        "<section id='per-check'><h2>Findings per check</h2><p class='hint'>Muted findings are counted apart.</p>"
        f"<table class='counts'><thead><tr><th scope='col'>Check</th>{head}</tr></thead><tbody>{rows}</tbody></table>"
        "</section>\n"
    )


def _counts_per_owner(results: Sequence[ClusterResult]) -> str:
    counts: dict[str, Counter[str]] = {}
    for result in results:
        for owner in owners_of(result):
            counter = counts.setdefault(owner, Counter())
            counter["clusters"] += 1
            counter["failing clusters"] += result.failed
            for finding in result.findings:
                counter["muted" if finding.muted else finding.status.value] += 1
    keys = ["clusters", "failing clusters", "fail", "error", "warn", "muted"]
    head = "".join(f"<th scope='col'>{key}</th>" for key in keys)
    ordered = sorted(counts.items(), key=lambda item: (-item[1]["failing clusters"], item[0].lower()))
    rows = "".join(f"<tr><th scope='row'>{escape(owner)}</th>{_count_cells(c, keys)}</tr>" for owner, c in ordered)
    return (
        "<section id='per-owner'><h2>Per owner</h2>"
        f"<table class='counts'><thead><tr><th scope='col'>Owner</th>{head}</tr></thead><tbody>{rows}</tbody></table>"
        "</section>\n"
    )


def _mutes(mutes: Mapping[str, Any]) -> str:
    items = [f"<li>{escape(label)}: matches no cluster (unused)</li>" for label in mutes.get("unused", [])]
    items += [
        f"<li>{escape(label)}: expired, its findings are no longer muted</li>" for label in mutes.get("expired", [])
    ]
    items += [
        f"<li>{escape(tag['cluster'])}: {escape(tag['problem'])} (ignored)</li>" for tag in mutes.get("invalidTags", [])
    ]
    body = f"<ul>{''.join(items)}</ul>" if items else "<p>Every entry of the mute list matched a cluster.</p>"
    return f"<section id='exemptions'><h2>Exemptions</h2>{body}</section>\n"


def _cluster(index: int, result: ClusterResult, groups: Sequence[EstateCause], numbers: dict[str, int]) -> str:
    cluster = result.cluster
    statuses = Counter("muted" if f.muted else f.status.value for f in result.findings)
    badges = " ".join(
        f"<span class='badge {'muted' if key == 'muted' else 's-' + key}'>{statuses[key]} {key}</span>"
        for key in [*(s.value for s in STATUSES if s is not Status.PASS), "muted"]
        if statuses[key]
    )
    where = " · ".join(
        escape(part)
        for part in (
            f"{cluster.subscription}/{cluster.resource_group}" if cluster.subscription else cluster.id,
            cluster.location,
            "owners: " + ", ".join(owners_of(result)),
        )
        if part
    )
    problem = f"<p class='input-error'>{text(result.input_error)}</p>" if result.input_error else ""
    causes = causes_of(result, groups)
    findings = "".join(
        _finding(index, finding, cause_reference(finding, numbers, causes))
        for finding in sorted(result.findings, key=_finding_order)
    )
    # In <noscript>: markup without the script; with it, text the parser skips over (fast at 5,000
    # clusters) that the script turns into elements in idle time, or at once when the cluster opens.
    return (
        f"<details class='cluster' id='c{index}'{_row_data(result, numbers)}><summary><span class='name'>{escape(cluster.name)}</span>"
        f" <span class='where'>{where}</span> {badges}</summary>"
        f"<noscript><p class='id'><code>{text(cluster.id)}</code></p>{problem}{findings}</noscript></details>\n"
    )


def _finding_order(finding: Finding) -> tuple[int, int]:
    return (bool(finding.muted), STATUS_ORDER[finding.status])


def _finding(index: int, finding: Finding, references: Sequence[tuple[int, str]]) -> str:
    """`references`: the finding's root causes as the estate view numbers them, each linked to its row."""
    status = finding.status.value
    causes = "".join(
        f"<p class='cause'>Points at <a href='#rc{number}'>{text(reference)}</a></p>"
        for number, reference in references
    )
    muted = f"<p class='mute'>{text(mute_note(finding.muted))}</p>" if finding.muted else ""
    detail = f"<p class='detail'>{text(finding.detail)}</p>" if finding.detail else ""
    fix = (
        "<div class='fix'><span class='label'>Fix</span><pre><code>"
        f"{text(finding.remediation)}</code></pre><button type='button' class='copy js-only' hidden>Copy</button></div>"
        if finding.remediation
        else ""
    )
    evidence = (
        "<details class='evidence'><summary>Evidence</summary><pre>"
        f"{text(json.dumps(dict(finding.evidence), sort_keys=True, default=str))}</pre></details>"
        if finding.evidence
        else ""
    )
    docs = (
        f"<a class='docs' href='{escape(finding.docs)}' rel='noopener noreferrer' target='_blank'>Microsoft Learn</a>"
        if finding.docs
        else ""
    )
    muted_badge = " <span class='badge muted'>muted</span>" if finding.muted else ""
    return (
        f"<article class='finding s-{status}{' m' if finding.muted else ''}' id='c{index}-{escape(finding.check)}'>"
        f"<h3><span class='badge s-{status}'>{status}</span>{muted_badge}"
        f" <code>{escape(finding.check)}</code> <span class='sev'>{finding.severity.value}</span> {text(finding.title)}</h3>"
        f"{muted}{causes}{detail}{fix}{evidence}{docs}</article>"
    )
