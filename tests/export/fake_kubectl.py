"""A stand-in for kubectl on PATH, for examples/export-snapshot.sh: answers the reads the script makes from a
JSON file of Kubernetes objects (FAKE_KUBE), and fails as kubectl does when a listing is Forbidden, when
metrics-server is not installed, or when the API server cannot be reached."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

FORBIDDEN = (
    'Error from server (Forbidden): {resource} is forbidden: User "operator@contoso.com" cannot list resource '
    '"{resource}" in API group "" at the cluster scope: User does not have access to the resource in Azure. '
    "Update role assignment to allow access."
)


def fail(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.exit(1)


def listing(items: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}})


def custom_columns(spec: str, found: list[dict[str, Any]], headers: bool) -> str:
    """kubectl's `-o custom-columns=NAME:.path,...`: one row per object, `<none>` for a missing field, columns
    padded to their widest cell and three spaces apart."""
    columns = [column.split(":", 1) for column in spec.split(",")]
    rows = [[name for name, _ in columns]] if headers else []
    for obj in found:
        row = []
        for _, path in columns:
            value: Any = obj
            for key in path.lstrip(".").split("."):
                value = value.get(key) if isinstance(value, dict) else None
            row.append("<none>" if value is None else str(value))
        rows.append(row)
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(len(columns))]
    return "".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n" for row in rows
    )


def main(args: list[str]) -> None:
    state = json.loads(Path(os.environ["FAKE_KUBE"]).read_text())
    for flag in ("--kubeconfig", "--request-timeout"):
        if flag in args:
            index = args.index(flag)
            del args[index : index + 2]
    with Path(os.environ["FAKE_KUBE"] + ".calls").open("a") as calls:
        calls.write(json.dumps(args) + "\n")
    if not state.get("reachable", True):
        fail("Unable to connect to the server: dial tcp 10.228.0.4:443: i/o timeout")
    objects: list[dict[str, Any]] = state["objects"]
    if args[:2] == ["get", "--raw"]:
        if args[2] == "/readyz":
            print("ok")
        elif args[2] == "/apis/metrics.k8s.io/v1beta1/nodes" and state.get("metrics", True):
            metrics = [o for o in objects if o["kind"] == "NodeMetrics"]
            print(json.dumps({"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "items": metrics}))
        else:
            fail("Error from server (NotFound): the server could not find the requested resource")
        return
    if args[0] == "logs":
        print(state["logs"].get(args[args.index("-n") + 2], ""), end="")  # a quiet pod logs nothing
        return
    resource = args[1]
    if resource in state.get("forbidden", []):
        fail(FORBIDDEN.format(resource=resource))
    kind = {"pods": "Pod", "nodes": "Node", "events": "Event", "secrets": "Secret", "configmaps": "ConfigMap"}[resource]
    namespace = args[args.index("-n") + 1] if "-n" in args else None
    label = args[args.index("-l") + 1].split("=") if "-l" in args else None
    found = [
        o
        for o in objects
        if o["kind"] == kind
        and (namespace is None or o["metadata"].get("namespace") == namespace)
        and (label is None or (o["metadata"].get("labels") or {}).get(label[0]) == label[1])
    ]
    output = args[args.index("-o") + 1] if "-o" in args else ""
    if output.startswith("custom-columns="):
        if not found:
            sys.stderr.write("No resources found\n")
        print(custom_columns(output.removeprefix("custom-columns="), found, "--no-headers" not in args), end="")
        return
    print(listing(found))


if __name__ == "__main__":
    main(sys.argv[1:])
