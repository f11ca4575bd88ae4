"""What the templates grant the sweep identity, and where: Secrets not by default, kube-system reads at namespace
scope, the AKS audit tables only, no Reader log reads; and how the platform's own resources are closed and audited:
private endpoints with a subnet, diagnostic settings, a read-only mute list, Easy Auth by default."""

from __future__ import annotations

import json
from typing import Any

from collect.live.kube import PERMISSIONS
from tests.infra.templates import INFRA, MAIN, parse

ROLES = INFRA / "roles"
MODULES = INFRA / "modules"
KUBERNETES = json.loads((ROLES / "kubernetes-reader.json").read_text())
AUDIT_LOGS = json.loads((ROLES / "log-analytics-reader.json").read_text())
RESOURCE_READER = json.loads((ROLES / "resource-reader.json").read_text())
BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
# The tables collect/queries/apiserver-requests.kql reads.
AUDIT_TABLES = ("AKSAudit", "AzureDiagnostics")


def conditional(value: Any) -> dict[str, Any]:
    """pycep's form of `condition ? true_value : false_value`."""
    assert isinstance(value, dict) and value["operator"]["type"] == "conditional", value
    return value["operator"]["operands"]


def resource(path, name: str) -> dict[str, Any]:
    config = parse(path)["resources"][name]["config"]
    return config["config"] if "loop_type" in config or "condition" in config else config


def test_secrets_are_not_read_by_default() -> None:
    assert parse(MAIN)["parameters"]["readSecrets"]["default"] is False
    for template in ("subscription.bicep", "management-group.bicep"):
        assert parse(ROLES / template)["parameters"]["readSecrets"]["default"] is False
    # the Secrets role goes to access.bicep only with readSecrets, and cluster-access assigns it only when given
    secrets = conditional(parse(ROLES / "subscription.bicep")["modules"]["access"]["config"]["params"]["secretsRoleId"])
    assert secrets["condition"] == "readSecrets" and secrets["false_value"] == ""
    lister = parse(ROLES / "cluster-access.bicep")["resources"]["secretsLister"]["config"]
    assert lister["condition"]["operator"]["type"] == "not"
    assert json.dumps(lister["condition"]).count("secretsRoleId") == 1
    # no other role carries secrets/read
    assert KUBERNETES["secrets"]["dataActions"] == [PERMISSIONS["helm-secrets"].data_action]
    for role in ("kubeSystem", "nodes"):
        assert not any("secrets" in action for action in KUBERNETES[role]["dataActions"])


def test_kube_system_reads_are_assigned_at_namespace_scope() -> None:
    template = parse(ROLES / "cluster-access.bicep")
    namespace = template["resources"]["kubeSystem"]
    assert namespace["type"] == "Microsoft.ContainerService/managedClusters/namespaces" and namespace["existing"]
    assert namespace["config"] == {"parent": "cluster", "name": "kube-system"}
    reader = resource(ROLES / "cluster-access.bicep", "kubeSystemReader")
    assert reader["scope"] == "kubeSystem" and reader["properties"]["roleDefinitionId"] == "kubeSystemRoleId"
    # the namespaced reads the collectors make are all in kube-system, and are exactly that role's
    namespaced = {p.data_action for p in PERMISSIONS.values() if p.namespace is not None}
    assert {p.namespace for p in PERMISSIONS.values() if p.namespace is not None} == {"kube-system"}
    assert set(KUBERNETES["kubeSystem"]["dataActions"]) == namespaced
    # the cluster-scoped rest: nodes and node metrics (Secrets apart), nothing else, at cluster scope
    cluster_scoped = {p.data_action for key, p in PERMISSIONS.items() if p.namespace is None and key != "helm-secrets"}
    assert set(KUBERNETES["nodes"]["dataActions"]) == cluster_scoped
    for name in ("nodeReader", "secretsLister", "clusterUser", "auditLogReader"):
        assert resource(ROLES / "cluster-access.bicep", name)["scope"] == "cluster", name


def test_cluster_user_role_is_granted_per_named_cluster_only() -> None:
    roles = json.loads((ROLES / "sweep-roles.json").read_text())
    assert set(roles) == {"$comment", "clusterUser"}  # nothing built-in at subscription or management group scope
    user = resource(ROLES / "cluster-access.bicep", "clusterUser")
    assert user["scope"] == "cluster"
    assert roles["clusterUser"][0]["id"] in json.dumps(parse(ROLES / "cluster-access.bicep")["variables"])
    for template in ("subscription.bicep", "management-group.bicep"):
        assert "4abbcc35-e782-43d8-92c5-2d3f1bd2253f" not in (ROLES / template).read_text()
    access = parse(ROLES / "access.bicep")["modules"]["clusters"]["config"]
    assert access["loop_type"]["detail"]["array_name"] == "clusterIds"


def test_log_analytics_role_grants_the_audit_tables_the_query_reads_and_nothing_else() -> None:
    query = (INFRA.parent / "collect" / "queries" / "apiserver-requests.kql").read_text()
    assert all(table in query for table in AUDIT_TABLES)
    # learn.microsoft.com/azure/azure-monitor/logs/manage-table-access (legacy method) and resource-context queries
    assert AUDIT_LOGS["actions"] == [
        "Microsoft.OperationalInsights/workspaces/read",
        "Microsoft.OperationalInsights/workspaces/query/read",
        "Microsoft.OperationalInsights/workspaces/query/AKSAudit/read",
        "Microsoft.Insights/logs/AKSAudit/read",
    ]
    assert AUDIT_LOGS["legacyActions"] == [
        "Microsoft.OperationalInsights/workspaces/query/AzureDiagnostics/read",
        "Microsoft.Insights/logs/AzureDiagnostics/read",
    ]
    assert not any("*" in action for action in AUDIT_LOGS["actions"] + AUDIT_LOGS["legacyActions"])
    # assigned on the named workspaces, not on a subscription
    assignment = resource(ROLES / "workspace-access.bicep", "auditLogReader")
    assert assignment["scope"] == "workspace"
    assert parse(ROLES / "workspace-access.bicep")["resources"]["workspace"]["type"] == (
        "Microsoft.OperationalInsights/workspaces"
    )
    assert "73c42c96-874c-492b-b04d-ab87d138a893" not in "".join(p.read_text() for p in ROLES.iterdir())


def test_the_resource_reader_is_reader_without_log_and_telemetry_data() -> None:
    assert RESOURCE_READER["actions"] == ["*/read"]
    assert set(RESOURCE_READER["notActions"]) == {
        "Microsoft.OperationalInsights/workspaces/query/*",  # every table of every workspace (workspace context)
        "Microsoft.Insights/logs/*",  # every resource's logs (resource context)
        "Microsoft.Insights/components/query/read",  # every Application Insights component's telemetry
    }
    for template in ("subscription.bicep", "management-group.bicep"):
        definitions = parse(ROLES / template)["variables"]["definitions"]["value"]
        assert definitions[0]["notActions"] == {
            "operator": {
                "type": "property_accessor",
                "operands": {"operand_1": "resourceReader", "operand_2": "notActions"},
            }
        }, template
        assignment = resource(ROLES / template, "resourceReaderAssignment")
        assert "customRoles" in json.dumps(assignment["properties"]["roleDefinitionId"])
    assert "acdd72a7-3385-48ef-bd42-f606fba81ae7" not in "".join(p.read_text() for p in ROLES.iterdir())


def test_storage_and_key_vault_close_their_public_endpoints_given_a_subnet() -> None:
    account = resource(MODULES / "storage.bicep", "account")["properties"]
    assert conditional(account["publicNetworkAccess"]) == {
        "condition": "isolated",
        "true_value": "Disabled",
        "false_value": "Enabled",
    }
    assert conditional(account["networkAcls"]["defaultAction"])["true_value"] == "Deny"
    vault = resource(MODULES / "keyvault.bicep", "vault")["properties"]
    assert conditional(vault["publicNetworkAccess"])["true_value"] == "Disabled"
    for path in (MODULES / "storage.bicep", MODULES / "keyvault.bicep"):
        assert parse(path)["variables"]["isolated"]["value"] == {
            "operator": {
                "type": "not",
                "operands": {
                    "bool_value": {
                        "function": {"type": "empty", "parameters": {"item_to_test": "privateEndpointSubnetId"}}
                    }
                },
            }
        }
    # the endpoints: blob, queue, table, vault and the site, each registered in its privatelink zone
    storage_endpoints = parse(MODULES / "storage.bicep")["variables"]["endpointServices"]["value"]
    assert conditional(storage_endpoints)["true_value"] == ["blob", "queue", "table"]
    main = parse(MAIN)
    zones = main["variables"]["privateZoneNames"]["value"]
    assert len(zones) == 5 and all(zone.startswith("privatelink") for zone in zones[:3] + zones[4:])
    assert "privatelink.vaultcore." in json.dumps(main["variables"]["vaultZoneName"])
    assert main["modules"]["privateZones"]["config"]["condition"] == "isolated"
    for module in ("storage", "vault", "app"):
        assert main["modules"][module]["config"]["params"]["privateEndpointSubnetId"] == "privateEndpointSubnetId"
    endpoint = parse(MODULES / "private-endpoint.bicep")["resources"]
    assert set(endpoint) == {"endpoint", "zoneGroup"}


def test_diagnostic_settings_audit_storage_and_key_vault() -> None:
    storage = parse(MODULES / "storage.bicep")
    scopes = set()
    for name in ("blobDiagnostics", "queueDiagnostics", "tableDiagnostics"):
        setting = storage["resources"][name]
        assert setting["type"] == "Microsoft.Insights/diagnosticSettings"
        scopes.add(setting["config"]["scope"])
        assert setting["config"]["properties"]["logs"] == "auditCategories"
        assert setting["config"]["properties"]["workspaceId"] == "diagnosticsWorkspaceId"
    assert scopes == {"blobService", "queueService", "tableService"}
    categories = {entry["category"] for entry in storage["variables"]["auditCategories"]["value"]}
    assert categories == {"StorageRead", "StorageWrite", "StorageDelete"}
    vault = parse(MODULES / "keyvault.bicep")["resources"]["diagnostics"]["config"]
    assert vault["scope"] == "vault"
    assert vault["properties"]["logs"] == [{"categoryGroup": "audit", "enabled": True}]
    for module in ("storage", "vault"):
        assert parse(MAIN)["modules"][module]["config"]["params"]["diagnosticsWorkspaceId"] == "auditWorkspaceId"


def test_the_identity_can_only_read_the_mute_list_and_owns_no_blob() -> None:
    storage = parse(MODULES / "storage.bicep")
    reader = resource(MODULES / "storage.bicep", "muteListReader")
    assert reader["scope"] == "configContainer"
    assert storage["variables"]["blobDataReader"]["value"] == BLOB_DATA_READER
    assert reader["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"] == "blobDataReader"
    # the host's blob role is on its own containers, never the account (which holds the mute list)
    host = resource(MODULES / "storage.bicep", "hostBlobContributor")
    assert host["scope"] == {
        "operator": {"type": "index_accessor", "operands": {"operand_1": "hostContainers", "operand_2": "i"}}
    }
    assert storage["variables"]["blobDataContributor"]["value"] == BLOB_DATA_CONTRIBUTOR
    assert "configContainerName" not in json.dumps(storage["variables"]["hostContainerNames"])
    assert BLOB_DATA_OWNER not in (MODULES / "storage.bicep").read_text()
    blob_service = resource(MODULES / "storage.bicep", "blobService")["properties"]
    assert blob_service["isVersioningEnabled"] is True


def test_the_http_check_is_behind_entra_id_by_default() -> None:
    main = parse(MAIN)
    assert main["parameters"]["httpAuth"]["default"] == "entra"
    assert main["modules"]["app"]["config"]["params"]["httpAuth"] == "httpAuth"
    auth = parse(MODULES / "function-app.bicep")["resources"]["authentication"]
    assert auth["type"] == "Microsoft.Web/sites/config" and auth["config"]["name"] == "authsettingsV2"
    properties = auth["config"]["properties"]
    assert properties["platform"]["enabled"] == {
        "operator": {"type": "equals", "operands": {"operand_1": "httpAuth", "operand_2": "entra"}}
    }
    assert properties["globalValidation"]["requireAuthentication"] is True
    assert properties["globalValidation"]["unauthenticatedClientAction"] == "Return401"
    # Event Grid presents its system key, not a token: the one path left to the key
    assert properties["globalValidation"]["excludedPaths"] == ["/runtime/webhooks/eventgrid"]
    entra = properties["identityProviders"]["azureActiveDirectory"]
    assert entra["registration"]["clientId"] == "httpAuthClientId"
    assert "api://${httpAuthClientId}" in entra["validation"]["allowedAudiences"]
    site = resource(MODULES / "function-app.bicep", "site")["properties"]["siteConfig"]
    assert conditional(site["ipSecurityRestrictionsDefaultAction"])["false_value"] == "Deny"
