#!/usr/bin/env bash
# Export one AKS cluster into the snapshot folder format (docs/snapshot.md), with read-only commands only:
#   examples/export-snapshot.sh <cluster resource id> <output dir> [<Log Analytics workspace id>]
# then: python -m sweep --snapshot <output dir>
# Needs: az (logged in; Reader on the cluster's subscription and on the hub's, wherever it is), kubectl
# with the cluster's user credentials (never --admin), jq.
# Secret values never leave the cluster: Helm release secrets are exported as metadata only.
# A source that cannot be exported (no permission, no metrics-server, API server not reachable from
# here) is named in problems.json with the command's own error, never left as an empty file, and the
# export goes on: no failing step stops it.
set -uo pipefail

usage() {
  echo "usage: $0 <cluster resource id> <output dir> [<Log Analytics workspace id>]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cluster_id=$1
out=$2
workspace=${3:-}
case "$cluster_id" in
  /subscriptions/*/resourceGroups/*/providers/Microsoft.ContainerService/managedClusters/*) ;;
  *) echo "error: '$cluster_id' is not an AKS cluster resource id" >&2; exit 2 ;;
esac
for tool in az kubectl jq; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
rm -f "$out/problems.json"
echo '{}' > "$work/problems.json"
: > "$work/exported"

# problem SOURCE KIND MESSAGE: why SOURCE (network, kube:pods, ...) is missing or incomplete. Messages of
# one source are joined; `error` (collection failed) wins over `unavailable` (could not be collected here).
problem() {
  jq --arg s "$1" --arg k "$2" --arg m "$3" '
    if .[$s] then .[$s].message += "; " + $m | (if $k == "error" then .[$s].kind = "error" else . end)
    else .[$s] = {kind: $k, message: $m} end' "$work/problems.json" > "$work/problems.next" \
    && mv "$work/problems.next" "$work/problems.json"
}

# unreadable ID WHY: a reference that could not be read, named by the checks that needed it
# (problems.json "unreadableReferences", as a live run's --save-snapshot writes it).
unreadable() {
  jq --arg id "$1" --arg why "$2" '.unreadableReferences[$id] = $why' "$work/problems.json" > "$work/problems.next" \
    && mv "$work/problems.next" "$work/problems.json"
}

# A command's failure: `unavailable` when it was refused or the thing does not exist, else `error`.
kind_of() {
  if grep -qiE 'forbidden|AuthorizationFailed|does not have authorization|NotFound|could not find the requested resource|ServiceUnavailable' "$1"; then
    echo unavailable
  else
    echo error
  fi
}

# fetch FILE SOURCE WHAT COMMAND...: the command's JSON output to FILE (folders made as needed). On failure
# (or output that is not JSON) FILE is not written, and SOURCE's problem says WHAT failed and why; with SOURCE
# "reference" the resource id WHAT goes to "unreadableReferences" instead.
fetch() {
  local file=$1 source=$2 what=$3
  shift 3
  if "$@" > "$work/out" 2> "$work/err" && jq -e . "$work/out" > /dev/null 2>&1; then
    mkdir -p "$(dirname "$file")"
    mv "$work/out" "$file"
    return 0
  fi
  local why
  why=$(grep -v '^[[:space:]]*$' "$work/err" | head -n 1 | sed 's/^ERROR: //' | cut -c 1-300)
  if [ "$source" = reference ]; then
    unreadable "$what" "${why:-no JSON output}"
  else
    problem "$source" "$(kind_of "$work/err")" "$what: ${why:-no JSON output}"
  fi
  return 1
}

# arm ID: export one ARM resource by id, in whatever subscription it lives, once. Typed `az ... show`
# output (flattened); `az resource show` (with `properties`) for types the network commands do not cover.
arm() {
  local id=$1 lower
  lower=$(tr '[:upper:]' '[:lower:]' <<< "$id")
  grep -qxF "$lower" "$work/exported" && return 0
  echo "$lower" >> "$work/exported"
  local name=${id##*/} command
  case "$lower" in
    */providers/microsoft.network/virtualnetworks/*) command="network vnet" ;;
    */providers/microsoft.network/networksecuritygroups/*) command="network nsg" ;;
    */providers/microsoft.network/routetables/*) command="network route-table" ;;
    */providers/microsoft.network/azurefirewalls/*) command="network firewall" ;;
    */providers/microsoft.network/publicipaddresses/*) command="network public-ip" ;;
    */providers/microsoft.network/natgateways/*) command="network nat gateway" ;;
    */providers/microsoft.network/privatednszones/*) command="network private-dns zone" ;;
    */providers/microsoft.network/virtualhubs/*) command="network vhub" ;;
    *) command="resource" ;;
  esac
  # One file per resource: its name and a digest of its id (names repeat across resource groups and policies).
  # shellcheck disable=SC2086 # the sub-command is words on purpose
  fetch "$out/network/${command// /-}-$name-$(md5sum <<< "$lower" | cut -c 1-8).json" reference "$id" \
    az $command show --ids "$id" -o json
}

# follow FILE FILTER: export every resource whose id the jq FILTER finds in FILE.
follow() {
  for id in $(jq -r "$2" "$1"); do arm "$id"; done
}

network_file() {
  local lower
  lower=$(tr '[:upper:]' '[:lower:]' <<< "$1")
  for file in "$out"/network/*.json; do
    [ -f "$file" ] || continue
    jq -e --arg id "$lower" 'if type == "array" then .[] else . end | select((.id // "" | ascii_downcase) == $id)' "$file" > /dev/null 2>&1 && { echo "$file"; return 0; }
  done
  return 1
}

# IPv4 address-in-prefix test for jq, over az's addressPrefix / addressPrefixes (IPv6 prefixes are skipped).
JQ_IP='def n: split(".") | map(tonumber) | .[0] * 16777216 + .[1] * 65536 + .[2] * 256 + .[3];
  def holds($ip): (split("/")) as [$net, $bits] | (if $bits then ($bits | tonumber) else 32 end) as $b
    | (pow(2; 32 - $b)) as $size | (($ip | n) - (($ip | n) % $size)) == (($net | n) - (($net | n) % $size));
  def prefixes: [.addressPrefix // empty, (.addressPrefixes // [])[]] | map(select(contains(":") | not));'

# firewalls_at IP VNET_FILE...: ids of the Azure Firewalls whose IP configuration sits on the subnet that holds
# IP, in the VNets whose address space holds it (the cluster's VNet and the VNets peered with it).
firewalls_at() {
  local ip=$1
  shift
  jq -r --arg ip "$ip" "$JQ_IP"'
    (if type == "array" then .[] else . end) | (.properties // .) as $vnet
    | select(any($vnet.addressSpace.addressPrefixes[]?; holds($ip)))
    | $vnet.subnets[]? | (.properties // .) as $subnet
    | select(any($subnet | prefixes[]; holds($ip)))
    | $subnet.ipConfigurations[]?.id // empty
    | select(test("/azureFirewalls/"; "i")) | sub("/azureFirewallIpConfigurations/.*$"; ""; "i")' "$@" | sort -u
}

# export_firewall ID: a firewall, its public IPs, what its own subnet holds (a NAT gateway, which then carries its
# egress; a route table, which may tunnel 0.0.0.0/0 onward), and its policy chain with rule collection groups.
export_firewall() {
  arm "$1" || return 0
  local firewall_file policy policy_file subnet vnet_file subnet_body id
  firewall_file=$(network_file "$1") || return 0
  follow "$firewall_file" '(.properties // .).ipConfigurations[]? | (.properties // .) | (.publicIPAddress // .publicIpAddress).id // empty'
  for subnet in $(jq -r '(.properties // .).ipConfigurations[]? | (.properties // .).subnet.id // empty' "$firewall_file"); do
    arm "${subnet%/subnets/*}" && vnet_file=$(network_file "${subnet%/subnets/*}") || continue
    subnet_body=$(jq --arg id "$(tr '[:upper:]' '[:lower:]' <<< "$subnet")" \
      '[(.properties // .).subnets[]? | select(.id | ascii_downcase == $id) | (.properties // .)][0] // {}' "$vnet_file")
    for id in $(jq -r '(.routeTable.id // empty), (.natGateway.id // empty)' <<< "$subnet_body"); do
      arm "$id" && [[ "$id" == */natGateways/* ]] && follow "$(network_file "$id")" '(.properties // .).publicIpAddresses[]?.id // empty'
    done
  done
  policy=$(jq -r '(.properties // .).firewallPolicy.id // empty' "$firewall_file")
  while [ -n "$policy" ]; do  # the policy, its rule collection groups, then its parent policy
    arm "$policy" || break
    policy_file=$(network_file "$policy") || break
    follow "$policy_file" '(.properties // .).ruleCollectionGroups[]?.id // empty'
    policy=$(jq -r '(.properties // .).basePolicy.id // empty' "$policy_file")
  done
}

# export_virtual_hub MANAGED_VNET_ID SPOKE_VNET_ID: a spoke peered with a Virtual WAN hub's managed VNet
# (HV_<hub>_<guid>): the hub of that name whose connection names the spoke, the connections, its routing intent
# and the firewall the intent names.
export_virtual_hub() {
  local name managed=${1##*/} spoke_lower hub group hub_name
  name=${managed#HV_}
  name=${name%_*}
  spoke_lower=$(tr '[:upper:]' '[:lower:]' <<< "$2")
  fetch "$work/hubs.json" network "az network vhub list" az network vhub list --query "[?name=='$name']" -o json || return 0
  for hub in $(jq -r '.[].id' "$work/hubs.json"); do
    group=$(cut -d/ -f5 <<< "$hub")
    hub_name=${hub##*/}
    fetch "$work/connections.json" reference "$hub/hubVirtualNetworkConnections" \
      az network vhub connection list -g "$group" --vhub-name "$hub_name" -o json || continue
    jq -e --arg spoke "$spoke_lower" 'any(.[]; (.remoteVirtualNetwork.id // "" | ascii_downcase) == $spoke)' \
      "$work/connections.json" > /dev/null || continue
    arm "$hub"
    mv "$work/connections.json" "$out/network/vhub-connections-$hub_name.json"
    fetch "$out/network/vhub-routing-intent-$hub_name.json" reference "$hub/routingIntent" \
      az network vhub routing-intent list -g "$group" --vhub-name "$hub_name" -o json || return 0
    for firewall in $(jq -r '.[].routingPolicies[]?.nextHop // empty' "$out/network/vhub-routing-intent-$hub_name.json" | sort -u); do
      [[ "$(tr '[:upper:]' '[:lower:]' <<< "$firewall")" == */azurefirewalls/* ]] && export_firewall "$firewall"
    done
    return 0
  done
}

echo "cluster" >&2
if ! az aks show --ids "$cluster_id" -o json > "$work/cluster.json" 2> "$work/err" || ! jq -e .id "$work/cluster.json" > /dev/null 2>&1; then
  echo "error: az aks show --ids $cluster_id: $(grep -v '^[[:space:]]*$' "$work/err" | head -n 1)" >&2
  exit 1
fi
mv "$work/cluster.json" "$out/cluster.json"

# Network: the node subnets' VNets, NSGs, route tables and NAT gateways; the VNets peered with them; and the
# appliance the default route leads to, followed by ARM id into whatever subscription the hub lives in.
echo "network" >&2
subnets=$(jq -r '[(.properties // .).agentPoolProfiles[]? | .vnetSubnetId // .vnetSubnetID // empty] | unique[]' "$out/cluster.json")
if [ -z "$subnets" ]; then  # a VNet that AKS created: it lives in the node resource group
  node_rg=$(jq -r '(.properties // .).nodeResourceGroup' "$out/cluster.json")
  fetch "$out/network/network-vnet-list-$node_rg.json" network "az network vnet list -g $node_rg" \
    az network vnet list -g "$node_rg" -o json
fi
for subnet in $subnets; do
  vnet=${subnet%/subnets/*}
  arm "$vnet" || continue
  vnet_file=$(network_file "$vnet") || continue
  subnet_body=$(jq --arg id "$(tr '[:upper:]' '[:lower:]' <<< "$subnet")" \
    '[(.properties // .).subnets[]? | select(.id | ascii_downcase == $id) | (.properties // .)][0] // {}' "$vnet_file")
  for ref in networkSecurityGroup routeTable natGateway; do
    id=$(jq -r --arg ref "$ref" '.[$ref].id // empty' <<< "$subnet_body")
    [ -n "$id" ] && arm "$id"
  done
  peered=()
  for remote in $(jq -r '(.properties // .).virtualNetworkPeerings[]? | (.properties // .)
      | select(.peeringState == "Connected") | .remoteVirtualNetwork.id // empty' "$vnet_file"); do
    if [[ "${remote##*/}" == HV_* ]]; then  # a Virtual WAN hub's managed VNet: read through its hub
      export_virtual_hub "$remote" "$vnet"
      continue
    fi
    arm "$remote" && remote_file=$(network_file "$remote") && peered+=("$remote_file")
  done
  table=$(jq -r '.routeTable.id // empty' <<< "$subnet_body")
  [ -n "$table" ] || continue
  table_file=$(network_file "$table") || continue
  hop=$(jq -r '(.properties // .).routes[]? | (.properties // .)
    | select(.addressPrefix == "0.0.0.0/0" and .nextHopType == "VirtualAppliance") | .nextHopIpAddress // empty' "$table_file" | head -n 1)
  [ -n "$hop" ] || continue
  firewalls=$(firewalls_at "$hop" "$vnet_file" "${peered[@]}")
  [ -n "$firewalls" ] || problem network unavailable \
    "no Azure Firewall found at the default route's next hop $hop in ${vnet##*/} or the VNets peered with it that could be read (another appliance cannot be exported)"
  for firewall in $firewalls; do
    export_firewall "$firewall"
  done
done
for group in $(cat "$out"/network/*.json 2> /dev/null \
    | jq -r '[.. | objects | (.sourceIpGroups?, .destinationIpGroups?, .ipGroups?) // empty | .[]? | if type == "object" then .id else . end] | .[]' \
    | sort -u); do
  arm "$group"
done
# The service tags the NSGs name, from the Service Tag Discovery API (the whole list is a few MB: cut to those).
tags=$(cat "$out"/network/*.json 2> /dev/null | jq -r '[.. | objects | (.destinationAddressPrefix?, (.destinationAddressPrefixes? // [])[]?)
  | strings | select(test("^[A-Za-z][A-Za-z0-9.]*$") and (ascii_downcase | IN("internet", "virtualnetwork", "azureloadbalancer", "any") | not))]
  | unique | join(",")')
if [ -n "$tags" ]; then
  location=$(jq -r '.location' "$out/cluster.json")
  fetch "$work/service-tags.json" network "az network list-service-tags -l $location" \
    az network list-service-tags -l "$location" -o json \
    && jq --arg tags "$tags" '($tags | ascii_downcase | split(",")) as $named
      | .values |= map(select(.name | ascii_downcase | IN($named[])))' "$work/service-tags.json" > "$out/network/service-tags.json"
fi
# az prints some acronyms camel-cased (privateDnsZone) where ARM bodies spell them out (privateDNSZone): read both.
follow "$out/cluster.json" '(.properties // .).networkProfile.loadBalancerProfile
  | (.effectiveOutboundIPs // .effectiveOutboundIps)[]?.id // empty'
access=$(jq -c '(.properties // .).apiServerAccessProfile // {}' "$out/cluster.json")
zone=$(jq -r '.privateDnsZone // .privateDNSZone // empty' <<< "$access")
if { [ "$(jq -r '.enablePrivateCluster // false' <<< "$access")" = true ] && [ -z "$zone" ]; } || [ "$zone" = "system" ]; then
  node_rg=$(jq -r '(.properties // .).nodeResourceGroup' "$out/cluster.json")
  fetch "$work/zones.json" network "az network private-dns zone list -g $node_rg" az network private-dns zone list -g "$node_rg" -o json \
    && zone=$(jq -r '[.[] | select(.name | endswith(".azmk8s.io")) | .id][0] // empty' "$work/zones.json")
fi
case "$zone" in
  /subscriptions/*)
    arm "$zone" && fetch "$out/network/dns-links-${zone##*/}.json" network "az network private-dns link vnet list -z ${zone##*/}" \
      az network private-dns link vnet list -g "$(cut -d/ -f5 <<< "$zone")" -z "${zone##*/}" -o json
    ;;
esac

# Kubernetes, with the cluster *user* credentials.
echo "kubernetes" >&2
kube_sources=(kube:pods kube:nodes kube:node-metrics kube:events kube:helm kube:logs)
kubeconfig="$work/kubeconfig"
k() { kubectl --kubeconfig "$kubeconfig" --request-timeout 20s "$@"; }
# metadata_only KIND "LABEL ..." GET_ARGS...: the objects `kubectl get GET_ARGS` lists, as a <KIND>List of
# items with their namespace, name and those labels only. kubectl prints just these columns (custom-columns),
# so nothing else of an object (a Secret's values, a release payload, annotations) reaches a pipe or a file.
metadata_only() {
  local kind=$1 labels=$2 label columns="NAMESPACE:.metadata.namespace,NAME:.metadata.name"
  shift 2
  for label in $labels; do columns+=",$label:.metadata.labels.$label"; done
  k get "$@" -o "custom-columns=$columns" --no-headers | jq -R -s --arg kind "$kind" --arg labels "$labels" '
    ($labels | split(" ")) as $names
    | {apiVersion: "v1", kind: ($kind + "List"), items: [split("\n")[] | select(length > 0) | [splits(" +")] as $cells
        | {apiVersion: "v1", kind: $kind, metadata: {namespace: $cells[0], name: $cells[1], labels: ([range($names | length)
            | select(($cells[. + 2] // "<none>") != "<none>") | {key: $names[.], value: $cells[. + 2]}] | from_entries)}}]}'
}
if ! az aks get-credentials --ids "$cluster_id" --file "$kubeconfig" --overwrite-existing > /dev/null 2> "$work/err"; then
  why=$(grep -v '^[[:space:]]*$' "$work/err" | head -n 1 | cut -c 1-300)
  for source in "${kube_sources[@]}"; do problem "$source" "$(kind_of "$work/err")" "az aks get-credentials: $why"; done
else
  if command -v kubelogin > /dev/null; then kubelogin convert-kubeconfig -l azurecli --kubeconfig "$kubeconfig"; fi
  if ! k get --raw /readyz > /dev/null 2> "$work/err"; then
    why=$(grep -v '^[[:space:]]*$' "$work/err" | head -n 1 | cut -c 1-300)
    for source in "${kube_sources[@]}"; do
      problem "$source" unavailable "the API server is not reachable from here: ${why:-no answer}"
    done
  else
    fetch "$out/kube/pods.json" kube:pods "kubectl get pods -n kube-system" k get pods -n kube-system -o json
    fetch "$out/kube/nodes.json" kube:nodes "kubectl get nodes" k get nodes -o json
    fetch "$out/kube/events.json" kube:events "kubectl get events -A" k get events -A -o json
    fetch "$out/kube/node-metrics.json" kube:node-metrics "kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes (is metrics-server running?)" \
      k get --raw /apis/metrics.k8s.io/v1beta1/nodes
    # Helm 3 release secrets (and Helm 2's configmaps) as metadata only: kubectl prints names and labels, so no
    # release payload is written anywhere, not even to the work folder. Listing them needs `list` on secrets;
    # without it the Helm 2 configmaps alone would pass for the whole history, so they wait.
    if fetch "$out/kube/helm-secrets.json" kube:helm "kubectl get secrets -A -l owner=helm (listing Secrets metadata needs list on secrets)" \
        metadata_only Secret "owner name version status" secrets -A -l owner=helm; then
      fetch "$out/kube/tiller-configmaps.json" kube:helm "kubectl get configmaps -n kube-system -l OWNER=TILLER" \
        metadata_only ConfigMap "OWNER NAME VERSION STATUS" configmaps -n kube-system -l OWNER=TILLER
    fi
    if [ -f "$out/kube/pods.json" ]; then
      mkdir -p "$out/kube/logs/kube-system"
      for pod in $(jq -r '.items[].metadata.name | select(test("^(konnectivity-agent-|tunnelfront-|aks-link-)")) | select(test("autoscaler") | not)' "$out/kube/pods.json"); do
        if ! k logs -n kube-system "$pod" --tail 200 --all-containers > "$out/kube/logs/kube-system/$pod.log" 2> "$work/err"; then
          rm -f "$out/kube/logs/kube-system/$pod.log"
          problem kube:logs "$(kind_of "$work/err")" "kubectl logs $pod: $(grep -v '^[[:space:]]*$' "$work/err" | head -n 1 | cut -c 1-300)"
        fi
      done
    fi
  fi
fi

if [ -n "$workspace" ]; then
  echo "log analytics" >&2
  # A workspace may hold many clusters: keep this one's rows (the id was validated above: no quotes in it).
  query=$(grep -v '^//' "$here/collect/queries/apiserver-requests.kql" \
    | sed "s|^union isfuzzy=true resourceSpecific, legacy|&\n\| where _ResourceId =~ '$cluster_id'|")
  fetch "$out/logs/apiserver-requests.json" logs:apiserver-requests "az monitor log-analytics query --workspace $workspace" \
    az monitor log-analytics query --workspace "$workspace" --analytics-query "$query" -o json
else
  problem logs:apiserver-requests unavailable \
    "no Log Analytics workspace given (the third argument of export-snapshot.sh: the workspace that receives kube-audit)"
fi
for source in probe:apiserver probe:kubelet; do
  problem "$source" unavailable "the export script does not probe; python -m sweep --cluster <id> run from where kubectl runs does"
done

if jq -e 'length > 0' "$work/problems.json" > /dev/null; then
  jq -S . "$work/problems.json" > "$out/problems.json"
  echo "not exported (see $out/problems.json): $(jq -r 'keys | join(", ")' "$work/problems.json")" >&2
fi
echo "wrote $out; evaluate it with: python -m sweep --snapshot $out" >&2
