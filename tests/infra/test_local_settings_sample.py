"""local.settings.sample.json lists exactly the settings the code reads, with their defaults."""

from __future__ import annotations

import dataclasses
import json

from sweep.core.settings import Settings, all_limit_settings, env_name
from tests.infra.templates import REPO

SAMPLE = REPO / "local.settings.sample.json"
# Read by the Functions host and Core Tools locally, not by sweep/core/settings.py (Flex Consumption in
# Azure takes the runtime from functionAppConfig instead).
LOCAL_HOST_SETTINGS = {"FUNCTIONS_WORKER_RUNTIME": "python"}


def sample_values() -> dict[str, str]:
    document = json.loads(SAMPLE.read_text())
    assert document["IsEncrypted"] is False
    return document["Values"]


def test_sample_lists_exactly_the_settings_the_code_reads() -> None:
    fields = {env_name(field): field for field in dataclasses.fields(Settings) if field.name != "limits"}
    expected = set(fields) | set(all_limit_settings()) | set(LOCAL_HOST_SETTINGS)
    assert set(sample_values()) == expected
    assert all(isinstance(value, str) for value in sample_values().values())


def test_sample_values_are_the_defaults_and_local_storage() -> None:
    values = sample_values()
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    for name, default in all_limit_settings().items():
        assert values[name] == str(default), name
    # read through the real loader: everything but the local storage connection is the default
    loaded, default = Settings.from_env(values), Settings.from_env({})
    for field in dataclasses.fields(Settings):
        if field.name not in ("limits", "storage_connection"):
            assert getattr(loaded, field.name) == getattr(default, field.name), field.name
    for check_id, limits in default.limits.items():
        if dataclasses.is_dataclass(limits):  # checks without thresholds have no limits to compare
            assert loaded.limits[check_id] == limits, check_id
    assert loaded.storage_connection == "UseDevelopmentStorage=true"


def test_sample_holds_no_secret() -> None:
    values = sample_values()
    assert values["AKS_REACH_TEAMS_WEBHOOKS"] == "" and values["AKS_REACH_TEAMS_DEFAULT_WEBHOOK"] == ""
    assert values["APPLICATIONINSIGHTS_CONNECTION_STRING"] == ""
