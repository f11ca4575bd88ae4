"""The Kubernetes permissions infra/ grants are exactly the reads the collectors make (collect/live/kube.py
PERMISSIONS), named as Microsoft documents them, Secrets apart; the RBAC manifests pass checkov; the built-in
"Azure Kubernetes Service RBAC Reader" would not do."""

from __future__ import annotations

import json

import yaml

from collect.live.kube import PERMISSIONS
from tests.emulator.server import AKS_RBAC_READER_DATA_ACTIONS
from tests.infra.templates import INFRA, parse
from tests.infra.test_checkov import checkov_report

ROLES = json.loads((INFRA / "roles" / "kubernetes-reader.json").read_text())
MANIFEST = INFRA / "kubernetes" / "aks-api-reach-reader.yaml"
SECRETS_MANIFEST = INFRA / "kubernetes" / "aks-api-reach-helm-secrets.yaml"

# Data actions of Microsoft.ContainerService/managedClusters for the resources the checks read, as the
# "Azure permissions for Containers" page lists them
# (https://learn.microsoft.com/azure/role-based-access-control/permissions/containers).
DOCUMENTED_OPERATIONS = {
    f"Microsoft.ContainerService/managedClusters/{name}"
    for name in (
        "pods/read",
        "pods/exec/action",
        "nodes/read",
        "metrics.k8s.io/nodes/read",
        "metrics.k8s.io/pods/read",
        "events/read",
        "events.k8s.io/events/read",
        "secrets/read",
        "configmaps/read",
        "namespaces/read",
    )
}


def test_the_custom_roles_grant_exactly_the_reads_the_collectors_make() -> None:
    granted = {action for role in ("kubeSystem", "nodes", "secrets") for action in ROLES[role]["dataActions"]}
    assert granted == {permission.data_action for permission in PERMISSIONS.values()}
    assert ROLES["secrets"]["dataActions"] == [PERMISSIONS["helm-secrets"].data_action]
    assert granted <= DOCUMENTED_OPERATIONS
    assert all(action.endswith("/read") for action in granted)  # reads only: no write, delete or exec


def test_the_built_in_rbac_reader_lacks_secrets_and_nodes() -> None:
    missing = {permission.data_action for permission in PERMISSIONS.values()} - set(AKS_RBAC_READER_DATA_ACTIONS)
    assert missing == {
        "Microsoft.ContainerService/managedClusters/secrets/read",
        "Microsoft.ContainerService/managedClusters/nodes/read",
    }


def test_both_role_templates_create_the_roles_from_the_shared_files() -> None:
    for name in ("subscription.bicep", "management-group.bicep"):
        template = parse(INFRA / "roles" / name)
        role = template["resources"]["customRoles"]["config"]["config"]
        assert role["properties"]["type"] == "CustomRole"
        definitions = json.dumps(template["variables"]["definitions"])
        for key in ("kubeSystem", "nodes", "secrets"):
            assert f'"operand_1": "{key}"' in definitions, (name, key)  # kubernetes.<key>.dataActions
        assert template["parameters"]["readSecrets"]["default"] is False


def rbac_rules(path) -> tuple[set[tuple[str, str, str, str | None]], list[dict]]:
    """(verb, resource, API group, namespace) of every rule of the manifest's Roles, and its bindings."""
    documents = list(yaml.safe_load_all(path.read_text()))
    rules = set()
    for document in documents:
        if document["kind"] in ("ClusterRole", "Role"):
            namespace = document["metadata"].get("namespace")
            for rule in document["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        rules |= {(verb, resource, group, namespace) for verb in rule["verbs"]}
    return rules, [d for d in documents if d["kind"] in ("ClusterRoleBinding", "RoleBinding")]


def test_the_manifests_grant_exactly_the_reads_the_collectors_make() -> None:
    rules, bindings = rbac_rules(MANIFEST)
    secret_rules, secret_bindings = rbac_rules(SECRETS_MANIFEST)
    wanted = {(p.verb, p.resource, p.api_group, p.namespace) for key, p in PERMISSIONS.items() if key != "helm-secrets"}
    assert rules == wanted  # Secrets are not in the main manifest
    secrets = PERMISSIONS["helm-secrets"]
    assert secret_rules == {(secrets.verb, secrets.resource, secrets.api_group, secrets.namespace)}
    # the namespaced reads sit in a Role of kube-system; the ClusterRole holds cluster-scoped resources only
    assert {namespace for *_, namespace in rules} == {"kube-system", None}
    assert {resource for _, resource, _, namespace in rules if namespace is None} == {"nodes"}
    assert {(b["kind"], b["roleRef"]["kind"]) for b in bindings} == {
        ("ClusterRoleBinding", "ClusterRole"),
        ("RoleBinding", "Role"),
    }
    assert all(
        b["subjects"]
        == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "${AKS_REACH_PRINCIPAL_ID}"}]
        for b in bindings + secret_bindings
    )


def test_checkov_passes_the_manifests() -> None:
    for path in (MANIFEST, SECRETS_MANIFEST):
        report = checkov_report(["-f", str(path)], "kubernetes")
        assert report["results"]["failed_checks"] == [], path.name
        assert report["summary"]["passed"] >= 5  # the roles were really scanned (wildcards, escalate, bind, ...)
