"""The HTML report in a real browser: Debian's Chromium, headless, loading the file from disk. Assertions are
on the rendered DOM (every cluster and finding, the filters, theme, print, no-script) and on the page's
network events: nothing but the file itself is requested, and the CSP refuses what the page might try."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from model.finding import ClusterResult, Finding, Severity, Status
from publish.html_report import _sha256, render_html
from tests.builders import make_cluster
from tests.test_cli import ESTATE, sweep
from tools.headless_chromium import ChromiumUnavailable, Page, chromium_page

ROOT = Path(__file__).resolve().parent.parent
MUTE_LIST = ROOT / "examples" / "mute-list.yaml"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("html")
    html = folder / "estate.html"
    run = sweep("--snapshot", str(ESTATE), "--mute-list", str(MUTE_LIST), "--format", "html", "--output", str(html))
    assert run.returncode == 1, run.stderr
    as_json = sweep("--snapshot", str(ESTATE), "--mute-list", str(MUTE_LIST), "--format", "json")
    return html, json.loads(as_json.stdout)


@pytest.fixture(scope="module")
def browser() -> Iterator[Page]:
    try:
        with chromium_page() as page:
            yield page
    except ChromiumUnavailable as error:  # never skipped: CI installs it (.ci/run)
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def page(browser: Page, report: tuple[Path, dict]) -> Page:
    browser.events.clear()
    browser.send("Emulation.setScriptExecutionDisabled", value=False)
    browser.send("Emulation.setEmulatedMedia", media="", features=[])
    browser.load(report[0])
    wait_until_built(browser)
    return browser


def wait_until_built(page: Page, seconds: float = 30.0) -> None:
    """The script builds the findings from their <noscript> text in idle time; bounded wait."""
    deadline = time.monotonic() + seconds
    while page.evaluate("document.documentElement.dataset.findings") != "ready":
        assert time.monotonic() < deadline, "findings not built"
        time.sleep(0.05)


def texts(page: Page, selector: str) -> list[str]:
    return page.evaluate(f"Array.from(document.querySelectorAll({json.dumps(selector)}), e => e.textContent.trim())")


def filter_by(page: Page, **values: str) -> list[str]:
    """Sets the filter form as a user would (select, change event); the names of the clusters left shown."""
    page.evaluate(
        "(() => { const f = document.getElementById('filters'); f.reset();"
        f" for (const [k, v] of Object.entries({json.dumps(values)})) f.elements[k].value = v;"
        " f.dispatchEvent(new Event('change')); })()"
    )
    shown = texts(page, ".grid .row[data-f]:not([hidden]) [role=rowheader] a")
    assert shown == texts(page, "details.cluster:not([hidden]) .name")  # grid and sections agree
    return shown


def test_every_cluster_and_finding_is_in_the_rendered_page(page: Page, report: tuple[Path, dict]) -> None:
    _, document = report
    names = sorted(cluster["name"] for cluster in document["clusters"])
    assert sorted(texts(page, ".grid .row[data-f] [role=rowheader] a")) == names
    assert sorted(texts(page, "details.cluster .name")) == names
    sections = page.evaluate(
        "Array.from(document.querySelectorAll('details.cluster'), d => [d.querySelector('.name').textContent,"
        " Array.from(d.querySelectorAll('article.finding'), a => [a.querySelector('h3 code').textContent,"
        " a.querySelector('h3 .badge').textContent, a.querySelector('.fix code')?.textContent ?? '',"
        " a.querySelector('a.docs').href, a.classList.contains('m')])])"
    )
    rendered = {name: {check: rest for check, *rest in findings} for name, findings in sections}
    for cluster in document["clusters"]:
        shown = rendered[cluster["name"]]
        assert set(shown) == {finding["check"] for finding in cluster["findings"]}
        for finding in cluster["findings"]:
            status, fix, docs, muted = shown[finding["check"]]
            assert (status, fix, docs, muted) == (
                finding["status"],
                finding["remediation"],
                finding["docs"],
                "muted" in finding,
            )
    cells = page.evaluate("document.querySelectorAll('.grid [role=cell][class^=\"s-\"]').length")
    assert cells == sum(len(cluster["findings"]) for cluster in document["clusters"])
    muted_cell = texts(page, ".grid [role=cell].m")
    assert muted_cell == ["fail (muted)"]
    assert "legacy-batch-tunnel" in " ".join(texts(page, "#exemptions li"))
    assert texts(page, "#shown") == [f"{len(names)} of {len(names)} clusters shown"]


def test_the_filters_show_the_clusters_that_match(page: Page, report: tuple[Path, dict]) -> None:
    _, document = report

    def expected(status: str = "", check: str = "", muted: str = "", owner: str = "") -> list[str]:
        return sorted(
            cluster["name"]
            for cluster in document["clusters"]
            if (not owner or owner in cluster["owners"])
            and any(
                (not status or f["status"] == status)
                and (not check or f["check"] == check)
                and (not muted or ("muted" in f) == (muted == "1"))
                for f in cluster["findings"]
            )
        )

    for values in (
        {"status": "fail"},
        {"status": "fail", "muted": "0"},
        {"check": "helm-history", "status": "fail"},
        {"muted": "1"},
        {"check": "private-cluster-reach", "status": "pass"},
        {"owner": "team-web"},
        {"owner": "team-web", "status": "error"},
    ):
        assert sorted(filter_by(page, **values)) == expected(**values), values
    assert filter_by(page, muted="1") == ["aks-storefront-prod"]
    subscriptions = {cluster["subscription"] for cluster in document["clusters"]}
    assert len(subscriptions) > 1
    for subscription in subscriptions:
        in_it = sorted(c["name"] for c in document["clusters"] if c["subscription"] == subscription)
        assert sorted(filter_by(page, sub=subscription)) == in_it
    filter_by(page)
    assert texts(page, "#shown") == [f"{len(document['clusters'])} of {len(document['clusters'])} clusters shown"]


def test_the_root_causes_open_the_page_and_filter_to_their_clusters(page: Page, report: tuple[Path, dict]) -> None:
    _, document = report
    causes = document["rootCauses"]
    assert len(causes) >= 2
    rows = page.evaluate(
        "Array.from(document.querySelectorAll('#root-causes tbody tr'), r => [r.id, r.querySelector('strong').textContent,"
        " Array.from(r.querySelectorAll('a'), a => [a.textContent, a.getAttribute('href')])])"
    )
    assert [row[1] for row in rows] == [cause["name"] for cause in causes]
    assert page.evaluate("document.querySelector('main > section').id") == "root-causes"  # the page opens with them
    for number, (row_id, _, links) in enumerate(rows, 1):
        assert row_id == f"rc{number}"
        names = [c["name"] for c in causes[number - 1]["clusters"]]
        assert [name for name, _ in links] == names
        for name, href in links:  # each link opens that cluster's section
            assert page.evaluate(f"document.querySelector('{href} .name').textContent") == name
        assert sorted(filter_by(page, rc=str(number))) == sorted(names)
        page.evaluate(f"document.querySelector('button.rc-filter[data-rc=\"{number}\"]').click()")
        assert texts(page, "#shown") == [f"{len(names)} of {len(document['clusters'])} clusters shown"]
        # A listed cluster's finding points back at the root cause.
        section = page.evaluate(f"document.querySelector('{links[0][1]}').innerHTML")
        assert f'href="#rc{number}"' in section
    filter_by(page)


def test_no_network_request_is_attempted_and_the_policy_refuses_one(page: Page, report: tuple[Path, dict]) -> None:
    filter_by(page, status="fail")
    page.evaluate("document.querySelector('#theme').click()")
    assert page.requests() == [report[0].resolve().as_uri()]
    assert page.console_errors() == []
    refused = page.evaluate(
        "fetch('http://127.0.0.1:9/probe').then(() => 'fetched', e => 'refused: ' + e.name)"
        "  .then(r => { const i = new Image(); i.src = 'http://127.0.0.1:9/pixel.png';"
        "  document.body.append(i); return new Promise(ok => setTimeout(() => ok(r), 300)); })"
    )
    assert refused == "refused: TypeError"  # fetch: refused by connect-src before any request
    # the image is announced to the network layer and refused there by the policy, never sent
    assert page.requests() == [report[0].resolve().as_uri(), "http://127.0.0.1:9/pixel.png"]
    assert page.blocked() == {"http://127.0.0.1:9/pixel.png": "csp"}
    assert any("Content Security Policy" in error for error in page.console_errors())


def test_a_grid_cell_opens_its_finding_and_the_theme_switches(page: Page) -> None:
    page.evaluate("document.querySelector('.grid [role=cell].s-fail a').click()")
    opened = page.evaluate(
        "(() => { const t = document.getElementById(location.hash.slice(1));"
        " return [t.tagName, t.closest('details.cluster').open]; })()"
    )
    assert opened == ["ARTICLE", True]
    background = "getComputedStyle(document.body).backgroundColor"
    page.send("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "light"}])
    click = "document.querySelector('#theme').click(), document.querySelector('#theme').textContent"
    for _ in range(3):  # the choice is remembered in local storage: start from auto
        if page.evaluate("document.querySelector('#theme').textContent") == "Theme: auto":
            break
        page.evaluate(click)
    light = page.evaluate(background)
    assert [page.evaluate(click), page.evaluate(click)] == ["Theme: light", "Theme: dark"]
    dark = page.evaluate(background)
    assert page.evaluate(click) == "Theme: auto"
    assert light == "rgb(255, 255, 255)" and dark == "rgb(13, 17, 23)"
    page.send("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])
    assert page.evaluate(background) == dark  # auto follows the system


def test_print_hides_the_controls(page: Page) -> None:
    page.send("Emulation.setEmulatedMedia", media="print")
    hidden = page.evaluate(
        "['#filters', '#theme', 'button.copy'].map(s => getComputedStyle(document.querySelector(s)).display)"
    )
    assert hidden == ["none", "none", "none"]
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert page.evaluate("Array.from(document.querySelectorAll('details.cluster')).every(d => d.open)")


def test_without_script_the_tables_and_findings_are_there(browser: Page, report: tuple[Path, dict]) -> None:
    browser.send("Emulation.setScriptExecutionDisabled", value=True)
    try:
        browser.events.clear()
        browser.load(report[0])
        state = browser.evaluate(  # evaluated by the protocol, not by the page
            "[document.querySelectorAll('.grid .row[data-f]').length, document.getElementById('filters').hidden,"
            " document.querySelectorAll('article.finding').length, document.querySelector('button.copy').hidden]"
        )
    finally:
        browser.send("Emulation.setScriptExecutionDisabled", value=False)
    clusters = len(report[1]["clusters"])
    assert state == [clusters, True, 9 * clusters, True]


# --- without a browser: what the file itself holds -------------------------------------------------------------


def test_the_policy_allows_exactly_the_inline_style_and_script() -> None:
    html = render_html([], datetime(2026, 1, 1, tzinfo=UTC), ["helm-history"])
    (policy,) = re.findall(r"http-equiv='Content-Security-Policy' content=\"([^\"]+)\"", html)
    (style,) = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    (script,) = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    assert policy.startswith("default-src 'none'; ")
    assert f"style-src '{_sha256(style)}'" in policy and f"script-src '{_sha256(script)}'" in policy
    assert "connect-src 'none'" in policy and "http" not in policy.replace("http-equiv", "")
    assert not re.search(r"<(link|img|iframe)\b|src=|@import|url\(", html)  # nothing to fetch


def test_text_from_clusters_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    finding = Finding("helm-history", Status.FAIL, Severity.LOW, evil, evil, f"helm {evil}", {"x": evil}, "https://x")
    result = ClusterResult(make_cluster(), (f"team'{evil}",), (finding,))
    html = render_html([result], datetime(2026, 1, 1, tzinfo=UTC), ["helm-history"])
    assert evil not in html and html.count("<script>") == 1
