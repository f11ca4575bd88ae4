"""The Teams message of one cluster's change of failures: an Adaptive Card 1.4 in the Workflows payload.

Teams Workflows renders Adaptive Cards up to version 1.4 and accepts at most 28 KB per message; legacy
Office 365 connector URLs take the same payload. Newly failing checks are shown whole (title, detail
shortened, remediation command in monospace), still-failing and resolved checks one line each. When the
message would not fit, newly failing checks are dropped from the tail and counted as "and N more".

TextBlocks and Facts render Markdown: everything a finding or the cluster says is made inert first
(`publish/plain_text.py`), so a tenant's event text or tag cannot put a link or markup in the card. The only
Markdown is the card's own: the list dashes and the Microsoft Learn link of the check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from model.finding import ClusterResult, Finding
from model.text import shorten
from publish.plain_text import inert_markdown

CARD_VERSION = "1.4"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_MESSAGE_BYTES = 28 * 1024  # Teams' limit for one webhook message, the whole JSON body
DETAIL_CHARS = 600  # a newly failing check's detail in the card; the full text is in the report
LINE_CHARS = 200  # one line of a still-failing or resolved check
Element = dict[str, Any]


@dataclass(frozen=True)
class FailureChange:
    """Check ids, in check order: newly failing, failing before and now, failing before and not now."""

    new: tuple[str, ...]
    still: tuple[str, ...]
    resolved: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.new or self.resolved)


def encode_message(message: Any) -> bytes:
    """The exact bytes posted (compact UTF-8 JSON), so the size rule measures what Teams receives."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def portal_link(portal_url: str, cluster_id: str) -> str:
    return f"{portal_url.rstrip('/')}/#@/resource{cluster_id}"


def teams_message(
    result: ClusterResult, change: FailureChange, portal_url: str, limit_bytes: int = MAX_MESSAGE_BYTES
) -> dict[str, Any]:
    """The payload for a webhook; within `limit_bytes` by dropping newly failing checks from the tail first,
    then (only with huge titles) the one-line lists."""
    findings = {finding.check: finding for finding in result.findings}
    new_blocks = [_new_failure(findings[check]) for check in change.new]  # new failures are current findings
    still_lines = [_line(check, findings.get(check), "") for check in change.still]
    resolved_lines = [_line(check, findings.get(check), "now ") for check in change.resolved]
    new_kept, still_kept, resolved_kept = len(new_blocks), len(still_lines), len(resolved_lines)

    def build() -> dict[str, Any]:
        more_failing = (len(new_blocks) - new_kept) + (len(still_lines) - still_kept)
        more_resolved = len(resolved_lines) - resolved_kept
        card = _card(
            result,
            change,
            portal_url,
            [element for block in new_blocks[:new_kept] for element in block],
            still_lines[:still_kept],
            resolved_lines[:resolved_kept],
            more_failing,
            more_resolved,
        )
        return workflows_payload(card)

    message = build()
    while len(encode_message(message)) > limit_bytes:
        if new_kept:
            new_kept -= 1
        elif still_kept:
            still_kept -= 1
        elif resolved_kept:
            resolved_kept -= 1
        else:
            raise ValueError(f"the Teams card of {result.cluster.name} does not fit in {limit_bytes} bytes")
        message = build()
    return message


def workflows_payload(card: Element) -> dict[str, Any]:
    return {"type": "message", "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}]}


def _card(
    result: ClusterResult,
    change: FailureChange,
    portal_url: str,
    new_elements: list[Element],
    still_lines: list[Element],
    resolved_lines: list[Element],
    more_failing: int,
    more_resolved: int,
) -> Element:
    cluster = result.cluster
    summary = _summary(change)
    body: list[Element] = [
        text_block(f"AKS API Reach: {inert_markdown(cluster.name)}", size="Large", weight="Bolder"),
        text_block(summary, isSubtle=True, spacing="None"),
        {
            "type": "FactSet",
            "facts": [
                {"title": "Subscription", "value": inert_markdown(cluster.subscription or "unknown")},
                {"title": "Resource group", "value": inert_markdown(cluster.resource_group or "unknown")},
                {"title": "Location", "value": inert_markdown(cluster.location or "unknown")},
                {"title": "Owners", "value": inert_markdown(", ".join(result.owners)) or "none (owner tag not set)"},
            ],
        },
        *new_elements,
    ]
    if still_lines:
        body += [_heading("Still failing"), *still_lines]
    if more_failing:
        body.append(text_block(f"… and {more_failing} more failing checks (see the full report)", color="Attention"))
    if resolved_lines:
        body += [_heading("Resolved", color="Good"), *resolved_lines]
    if more_resolved:
        body.append(text_block(f"… and {more_resolved} more resolved checks", color="Good"))
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "fallbackText": f"AKS API Reach: {inert_markdown(cluster.name)}: {summary}",
        "body": body,
        "actions": [
            {
                "type": "Action.OpenUrl",
                "title": "Open the cluster in the Azure portal",
                "url": portal_link(portal_url, cluster.id),
            }
        ],
    }


def _summary(change: FailureChange) -> str:
    parts = [f"{len(change.new)} newly failing"] if change.new else []
    if change.still:
        parts.append(f"{len(change.still)} still failing")
    if change.resolved:
        parts.append(f"{len(change.resolved)} resolved")
    return ", ".join(parts)


def _new_failure(finding: Finding) -> list[Element]:
    block = [
        text_block(
            inert_markdown(shorten(finding.title, LINE_CHARS)), weight="Bolder", color="Attention", separator=True
        ),
        text_block(f"{finding.check} · severity {finding.severity.value}", isSubtle=True, spacing="None"),
    ]
    if finding.detail:
        block.append(text_block(inert_markdown(shorten(finding.detail, DETAIL_CHARS))))
    for cause in finding.root_causes:  # someone else's resource: name it and its owner, not its fix
        where = f"subscription {cause.subscription}" if cause.subscription else "no subscription (a client)"
        block.append(
            text_block(
                inert_markdown(
                    shorten(
                        f"Root cause: {cause.name}, held in {where}; its owners get their own card with the fix.",
                        LINE_CHARS,
                    )
                ),
                weight="Bolder",
            )
        )
    if finding.remediation and not finding.root_causes:
        # Whole, never cut: a shortened command would be a wrong command. A huge one goes to "and N more".
        block.append(text_block(inert_markdown(finding.remediation), fontType="Monospace"))
    if finding.docs:
        block.append(text_block(f"[Microsoft Learn]({finding.docs})", isSubtle=True, spacing="Small"))
    return block


def _line(check: str, finding: Finding | None, status_prefix: str) -> Element:
    if finding is None:
        return text_block(f"- {check}", spacing="None")
    status = f" ({status_prefix}{finding.status.value})" if status_prefix else ""
    return text_block(f"- {check}{status}: {inert_markdown(shorten(finding.title, LINE_CHARS))}", spacing="None")


def _heading(text: str, color: str = "Default") -> Element:
    return text_block(text, weight="Bolder", color=color, separator=True)


def text_block(text: str, **style: Any) -> Element:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}
