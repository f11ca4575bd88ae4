"""Settings come from the environment with documented defaults; every one has a line in README."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from model.errors import SettingsError
from sweep.settings import Settings, all_limit_settings, env_name

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_defaults_and_overrides() -> None:
    default = Settings.from_env({})
    assert default.owner_tag == "owner" and default.limits["helm-history"].fail_revisions == 50
    tuned = Settings.from_env(
        {
            "AKS_REACH_OWNER_TAG": "team",
            "AKS_REACH_HELM_HISTORY_FAIL_REVISIONS": "80",
            "AKS_REACH_APISERVER_PROBE_SLOW_MS": "250.5",
        }
    )
    assert tuned.owner_tag == "team" and tuned.limits["helm-history"].fail_revisions == 80
    assert tuned.limits["apiserver-probe"].slow_ms == 250.5


def test_a_bad_value_names_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"^AKS_REACH_KONNECTIVITY_AGENT_RESTARTS='lots' is not a valid int$"):
        Settings.from_env({"AKS_REACH_KONNECTIVITY_AGENT_RESTARTS": "lots"})


def test_every_setting_is_documented_in_readme_with_its_default() -> None:
    names = {env_name(field): field.default for field in dataclasses.fields(Settings) if field.name != "limits"}
    for name, default in {**names, **all_limit_settings()}.items():
        line = next((line for line in README.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert line is not None, f"{name} is not in README"
        shown = ",".join(default) if isinstance(default, tuple) else default  # as the setting is written
        assert f"`{shown}`" in line, f"{name}: README does not give the default {default!r}"
