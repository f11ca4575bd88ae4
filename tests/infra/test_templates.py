"""The Bicep parses; its parameters and outputs are the ones docs/deployment.md names; the app settings it sets
are the settings the code reads; the identity gets read-only roles only, each with its reason
(test_least_privilege.py says which, and where)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from sweep.core.settings import Settings, env_name
from tests.infra.templates import DEPLOYMENT_PAGE, INFRA, MAIN, bicep_files, parse, table_names

SETTING_FIELDS = {field.name: field for field in dataclasses.fields(Settings)}

# Settings fields the Function app needs in Azure (the rest keep their defaults).
FUNCTION_APP_FIELDS = (
    "schedule",
    "read_secrets",
    "queue",
    "state_table",
    "subscriptions",
    "management_group",
    "owner_tag",
    "teams_webhooks",
    "teams_default_webhook",
    "app_insights_connection",
    "storage_queue_uri",
    "storage_table_uri",
)

# App settings the template sets that are not Settings fields, and who reads each.
HOST_SETTINGS = {
    # Functions host: identity-based AzureWebJobsStorage connection, with this user-assigned identity
    "AzureWebJobsStorage__credential": "Functions host",
    "AzureWebJobsStorage__clientId": "Functions host",
    # Functions host: timer schedule status and singleton leases live in blobs
    "AzureWebJobsStorage__blobServiceUri": "Functions host",
    # azure-identity's DefaultAzureCredential (every SDK client of the sweep): which managed identity
    "AZURE_CLIENT_ID": "azure-identity",
    # azure-monitor-opentelemetry exporter and the Functions host: Entra-authenticated telemetry
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "azure-monitor-opentelemetry, Functions host",
    # Python language worker: threads for sync invocations, as many as host.json's messages at once
    "PYTHON_THREADPOOL_THREAD_COUNT": "Python worker",
}

# Never set on Flex Consumption: runtime and time zone are not app settings there, and a storage
# connection string would carry the account key.
FORBIDDEN_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "WEBSITE_TIME_ZONE",
    "AzureWebJobsStorage",
    "FUNCTIONS_EXTENSION_VERSION",
}

# Built-in role definition ids (learn.microsoft.com "Azure built-in roles"). Reads of resources, Kubernetes and
# audit logs are custom roles (infra/roles/*.json).
SWEEP_ROLES = {
    "Azure Kubernetes Service Cluster User Role": "4abbcc35-e782-43d8-92c5-2d3f1bd2253f",
}
RESOURCE_ROLES = {
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}
GUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)


def app_settings() -> dict:
    return parse(MAIN)["variables"]["appSettings"]["value"]


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: path.relative_to(INFRA).as_posix())
def test_every_bicep_file_parses(path) -> None:
    template = parse(path)
    assert template.get("resources") or template.get("modules"), f"{path.name} declares nothing"
    for name, parameter in template["parameters"].items():
        assert any(d["type"] == "description" for d in parameter["decorators"]) or path.parent.name == "modules", (
            f"{path.name}: parameter {name} has no @description"
        )


def test_main_and_role_template_scopes() -> None:
    assert parse(MAIN)["globals"]["scope"]["value"] == "subscription"
    assert parse(INFRA / "roles" / "subscription.bicep")["globals"]["scope"]["value"] == "subscription"
    assert parse(INFRA / "roles" / "management-group.bicep")["globals"]["scope"]["value"] == "managementGroup"


def test_deployment_page_names_exactly_the_parameters_and_outputs() -> None:
    section = DEPLOYMENT_PAGE.read_text()
    main = parse(MAIN)
    assert set(table_names(section, "Parameters")) == set(main["parameters"])
    assert set(table_names(section, "Outputs")) == set(main["outputs"])
    role_parameters = set(parse(INFRA / "roles" / "management-group.bicep")["parameters"])
    assert role_parameters <= set(parse(INFRA / "roles" / "subscription.bicep")["parameters"])
    for name in role_parameters | {"clusterIds", "auditWorkspaceIds"}:
        assert f"{name}=" in section or f"`{name}`" in section, f"docs/deployment.md does not show {name}"
    for command in ("azd up", "az deployment sub create", "az deployment mg create", "privatelink."):
        assert command in section


def test_app_settings_are_the_settings_the_code_reads() -> None:
    names = set(app_settings())
    code_names = {env_name(field) for name, field in SETTING_FIELDS.items() if name != "limits"}
    unused = names - code_names - set(HOST_SETTINGS)
    assert not unused, f"set by the template but read by nobody: {sorted(unused)}"
    missing = {env_name(SETTING_FIELDS[name]) for name in FUNCTION_APP_FIELDS} - names
    assert not missing, f"the Function app needs these settings: {sorted(missing)}"
    assert set(HOST_SETTINGS) <= names, "HOST_SETTINGS lists a setting the template no longer sets"
    assert not names & FORBIDDEN_SETTINGS


def test_app_settings_use_the_identity_and_key_vault() -> None:
    settings = app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    for name in ("AKS_REACH_TEAMS_WEBHOOKS", "AKS_REACH_TEAMS_DEFAULT_WEBHOOK"):
        assert "@Microsoft.KeyVault(SecretUri=${vault.outputs." in json.dumps(settings[name]), name
    assert "Authorization=AAD" in settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    assert parse(MAIN)["modules"]["app"]["config"]["params"]["appSettings"] == "appSettings"


def test_template_parameter_defaults_match_the_code_defaults() -> None:
    parameters = parse(MAIN)["parameters"]
    defaults = Settings()
    checked = 0
    for setting, value in app_settings().items():
        if isinstance(value, str) and value in parameters:  # the setting is a parameter of main.bicep
            field = next(field for field in SETTING_FIELDS.values() if env_name(field) == setting)
            code_default = getattr(defaults, field.name)
            code_default = ",".join(code_default) if isinstance(code_default, tuple) else str(code_default)
            assert parameters[value]["default"] == code_default, f"{value} vs {setting}"
            checked += 1
    assert checked >= 6


def test_function_app_is_flex_consumption_python_311_with_the_user_assigned_identity() -> None:
    template = parse(INFRA / "modules" / "function-app.bicep")
    plan = template["resources"]["plan"]["config"]
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    site = template["resources"]["site"]["config"]
    assert site["identity"]["type"] == "UserAssigned"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert site["properties"]["keyVaultReferenceIdentity"] == "identityId"


def test_storage_takes_no_keys() -> None:
    account = parse(INFRA / "modules" / "storage.bicep")["resources"]["account"]["config"]["properties"]
    assert account["allowSharedKeyAccess"] is False and account["allowBlobPublicAccess"] is False


def test_sweep_roles_are_the_read_only_built_in_ones() -> None:
    roles = json.loads((INFRA / "roles" / "sweep-roles.json").read_text())
    granted = {role["name"]: role["id"] for role in roles["clusterUser"]}
    assert granted == SWEEP_ROLES
    assert all(len(role["why"]) > 20 for role in roles["clusterUser"])


def test_no_other_role_is_granted_anywhere() -> None:
    allowed = set(SWEEP_ROLES.values()) | set(RESOURCE_ROLES.values())
    for path in [*bicep_files(), *(INFRA / "roles").glob("*.json")]:
        text = path.read_text()
        assert set(GUID.findall(text)) <= allowed, path
        # the admin kubeconfig is never asked for; the one mention says so
        assert "listClusterAdminCredential" not in text.replace("never listClusterAdminCredential", ""), path


def test_every_role_assignment_says_why() -> None:
    count = 0
    for path in bicep_files():
        lines = path.read_text().splitlines()
        for index, line in enumerate(lines):
            if "'Microsoft.Authorization/roleAssignments@" in line:
                before = [text.strip() for text in lines[:index] if text.strip()]
                assert before[-1].startswith("//"), f"{path.name}:{index + 1}: no comment saying why"
                count += 1
        for name, resource in parse(path).get("resources", {}).items():
            if resource["type"] == "Microsoft.Authorization/roleAssignments":
                config = resource["config"]
                properties = (config["config"] if "loop_type" in config or "condition" in config else config)[
                    "properties"
                ]
                assert properties["description"], f"{path.name}: {name} has no description"
                assert properties["principalType"] == "ServicePrincipal"
    # storage 4 (host containers, mute list, queues, tables), Key Vault, App Insights, the Resource Reader in each
    # role template, 5 per named cluster (kube-system, nodes, Secrets, audit rows, kubeconfig), 1 per workspace
    assert count == 14


def test_the_python_worker_has_a_thread_for_every_message_an_instance_takes() -> None:
    queues = json.loads((INFRA.parent / "host.json").read_text())["extensions"]["queues"]
    at_once = queues["batchSize"] + queues["newBatchThreshold"]  # what the host hands one instance at most
    assert int(app_settings()["PYTHON_THREADPOOL_THREAD_COUNT"]) >= at_once
