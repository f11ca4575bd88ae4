"""Settings come from the environment with documented defaults; docs/settings.md is written from the code."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from model.errors import SettingsError
from sweep.core.settings import Settings
from tools.settings_doc import PAGE, UndocumentedSetting, app_settings, attribute_docs, render, template_sources


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


def test_settings_page_is_what_the_code_and_the_template_give() -> None:
    assert PAGE.read_text() == render(), "docs/settings.md is out of date: run make docs"


def test_settings_page_gives_every_setting_its_default_as_written() -> None:
    page = PAGE.read_text()
    assert "| `AKS_REACH_MUTE_BY_TAG` | `false` |" in page
    assert (
        "| `AKS_REACH_TEAMS_WEBHOOK_HOSTS` | `*.logic.azure.com,*.api.powerplatform.com,*.webhook.office.com` |" in page
    )
    assert "| `AKS_REACH_SUBSCRIPTIONS` | empty |" in page
    assert "| `AKS_REACH_HELM_HISTORY_FAIL_REVISIONS` | `50` |" in page
    assert "| parameter `schedule` |" in page  # the deployed column, from infra/main.bicep


@dataclass(frozen=True)
class _Undescribed:
    # --- A group ---
    described: int = 1
    """the meaning"""
    bare: str = ""


@dataclass(frozen=True)
class _Ungrouped:
    first: int = 1
    """described, but before any group line"""


def test_a_setting_without_a_description_or_group_stops_the_page() -> None:
    assert attribute_docs(_Undescribed) == {"described": ("the meaning", "A group"), "bare": ("", "A group")}
    with pytest.raises(UndocumentedSetting, match=r"^AKS_REACH_BARE has no description"):
        app_settings(_Undescribed)
    with pytest.raises(UndocumentedSetting, match=r"^AKS_REACH_FIRST is in no group"):
        app_settings(_Ungrouped)


def test_template_sources_name_the_parameter_a_fixed_value_or_the_template() -> None:
    bicep = """param schedule string = '0 0 * * * *'
param readSecrets bool = false
var appSettings = {
  // a comment
  AKS_REACH_SCHEDULE: schedule
  AKS_REACH_READ_SECRETS: string(readSecrets)
  AKS_REACH_HTTP_ROLE: 'AksApiReach.Check'
  AKS_REACH_MUTE_LIST_BLOB: '${storage.outputs.configContainerUrl}/mute-list.yaml'
}
"""
    assert template_sources(bicep) == {
        "AKS_REACH_SCHEDULE": "parameter `schedule`",
        "AKS_REACH_READ_SECRETS": "parameter `readSecrets`",
        "AKS_REACH_HTTP_ROLE": "`AksApiReach.Check`",
        "AKS_REACH_MUTE_LIST_BLOB": "set by the template",
    }
