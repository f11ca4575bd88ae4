#!/usr/bin/env bash
# Export one AKS cluster into the snapshot folder format (docs/snapshot.md), with read-only commands only:
#   examples/export-snapshot.sh <cluster resource id> <output dir> [<Log Analytics workspace id>]
# then: python -m sweep --snapshot <output dir>
# Needs: az (logged in, Reader), kubectl with user credentials (never --admin), jq.
# Secret values never leave the cluster: Helm release secrets are exported as metadata only.
set -euo pipefail

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
mkdir -p "$out/network" "$out/kube/logs/kube-system" "$out/logs"

echo "cluster" >&2
az aks show --ids "$cluster_id" -o json > "$out/cluster.json"

# Network: the node subnets' VNets, their NSGs and route tables, and what the routes point at.
subnets=$(jq -r '[.agentPoolProfiles[].vnetSubnetId // empty] | unique[]' "$out/cluster.json")
n=0
for subnet in $subnets; do
  n=$((n + 1))
  vnet=${subnet%/subnets/*}
  echo "network: ${vnet##*/}" >&2
  az network vnet show --ids "$vnet" -o json > "$out/network/vnet-$n.json"
  nsg=$(az network vnet subnet show --ids "$subnet" --query networkSecurityGroup.id -o tsv)
  [ -n "$nsg" ] && az network nsg show --ids "$nsg" -o json > "$out/network/nsg-$n.json"
  rt=$(az network vnet subnet show --ids "$subnet" --query routeTable.id -o tsv)
  if [ -n "$rt" ]; then
    az network route-table show --ids "$rt" -o json > "$out/network/routetable-$n.json"
    hop=$(jq -r '.routes[] | select(.addressPrefix == "0.0.0.0/0") | .nextHopIpAddress // empty' "$out/network/routetable-$n.json")
    if [ -n "$hop" ]; then
      # The Azure Firewall whose private IP is the default route's next hop, with its policy and IP groups.
      az network firewall list -o json \
        | jq --arg ip "$hop" '[.[] | select(any(.ipConfigurations[]?; .privateIPAddress == $ip))]' > "$out/network/firewall-$n.json"
      for pip in $(jq -r '.[].ipConfigurations[]?.publicIPAddress.id // empty' "$out/network/firewall-$n.json"); do
        az network public-ip show --ids "$pip" -o json > "$out/network/pip-${pip##*/}.json"
      done
      policy=$(jq -r '.[0].firewallPolicy.id // empty' "$out/network/firewall-$n.json")
      while [ -n "$policy" ]; do
        name=${policy##*/}
        az resource show --ids "$policy" -o json > "$out/network/policy-$name.json"
        for group in $(jq -r '.properties.ruleCollectionGroups[]?.id // empty' "$out/network/policy-$name.json"); do
          az resource show --ids "$group" -o json > "$out/network/rcg-$name-${group##*/}.json"
        done
        policy=$(jq -r '.properties.basePolicy.id // empty' "$out/network/policy-$name.json")
      done
      for group in $(jq -r '[.. | .sourceIpGroups? // empty | .[]] | unique[]' "$out"/network/*.json); do
        az resource show --ids "$group" -o json > "$out/network/ipgroup-${group##*/}.json"
      done
    fi
  fi
done
for pip in $(jq -r '.networkProfile.loadBalancerProfile.effectiveOutboundIPs[]?.id // empty' "$out/cluster.json"); do
  az network public-ip show --ids "$pip" -o json > "$out/network/pip-${pip##*/}.json"
done
zone=$(jq -r '.apiServerAccessProfile.privateDnsZone // empty' "$out/cluster.json")
if [ "$zone" = "system" ]; then
  node_rg=$(jq -r .nodeResourceGroup "$out/cluster.json")
  zone=$(az network private-dns zone list -g "$node_rg" --query "[0].id" -o tsv)
fi
case "$zone" in
  /subscriptions/*)
    az network private-dns zone show --ids "$zone" -o json > "$out/network/dns-zone.json"
    az network private-dns link vnet list -g "$(cut -d/ -f5 <<<"$zone")" -z "${zone##*/}" -o json > "$out/network/dns-links.json"
    ;;
esac

# Kubernetes, with the cluster *user* credentials.
echo "kubernetes" >&2
kubeconfig=$(mktemp)
trap 'rm -f "$kubeconfig"' EXIT
az aks get-credentials --ids "$cluster_id" --file "$kubeconfig" --overwrite-existing >/dev/null
if command -v kubelogin >/dev/null; then kubelogin convert-kubeconfig -l azurecli --kubeconfig "$kubeconfig"; fi
k() { kubectl --kubeconfig "$kubeconfig" --request-timeout 20s "$@"; }
if k get --raw /readyz >/dev/null 2>&1; then
  k get pods -n kube-system -o json > "$out/kube/pods.json"
  k get nodes -o json > "$out/kube/nodes.json"
  k get --raw /apis/metrics.k8s.io/v1beta1/nodes > "$out/kube/node-metrics.json" || true
  k get events -A -o json > "$out/kube/events.json"
  # Helm 3 release secrets as metadata only: the release payload never leaves the cluster.
  k get secrets -A -l owner=helm -o json | jq '{apiVersion: "v1", kind: "SecretList", items: [.items[] | del(.data)]}' > "$out/kube/helm-secrets.json"
  k get configmaps -n kube-system -l OWNER=TILLER -o json | jq '{apiVersion: "v1", kind: "ConfigMapList", items: [.items[] | del(.data)]}' > "$out/kube/tiller-configmaps.json"
  for pod in $(jq -r '.items[].metadata.name | select(test("^(konnectivity-agent-|tunnelfront-|aks-link-)")) | select(test("autoscaler") | not)' "$out/kube/pods.json"); do
    k logs -n kube-system "$pod" --tail 200 --all-containers > "$out/kube/logs/kube-system/$pod.log" 2>&1 || true
  done
else
  echo "warning: the API server is not reachable from here; Kubernetes inputs skipped" >&2
fi

if [ -n "$workspace" ]; then
  echo "log analytics" >&2
  # A workspace may hold many clusters: keep this one's rows (the id was validated above: no quotes in it).
  query=$(grep -v '^//' "$here/collect/queries/apiserver-requests.kql" \
    | sed "s|^union isfuzzy=true resourceSpecific, legacy|&\n\| where _ResourceId =~ '$cluster_id'|")
  az monitor log-analytics query --workspace "$workspace" --analytics-query "$query" \
    -o json > "$out/logs/apiserver-requests.json"
fi
echo "wrote $out; evaluate it with: python -m sweep --snapshot $out" >&2
