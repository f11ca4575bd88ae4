"""The docs stand alone: what they name exists, and nothing points at a document a clone does not have."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from checks.registry import CHECKS

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    suffixes = {".py", ".md", ".sh", ".json", ".bicep", ".kql", ".toml", ".txt", ".yaml", ".yml"}
    return [ROOT / name for name in names if Path(name).suffix in suffixes and (ROOT / name).is_file()]


def test_nothing_points_at_the_design_notes_a_clone_does_not_have() -> None:
    notes = "DESIGN" + ".md"  # spelled apart so this file does not name it
    offenders = [str(p.relative_to(ROOT)) for p in tracked_text_files() if notes in p.read_text(errors="replace")]
    assert offenders == []


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", flags=re.M | re.S)
HEADING = re.compile(r"^#{1,6} +(.+?) *#* *$", flags=re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.lower())  # backticks, dots, colons, commas, quotes, slashes...
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor of a page; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return found


def links(page: Path) -> list[str]:
    """Relative link targets of a page, outside code blocks and code spans."""
    text = re.sub(r"`[^`\n]*`", "", FENCE.sub("", page.read_text()))
    return [target for target in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


def test_slugs_follow_githubs_rules() -> None:
    assert slug("The HTTP check: authentication and scope") == "the-http-check-authentication-and-scope"
    assert slug("More subscriptions, or a management group") == "more-subscriptions-or-a-management-group"
    assert slug("Deploying again after `azd down`") == "deploying-again-after-azd-down"
    assert slug("Check thresholds") == "check-thresholds"
    assert slug("problems.json: why a source is missing") == "problemsjson-why-a-source-is-missing"
    assert slug("The Function app: the timer sweep and change-driven rechecks") == (
        "the-function-app-the-timer-sweep-and-change-driven-rechecks"
    )


def test_every_relative_link_and_anchor_of_readme_and_docs_resolves() -> None:
    broken = []
    for page in [ROOT / "README.md", *DOCS]:
        for target in links(page):
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(ROOT)} links to missing {path}")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{page.relative_to(ROOT)} links to {target}: no such heading in {linked.name}")
    assert broken == []


def test_the_link_checker_sees_a_broken_anchor_and_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\n## Some: part\n\n[ok](#some-part) [bad](b.md#x) `[code](nope.md)`\n")
    (tmp_path / "b.md").write_text("# B\n\n```\n# not a heading\n```\n")
    assert anchors(tmp_path / "a.md") == {"title", "some-part"}
    assert anchors(tmp_path / "b.md") == {"b"}
    assert links(tmp_path / "a.md") == ["#some-part", "b.md#x"]


def test_readme_is_short_and_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    opening = "\n".join(readme.splitlines()[:10])
    assert "make demo" in opening and "make test" in opening


def test_every_docs_page_is_reachable_from_readme() -> None:
    reached, queue = set(), [ROOT / "README.md"]
    while queue:
        page = queue.pop()
        for target in links(page):
            linked = (page.parent / target.partition("#")[0]).resolve()
            if linked.suffix == ".md" and linked.exists() and linked not in reached:
                reached.add(linked)
                queue.append(linked)
    assert [page.name for page in DOCS if page.resolve() not in reached] == []


def test_checks_page_names_every_check_with_its_docs_page_and_the_module_cites_it() -> None:
    text = (ROOT / "docs" / "checks.md").read_text()
    for check in CHECKS:
        assert f"| `{check.id}` |" in text, check.id
        assert check.docs.startswith("https://learn.microsoft.com/")


def test_report_page_shows_the_text_layout_the_code_prints() -> None:
    from publish.text_report import DOCS_HINT

    assert DOCS_HINT in (ROOT / "docs" / "report.md").read_text()
