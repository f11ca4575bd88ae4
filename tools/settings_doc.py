"""Writes docs/settings.md from the code: every setting's name, default and meaning, grouped.

    python -m tools.settings_doc [--check]

The meaning of a setting is the string literal right after its field (an attribute docstring) in
`Settings` and in each check's `Limits`; a `# --- <group> ---` comment in `Settings` starts a group.
Which settings the deployment sets, and from which template parameter, is read from the app settings
of infra/main.bicep. `--check` writes nothing and exits 1 when the committed page is not what the code
gives (tests/test_settings.py does the same).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from checks.registry import CHECKS
from sweep.core.settings import Settings, env_name, limit_setting_name

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "settings.md"
MAIN_BICEP = ROOT / "infra" / "main.bicep"
GROUP = re.compile(r"^\s*# --- (?P<title>.+?) ---\s*$")


class UndocumentedSetting(Exception):
    """A field without a description, or before any group: the page cannot be written."""


@dataclasses.dataclass(frozen=True)
class Described:
    name: str  # as set in the environment
    default: Any
    meaning: str
    group: str


def _class_body(cls: type) -> tuple[list[ast.stmt], list[str]]:
    lines, _ = inspect.getsourcelines(cls)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    body = tree.body[0]
    assert isinstance(body, ast.ClassDef)
    return body.body, lines


def attribute_docs(cls: type) -> dict[str, tuple[str, str]]:
    """Field name -> (the string literal after it, the title of the last group comment above it)."""
    body, lines = _class_body(cls)
    found: dict[str, tuple[str, str]] = {}
    for statement, following in zip(body, [*body[1:], None], strict=True):
        if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
            continue
        doc = ""
        if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
            doc = " ".join(str(following.value.value).split())
        above = (GROUP.match(line) for line in reversed(lines[: statement.lineno - 1]))
        group = next((match["title"] for match in above if match), "")
        found[statement.target.id] = (doc, group)
    return found


def _require(name: str, meaning: str, group: str | None) -> None:
    if not meaning:
        raise UndocumentedSetting(f"{name} has no description: put a string literal right after its field")
    if group == "":
        raise UndocumentedSetting(f"{name} is in no group: add a '# --- <group> ---' line above it")


def app_settings(settings: type = Settings) -> list[Described]:
    docs = attribute_docs(settings)
    described = []
    for setting in dataclasses.fields(settings):
        if setting.name == "limits":
            continue
        meaning, group = docs[setting.name]
        _require(env_name(setting), meaning, group)
        described.append(Described(env_name(setting), setting.default, meaning, group))
    return described


def threshold_settings() -> list[Described]:
    described = []
    for check in CHECKS:
        if not dataclasses.is_dataclass(check.limits):
            continue
        docs = attribute_docs(check.limits)
        for limit in dataclasses.fields(check.limits):
            name = limit_setting_name(check.id, limit.name)
            meaning, _ = docs[limit.name]
            _require(name, meaning, None)
            described.append(Described(name, limit.default, meaning, check.id))
    return described


def written(default: Any) -> str:
    """A default as it is written in an app setting (and in local.settings.sample.json)."""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, tuple):
        return ",".join(default)
    return str(default)


def template_sources(bicep: str) -> dict[str, str]:
    """App setting name -> how infra/main.bicep sets it: `parameter \\`x\\`` or `fixed`, `derived`."""
    block = re.search(r"^var appSettings = \{\n(.*?)^\}", bicep, flags=re.M | re.S)
    assert block, f"{MAIN_BICEP.name} has no 'var appSettings = {{...}}'"
    parameters = set(re.findall(r"^param (\w+)", bicep, flags=re.M))
    sources = {}
    for name, value in re.findall(r"^\s+(\w+): (.+)$", block.group(1), flags=re.M):
        parameter = re.fullmatch(r"(?:string\()?(\w+)\)?", value.strip())
        if parameter and parameter.group(1) in parameters:
            sources[name] = f"parameter `{parameter.group(1)}`"
        elif value.startswith("'") and "${" not in value:
            sources[name] = f"`{value.strip(chr(39))}`"
        else:
            sources[name] = "set by the template"
    return sources


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rows(settings: list[Described], template: dict[str, str] | None) -> Iterator[str]:
    """A table of the settings; with `template`, a column saying how the deployment sets each."""
    yield "| setting | default | meaning |" + (" deployed |" if template is not None else "")
    yield "|---|---|---|" + ("---|" if template is not None else "")
    for setting in settings:
        default = f"`{_cell(written(setting.default))}`" if written(setting.default) else "empty"
        row = f"| `{setting.name}` | {default} | {_cell(setting.meaning)} |"
        yield row + (f" {template.get(setting.name, '')} |" if template is not None else "")


def render() -> str:
    template = template_sources(MAIN_BICEP.read_text())
    lines = [
        "# Settings",
        "",
        "<!-- Written by `python -m tools.settings_doc` (`make docs`) from the code; do not edit by hand. -->",
        "",
        "Every setting is an environment variable (an app setting of the Function app in Azure), read once at",
        "start; a value that cannot be used stops the run with one line naming the setting. Booleans are `true`",
        "or `false`, lists are comma-separated. For a local Function host, `local.settings.sample.json` lists",
        "every setting with its default. The *deployed* column says how `infra/main.bicep` sets it: from a",
        "template parameter ([deployment](deployment.md#parameters)), to a fixed value, or from a resource it",
        "creates; any other setting keeps its default in Azure unless you add it as an app setting.",
    ]
    groups: dict[str, list[Described]] = {}
    for setting in app_settings():
        groups.setdefault(setting.group, []).append(setting)
    for title, settings in groups.items():
        lines += ["", f"## {title}", "", *_rows(settings, template)]
    lines += [
        "",
        "## Check thresholds",
        "",
        "Each check's thresholds are declared next to it (`Limits` in `checks/<check>.py`) and named",
        "`AKS_REACH_<CHECK>_<FIELD>`; the template sets none of them. What each check decides:",
        "[checks](checks.md#the-checks).",
    ]
    by_check: dict[str, list[Described]] = {}
    for setting in threshold_settings():
        if setting.name in template:
            raise UndocumentedSetting(f"{setting.name} is set by {MAIN_BICEP.name}: give thresholds a deployed column")
        by_check.setdefault(setting.group, []).append(setting)
    for check_id, settings in by_check.items():
        lines += ["", f"### {check_id}", "", *_rows(settings, None)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/settings.md is out of date")
    args = parser.parse_args(argv)
    try:
        page = render()
    except UndocumentedSetting as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        if PAGE.read_text() != page:
            print(f"error: {PAGE.relative_to(ROOT)} is out of date: run make docs", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
