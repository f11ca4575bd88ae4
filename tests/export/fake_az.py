"""A stand-in for the Azure CLI on PATH, for examples/export-snapshot.sh: answers the read commands the script
runs from a JSON "cloud" file (FAKE_CLOUD), as `az` prints them: typed `show` output flattened (camelCase,
no `properties`), `az resource show` with `properties`. A subscription listed as forbidden answers like ARM
does to an identity without Reader there; a command it does not know fails loudly (the test sees it)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

TYPED = {
    ("aks", "show"),
    ("network", "vnet", "show"),
    ("network", "nsg", "show"),
    ("network", "route-table", "show"),
    ("network", "firewall", "show"),
    ("network", "public-ip", "show"),
    ("network", "nat", "gateway", "show"),
    ("network", "private-dns", "zone", "show"),
    ("network", "vhub", "show"),
}
HUB_CHILDREN = {
    ("network", "vhub", "connection", "list"): "hubVirtualNetworkConnections",
    ("network", "vhub", "routing-intent", "list"): "routingIntent",
}


def flattened(value: Any) -> Any:
    if isinstance(value, list):
        return [flattened(item) for item in value]
    if not isinstance(value, dict):
        return value
    flat = {az_name(key): flattened(item) for key, item in value.items() if key != "properties"}
    if isinstance(value.get("properties"), dict):
        flat.update(flattened(value["properties"]))
    return flat


AZ_SPELLING = (("IPAddress", "IpAddress"), ("DNSZone", "DnsZone"), ("FQDN", "Fqdn"))


def az_name(key: str) -> str:
    """az prints SDK attribute names camel-cased: the wire's `vnetSubnetID`, `privateIPAddress`,
    `privateDNSZone` are `vnetSubnetId`, `privateIpAddress`, `privateDnsZone`."""
    key = key[:-2] + "Id" if key.endswith("ID") else key
    for wire, az in AZ_SPELLING:
        key = key.replace(wire, az)
    return key


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def fail(message: str, status: int = 1) -> None:
    sys.stderr.write(f"ERROR: {message}\n")
    sys.exit(status)


def find(cloud: dict[str, Any], resource_id: str) -> dict[str, Any]:
    subscription = resource_id.split("/")[2].lower()
    if subscription in (s.lower() for s in cloud.get("forbidden_subscriptions", [])):
        fail(
            "(AuthorizationFailed) The client 'operator@contoso.com' with object id "
            "'00000000-0000-0000-0000-00000000abcd' does not have authorization to perform action "
            f"'read' over scope '{resource_id}' or the scope is invalid."
        )
    for resource in cloud["resources"]:
        if str(resource.get("id", "")).lower() == resource_id.lower():
            return resource
    fail(f"(ResourceNotFound) The Resource '{resource_id}' was not found.", 3)
    raise AssertionError


def main(args: list[str]) -> None:
    cloud = json.loads(Path(os.environ["FAKE_CLOUD"]).read_text())
    with Path(os.environ["FAKE_CLOUD"] + ".calls").open("a") as calls:
        calls.write(json.dumps(args) + "\n")
    words = tuple(arg for arg in args[: next((i for i, a in enumerate(args) if a.startswith("-")), len(args))])
    if words in TYPED:
        print(json.dumps(flattened(find(cloud, option(args, "--ids")))))
    elif words == ("resource", "show"):
        print(json.dumps(find(cloud, option(args, "--ids"))))
    elif words == ("aks", "get-credentials"):
        find(cloud, option(args, "--ids"))
        Path(option(args, "--file")).write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    elif words in (("network", "private-dns", "zone", "list"), ("network", "vnet", "list")):
        kind = "privatednszones" if "private-dns" in words else "virtualnetworks"
        group = option(args, "-g").lower()
        found = [
            r
            for r in cloud["resources"]
            if f"/resourcegroups/{group}/providers/microsoft.network/{kind}/" in r["id"].lower()
        ]
        print(json.dumps([flattened(r) for r in found if r["id"].lower().count("/") == 8]))
    elif words == ("network", "private-dns", "link", "vnet", "list"):
        zone = f"/privateDnsZones/{option(args, '-z')}/virtualNetworkLinks/".lower()
        print(json.dumps([flattened(r) for r in cloud["resources"] if zone in r["id"].lower()]))
    elif words == ("network", "vhub", "list"):
        name = option(args, "--query").split("'")[1]  # [?name=='<hub>']
        hubs = [r for r in cloud["resources"] if r["id"].lower().count("/") == 8 and "/virtualhubs/" in r["id"].lower()]
        print(json.dumps([flattened(r) for r in hubs if r["id"].rsplit("/", 1)[1] == name]))
    elif words in HUB_CHILDREN:
        hub = f"/resourceGroups/{option(args, '-g')}/providers/Microsoft.Network/virtualHubs/{option(args, '--vhub-name')}"
        find(cloud, next(r["id"] for r in cloud["resources"] if r["id"].lower().endswith(hub.lower())))
        children = f"{hub}/{HUB_CHILDREN[words]}/".lower()
        print(json.dumps([flattened(r) for r in cloud["resources"] if children in r["id"].lower()]))
    elif words == ("network", "list-service-tags"):
        print(json.dumps(cloud["service_tags"]))
    elif words == ("monitor", "log-analytics", "query"):
        assert "| where _ResourceId =~" in option(args, "--analytics-query")
        print(json.dumps(cloud["logs"]))
    else:
        fail(f"fake az does not know: az {' '.join(args)}", 2)


if __name__ == "__main__":
    main(sys.argv[1:])
