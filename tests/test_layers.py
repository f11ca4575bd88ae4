"""The layers point one way: function_app.py -> sweep/ -> {collect/, checks/, publish/} -> model/.

Inside sweep/, each package is a room of its own: the shared core, the command line, the Function app's
sweep and change-driven rechecks. The command line and the Function app never import each other; the
rechecks build on the app's sweep, never the other way round; the core imports none of them.

Walks the syntax tree of every module (imports inside functions count too) and fails naming the
module, the line and the import that breaks the rule. docs/architecture.md draws the same table.
"""

from __future__ import annotations

import ast
import re
from importlib.metadata import distribution
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("function_app", "sweep", "collect", "checks", "publish", "model")
SWEEP_ROOMS = ("core", "cli", "app", "rechecks")  # sweep/<room>/: each counts as a part of its own
BELOW_SWEEP = frozenset({"collect", "checks", "publish", "model"})

# What each part may import of the app's own parts (besides itself and third-party packages).
MAY_IMPORT: dict[str, frozenset[str]] = {
    "function_app": frozenset({"sweep.app", "sweep.rechecks"}),
    "sweep": frozenset({"sweep.cli"}),  # sweep/__main__.py: `python -m sweep` is the command line
    "sweep.core": BELOW_SWEEP,
    "sweep.cli": BELOW_SWEEP | {"sweep.core"},
    "sweep.app": BELOW_SWEEP | {"sweep.core"},
    "sweep.rechecks": BELOW_SWEEP | {"sweep.core", "sweep.app"},
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


def part_named(module: str) -> str:
    """The part a dotted module name belongs to: a room for sweep.<room>..., else its top package."""
    names = module.split(".")
    if names[0] == "sweep" and len(names) > 1 and names[1] in SWEEP_ROOMS:
        return f"sweep.{names[1]}"
    return names[0]


def part_of(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    return part_named(".".join(relative.parts))


def imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import, those inside functions too."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def imported_parts(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, imported module, its part) for every import of one of the app's parts."""
    return [(line, name, part_named(name)) for line, name in imports(tree) if name.split(".", 1)[0] in PARTS]


def requirement_names(file: str) -> set[str]:
    lines = (ROOT / file).read_text(encoding="utf-8").splitlines()
    return {m[1].lower() for line in lines if (m := re.match(r"^([A-Za-z0-9._-]+)==", line.strip()))}


def dev_only_packages() -> set[str]:
    """The import names of what only requirements-dev.txt installs (the Functions build does not)."""
    packages = set()
    for name in requirement_names("requirements-dev.txt") - requirement_names("requirements.txt"):
        for file in distribution(name).files or []:
            if file.name == "__init__.py" and not file.parts[0].endswith((".dist-info", ".data")):
                packages.add(".".join(file.parts[:-1]))
    return {p for p in packages if not any(p.startswith(other + ".") for other in packages)}


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
    tree = ast.parse("def f():\n    from sweep.core.settings import Settings\n")
    assert imported_parts(tree) == [(2, "sweep.core.settings", "sweep.core")]
    assert "sweep.core" not in MAY_IMPORT["publish"]


def test_every_module_of_sweep_is_in_a_room() -> None:
    loose = [path.name for path in (ROOT / "sweep").glob("*.py") if path.name not in {"__init__.py", "__main__.py"}]
    assert loose == [], "a module of sweep/ belongs in one of " + ", ".join(f"sweep/{room}/" for room in SWEEP_ROOMS)
    assert {part_of(path) for path in modules()} == set(MAY_IMPORT)


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("sweep.cli", "sweep.app"),  # the command line and the Function app never import each other
        ("sweep.app", "sweep.cli"),
        ("sweep.app", "sweep.rechecks"),  # the rechecks plug into the app's sweep, not the other way round
        ("sweep.core", "sweep.cli"),
        ("sweep.core", "sweep.app"),
        ("sweep.core", "sweep.rechecks"),
        ("sweep.cli", "sweep.rechecks"),
        ("function_app", "sweep.cli"),
    ],
)
def test_the_rooms_of_sweep_point_one_way(importer: str, imported: str) -> None:
    assert imported not in MAY_IMPORT[importer]


# The design card's SDKs that do the reading at runtime (requirement name -> import name): runtime packages, which
# the app imports; what only the tests install (the SDKs that build the sample estate, hypothesis) it never does.
CARD_SDKS = {
    "azure-mgmt-containerservice": "azure.mgmt.containerservice",
    "azure-mgmt-network": "azure.mgmt.network",
    "kubernetes": "kubernetes",
}


def test_the_design_cards_sdks_are_runtime_packages_the_app_reads_with() -> None:
    assert set(CARD_SDKS) <= requirement_names("requirements.txt")
    imported = {name for path in modules() for _, name in imports(ast.parse(path.read_text(encoding="utf-8")))}
    unused = [
        package
        for package in CARD_SDKS.values()
        if not any(name == package or name.startswith(package + ".") for name in imported)
    ]
    assert unused == [], f"runtime SDKs no module imports: {unused}"


def test_the_app_imports_nothing_only_the_tests_install() -> None:
    dev_only = dev_only_packages()
    assert {"azure.mgmt.privatedns", "azure.mgmt.resourcegraph", "hypothesis", "trustme"} <= dev_only
    assert not dev_only & set(CARD_SDKS.values())
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in modules()
        for line, name in imports(ast.parse(path.read_text(encoding="utf-8")))
        if any(name == package or name.startswith(package + ".") for package in dev_only)
    ]
    assert found == []
