"""The Teams message of one root cause's change (opened, grown, resolved) for the owners of the resource at
fault: an Adaptive Card 1.4 in the Workflows payload, like a cluster's card (publish/teams_card.py).

It says what is wrong and where (the resource by name, resource group and subscription, with a portal link:
two hubs' rule collection groups are often named alike), the fix whole, and every cluster it breaks, new ones
marked. Cluster lines are dropped from the tail, counted as "and N more", when the message would not fit.
Everything the cause says (a leaking client's user agent, resource and cluster names) is inert Markdown
(publish/plain_text.py), as in a cluster's card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from model.text import shorten
from publish.plain_text import inert_markdown
from publish.teams_card import (
    CARD_VERSION,
    DETAIL_CHARS,
    LINE_CHARS,
    MAX_MESSAGE_BYTES,
    encode_message,
    portal_link,
    text_block,
    workflows_payload,
)

OPENED, GROWN, RESOLVED = "opened", "grown", "resolved"


@dataclass(frozen=True)
class CauseChange:
    """How a root cause's clusters changed since its last card: `kind` is opened, grown or resolved (a cause
    that only shrinks sends nothing: the owners are working on it)."""

    kind: str
    clusters: Mapping[str, tuple[str, str]]  # affected now: id -> (name, check)
    new: frozenset[str]  # ids not in the last card
    gone: Mapping[str, tuple[str, str]]  # in the last card, not affected now

    @classmethod
    def between(cls, notified: Mapping[str, tuple[str, str]], now: Mapping[str, tuple[str, str]]) -> CauseChange | None:
        new = frozenset(now) - frozenset(notified)
        gone = {cluster: notified[cluster] for cluster in notified if cluster not in now}
        if not now and notified:
            return cls(RESOLVED, now, new, gone)
        if now and not notified:
            return cls(OPENED, now, new, gone)
        return cls(GROWN, now, new, gone) if new else None


def root_cause_message(
    cause: Mapping[str, Any],
    change: CauseChange,
    portal_url: str,
    preceding_change: str = "",
    limit_bytes: int = MAX_MESSAGE_BYTES,
) -> dict[str, Any]:
    """`cause`: the root-cause row's cause (`root_cause_state.cause_document`); `preceding_change`: the write
    a recheck answered ("Microsoft.Network/... on <resource> by <caller> at ..."), if any."""
    listed = sorted(change.clusters.items() if change.kind != RESOLVED else change.gone.items(), key=lambda i: i[1][0])
    kept = len(listed)

    def build() -> dict[str, Any]:
        return workflows_payload(_card(cause, change, portal_url, preceding_change, listed[:kept], len(listed) - kept))

    message = build()
    while len(encode_message(message)) > limit_bytes and kept:
        kept -= 1
        message = build()
    return message


def _headline(change: CauseChange) -> str:
    count = len(change.clusters)
    if change.kind == RESOLVED:
        return f"Resolved: no cluster fails on it now ({len(change.gone)} when last reported)"
    if change.kind == OPENED:
        return f"New root cause: breaks {count} cluster{'' if count == 1 else 's'}"
    return f"Grown: now breaks {count} clusters ({len(change.new)} new)"


def _card(
    cause: Mapping[str, Any],
    change: CauseChange,
    portal_url: str,
    preceding_change: str,
    listed: list[tuple[str, tuple[str, str]]],
    more: int,
) -> dict[str, Any]:
    resource = str(cause.get("resourceId") or "")
    parts = resource.split("/")
    headline = _headline(change)
    body: list[dict[str, Any]] = [
        text_block(
            f"AKS API Reach root cause: {inert_markdown(str(cause.get('name', '')))}", size="Large", weight="Bolder"
        ),
        text_block(headline, isSubtle=True, spacing="None", color="Good" if change.kind == RESOLVED else "Attention"),
        {
            "type": "FactSet",
            "facts": [
                {"title": "Resource", "value": inert_markdown(parts[-1] if resource else str(cause.get("part", "")))},
                {"title": "Resource group", "value": inert_markdown(parts[4]) if len(parts) > 4 else "none (a client)"},
                {"title": "Subscription", "value": inert_markdown(str(cause.get("subscription") or "none (a client)"))},
                {"title": "Part at fault", "value": inert_markdown(str(cause.get("part") or "the whole resource"))},
            ],
        },
    ]
    if preceding_change:
        body.append(text_block(inert_markdown(shorten(f"After {preceding_change}.", LINE_CHARS)), weight="Bolder"))
    if change.kind != RESOLVED:
        body.append(text_block(inert_markdown(shorten(str(cause.get("summary", "")), DETAIL_CHARS))))
        items = [str(item) for item in cause.get("items", [])]
        if items:
            body.append(text_block(inert_markdown(shorten("Lacks or denies: " + ", ".join(items), DETAIL_CHARS))))
        if cause.get("fix"):
            body += [
                text_block("Fix", weight="Bolder", separator=True),
                text_block(inert_markdown(str(cause["fix"])), fontType="Monospace"),
            ]
    heading = "Clusters it broke" if change.kind == RESOLVED else "Clusters it breaks"
    body.append(text_block(heading, weight="Bolder", separator=True))
    body += [
        text_block(
            f"- {inert_markdown(shorten(f'{name} ({check})', LINE_CHARS))}{' · new' if cluster in change.new else ''}",
            spacing="None",
        )
        for cluster, (name, check) in listed
    ]
    if more:
        body.append(text_block(f"… and {more} more clusters (see the report)", spacing="None"))
    actions = (
        [
            {
                "type": "Action.OpenUrl",
                "title": "Open the resource in the Azure portal",
                "url": portal_link(portal_url, resource),
            }
        ]
        if resource
        else []
    )
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "fallbackText": f"AKS API Reach root cause: {inert_markdown(str(cause.get('name', '')))}: {headline}",
        "body": body,
        "actions": actions,
    }
