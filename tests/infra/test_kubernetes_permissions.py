"""The Kubernetes permissions infra/ grants are exactly the reads the collectors make (collect/live/kube.py
PERMISSIONS), named as Microsoft documents them; the ClusterRole YAML passes checkov; the built-in
"Azure Kubernetes Service RBAC Reader" would not do."""

from __future__ import annotations

import json

import yaml

from collect.live.kube import PERMISSIONS
from tests.emulator.server import AKS_RBAC_READER_DATA_ACTIONS
from tests.infra.templates import INFRA, parse
from tests.infra.test_checkov import checkov_report

ROLE = json.loads((INFRA / "roles" / "kubernetes-reader.json").read_text())
MANIFEST = INFRA / "kubernetes" / "aks-api-reach-reader.yaml"

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


def test_the_custom_role_grants_exactly_the_reads_the_collectors_make() -> None:
    granted = set(ROLE["dataActions"]) | set(ROLE["secretsDataActions"])
    assert granted == {permission.data_action for permission in PERMISSIONS.values()}
    assert ROLE["secretsDataActions"] == [PERMISSIONS["helm-secrets"].data_action]
    assert granted <= DOCUMENTED_OPERATIONS
    assert all(action.endswith("/read") for action in granted)  # reads only: no write, delete or exec


def test_the_built_in_rbac_reader_lacks_secrets_and_nodes() -> None:
    missing = {permission.data_action for permission in PERMISSIONS.values()} - set(AKS_RBAC_READER_DATA_ACTIONS)
    assert missing == {
        "Microsoft.ContainerService/managedClusters/secrets/read",
        "Microsoft.ContainerService/managedClusters/nodes/read",
    }


def test_both_role_templates_create_the_role_from_the_shared_file() -> None:
    for name in ("subscription.bicep", "management-group.bicep"):
        template = parse(INFRA / "roles" / name)
        role = template["resources"]["kubernetesReaderRole"]["config"]
        assert role["properties"]["type"] == "CustomRole"
        permissions = json.dumps(role["properties"]["permissions"])
        assert "secretsDataActions" in permissions and "readSecrets" in permissions
        assert template["parameters"]["readSecrets"]["default"] is True


def test_the_manifest_grants_exactly_the_reads_the_collectors_make() -> None:
    documents = list(yaml.safe_load_all(MANIFEST.read_text()))
    rules = set()
    for document in documents:
        if document["kind"] in ("ClusterRole", "Role"):
            namespace = document["metadata"].get("namespace")
            for rule in document["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        rules |= {(verb, resource, group, namespace) for verb in rule["verbs"]}
    wanted = {(p.verb, p.resource, p.api_group, p.namespace) for p in PERMISSIONS.values()}
    assert rules == wanted
    bindings = [d for d in documents if d["kind"] in ("ClusterRoleBinding", "RoleBinding")]
    assert {(b["kind"], b["roleRef"]["kind"]) for b in bindings} == {
        ("ClusterRoleBinding", "ClusterRole"),
        ("RoleBinding", "Role"),
    }
    assert all(
        b["subjects"]
        == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "${AKS_REACH_PRINCIPAL_ID}"}]
        for b in bindings
    )


def test_checkov_passes_the_manifest() -> None:
    report = checkov_report(["-f", str(MANIFEST)], "kubernetes")
    assert report["results"]["failed_checks"] == []
    assert report["summary"]["passed"] >= 5  # the roles were really scanned (wildcards, escalate, bind, ...)
