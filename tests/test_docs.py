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


def test_every_relative_link_of_readme_and_docs_resolves() -> None:
    for page in [ROOT / "README.md", *DOCS]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to missing {target}"


def test_checks_page_names_every_check_with_its_docs_page_and_the_module_cites_it() -> None:
    text = (ROOT / "docs" / "checks.md").read_text()
    for check in CHECKS:
        assert f"| `{check.id}` |" in text, check.id
        assert check.docs.startswith("https://learn.microsoft.com/")


def test_report_page_shows_the_text_layout_the_code_prints() -> None:
    from publish.text_report import DOCS_HINT

    assert DOCS_HINT in (ROOT / "docs" / "report.md").read_text()
