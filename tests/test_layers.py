"""The layers point one way: function_app.py -> sweep/ -> {collect/, checks/, publish/} -> model/.

Walks the syntax tree of every module (imports inside functions count too) and fails naming the
module, the line and the import that breaks the rule. docs/architecture.md draws the same table.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("function_app", "sweep", "collect", "checks", "publish", "model")

# What each part may import of the app's own parts (besides itself and third-party packages).
MAY_IMPORT: dict[str, frozenset[str]] = {
    "function_app": frozenset({"sweep"}),
    "sweep": frozenset({"collect", "checks", "publish", "model"}),
    "collect": frozenset({"model"}),
    "checks": frozenset({"model"}),
    "publish": frozenset({"model"}),
    "model": frozenset(),
}


def modules() -> list[Path]:
    found = [ROOT / "function_app.py"]
    for part in PARTS[1:]:
        found.extend(sorted((ROOT / part).rglob("*.py")))
    return found


def part_of(path: Path) -> str:
    relative = path.relative_to(ROOT)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_parts(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, imported module, its part) for every import of one of the app's parts."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".", 1)[0]
            if top in PARTS:
                found.append((node.lineno, name, top))
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_imports_follow_the_layers(path: Path) -> None:
    part = part_of(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    allowed = MAY_IMPORT[part] | {part}
    broken = [f"line {line}: imports {name}" for line, name, top in imported_parts(tree) if top not in allowed]
    assert not broken, f"{path.relative_to(ROOT)} ({part}/ may import {sorted(MAY_IMPORT[part])}): {broken}"


def test_relative_imports_are_not_used() -> None:
    # The rule reads absolute module names; a relative import would slip past it.
    relative = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in modules()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert relative == []


def test_the_rule_catches_a_bad_import() -> None:
    tree = ast.parse("def f():\n    from sweep.settings import Settings\n")
    assert imported_parts(tree) == [(2, "sweep.settings", "sweep")]
    assert "sweep" not in MAY_IMPORT["publish"]
