"""Root-cause cards as a Teams client draws them: Microsoft's Adaptive Cards renderer (npm `adaptivecards`, with
markdown-it for TextBlock markdown, as the renderer's own docs set it up) in headless Chromium. The rendered
DOM must show the cause, every cluster and the fix, the portal buttons, and no link: text from a tenant (a
leaking client's user agent, a resource's owner tag) renders as the characters it holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from model.finding import ClusterResult, Status
from model.root_cause import CauseKind, RootCause, user_agent_cause
from publish.root_cause_card import CauseChange, PrecedingChange, root_cause_message
from publish.root_cause_state import cause_document, member_part
from tests.test_root_cause import landing_zone_estate, results_of
from tests.test_teams import validate_card
from tools.headless_chromium import ChromiumUnavailable, Page, chromium_page

NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
RENDERER = NODE_MODULES / "adaptivecards" / "dist" / "adaptivecards.min.js"
MARKDOWN = NODE_MODULES / "markdown-it" / "dist" / "browser" / "markdown-it.umd.min.js"
PORTAL = "https://portal.azure.com"
HOSTILE = "evil-operator/1.0 [Rotate the keys](https://attacker.example/rotate) **now** <img src=x onerror=alert(1)>"

# The renderer draws a card: every parse event (an unknown element, a bad value) is kept for the test.
RENDER = """
const context = new AdaptiveCards.SerializationContext();
const card = new AdaptiveCards.AdaptiveCard();
card.parse(PAYLOAD, context);
const events = [];
for (let i = 0; i < context.eventCount; i++) { const e = context.getEventAt(i); events.push(e.phase + ": " + e.message); }
document.getElementById("card").appendChild(card.render());
window.parseEvents = events;
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Page]:
    if not RENDERER.is_file() or not MARKDOWN.is_file():
        pytest.skip("npm ci installs the Adaptive Cards renderer and markdown-it (package.json)")
    try:
        with chromium_page(width=620, height=1100) as page:
            yield page
    except ChromiumUnavailable as exc:
        pytest.skip(str(exc))


def render(page: Page, message: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Loads the card into the renderer; what the DOM shows."""
    card = validate_card(message)
    html = folder / "card.html"
    script = RENDER.replace("PAYLOAD", json.dumps(card))
    html.write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<script>{MARKDOWN.read_text()}</script><script>{RENDERER.read_text()}</script></head>"
        f"<body style='margin:16px;width:560px;font-family:sans-serif'><div id='card'></div><script>{script}</script>"
        "</body></html>"
    )
    page.load(html)
    return page.evaluate(
        """({text: document.getElementById("card").innerText,
            links: [...document.querySelectorAll("#card a")].map(a => a.outerHTML),
            images: document.querySelectorAll("#card img").length,
            buttons: [...document.querySelectorAll("#card button")].map(b => b.innerText.trim()),
            events: window.parseEvents})"""
    )


def firewall_cause() -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """The nonprod hub's policy as its row keeps it: the members' parts joined, both spokes in the fix."""
    results: list[ClusterResult] = [
        r for r in results_of(*landing_zone_estate()) if r.cluster.name.startswith("aks-dev")
    ]
    pairs = [
        (result, cause, finding.check)
        for result in results
        for finding in result.findings
        for cause in finding.root_causes
        if cause.kind is CauseKind.FIREWALL
    ]
    cause: RootCause = pairs[0][1]
    parts = {r.cluster.id.lower(): member_part(c, finding_status(r, check)) for r, c, check in pairs}
    members = {r.cluster.id.lower(): (r.cluster.name, check) for r, _, check in pairs}
    return cause_document(cause, parts), members


def finding_status(result: ClusterResult, check: str) -> Status:
    return next(f.status for f in result.findings if f.check == check)


def test_a_firewall_policys_card_shows_the_cause_its_clusters_and_the_fix(browser: Page, tmp_path: Path) -> None:
    cause, members = firewall_cause()
    change = CauseChange.between({}, members)
    assert change is not None
    write = PrecedingChange(
        "Microsoft.Network/firewallPolicies/ruleCollectionGroups/write on rcg-aks (in firewallPolicies "
        "afwp-hub-nonprod-weu, resource group rg-firewall-policies) by deploy-pipeline at 09:14:07 UTC",
        cause["resourceId"] + "/ruleCollectionGroups/rcg-aks",
    )
    shown = render(browser, root_cause_message(cause, change, PORTAL, write), tmp_path)
    assert shown["events"] == []
    text = shown["text"]
    assert (
        "AKS API Reach root cause: firewall policy afwp-hub-nonprod-weu (resource group rg-firewall-policies)" in text
    )
    assert "New root cause: breaks 2 clusters" in text
    assert "aks-dev-1 (egress-rules) · new" in text and "aks-dev-2 (egress-rules) · new" in text
    assert "10.221.0.0/16 10.222.0.0/16" in text  # the one fix admits both spokes
    assert "After Microsoft.Network/firewallPolicies/ruleCollectionGroups/write on rcg-aks" in text
    assert shown["buttons"] == ["Open the resource in the Azure portal", "Open the changed resource"]
    assert shown["links"] == []
    browser.screenshot(tmp_path / "firewall-card.png", 620, 1100)


def test_a_leaking_clients_card_shows_its_user_agent_as_written_and_links_nothing(
    browser: Page, tmp_path: Path
) -> None:
    client = user_agent_cause(HOSTILE, f"{HOSTILE} lists pods 40 times a second", "kubectl rollout restart ...")
    cause = {**cause_document(client, {}), "owners": [HOSTILE]}
    members = {
        "/subscriptions/s/resourcegroups/g/providers/microsoft.containerservice/managedclusters/aks-a": (
            "aks-a",
            "apiserver-load",
        )
    }
    change = CauseChange.between({}, members)
    assert change is not None
    shown = render(browser, root_cause_message(cause, change, PORTAL), tmp_path)
    assert shown["events"] == []
    assert shown["links"] == [] and shown["images"] == 0 and shown["buttons"] == []  # a client has no resource
    text = shown["text"].replace("\u200b", "")  # inert text breaks URLs with a zero-width space
    assert f"{HOSTILE} lists pods 40 times a second" in text  # every character as the client sent it
    assert "Owners (resource tag)" in text
