// The sweep identity's Kubernetes access to one cluster with Azure RBAC for Kubernetes authorization,
// deployed into the cluster's resource group by access.bicep: the kube-system reads at namespace scope
// (<cluster id>/namespaces/kube-system, which Azure RBAC for AKS accepts as a scope:
// learn.microsoft.com/azure/aks/manage-azure-rbac), the node reads at cluster scope, the Secrets listing only
// when asked, the audit tables in resource context, and the user kubeconfig.
targetScope = 'resourceGroup'

@description('Name of the AKS cluster (in this resource group).')
param clusterName string

@description('Principal (object) id of the sweep identity.')
param principalId string

@description('Resource id of the AKS API Reach kube-system Reader role definition.')
param kubeSystemRoleId string

@description('Resource id of the AKS API Reach Node Reader role definition.')
param nodeRoleId string

@description('Resource id of the AKS API Reach Helm Secrets Lister role definition; empty: Secrets stay unreadable.')
param secretsRoleId string

@description('Resource id of the AKS API Reach Audit Log Reader role definition (resource-context audit queries); empty: none.')
param auditLogRoleId string

@description('Grant Azure Kubernetes Service Cluster User Role on this cluster (listClusterUserCredential).')
param grantClusterUserRole bool

var clusterUserRole = '4abbcc35-e782-43d8-92c5-2d3f1bd2253f'

resource cluster 'Microsoft.ContainerService/managedClusters@2024-09-01' existing = {
  name: clusterName
}

// Not a resource ARM serves: the scope Azure RBAC for Kubernetes reads for namespace-scoped grants.
resource kubeSystem 'Microsoft.ContainerService/managedClusters/namespaces@2024-09-01' existing = {
  parent: cluster
  name: 'kube-system'
}

// kube-system only: the tunnel pods and their logs, the Helm 2 ConfigMaps and the Warning events kubelet-port
// reads all live there, so tenant namespaces stay unreadable.
resource kubeSystemReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(kubeSystem.id, principalId, kubeSystemRoleId)
  scope: kubeSystem
  properties: {
    roleDefinitionId: kubeSystemRoleId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: kube-system pods, pod logs, ConfigMaps and events (konnectivity-agent, kubelet-port, helm-history)'
  }
}

// Nodes and node metrics are cluster-scoped resources: no namespace scope can grant them.
resource nodeReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(cluster.id, principalId, nodeRoleId)
  scope: cluster
  properties: {
    roleDefinitionId: nodeRoleId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: the tunnel pods\' nodes and their metrics (konnectivity-agent)'
  }
}

// Helm 3 keeps releases as Secrets in the release's namespace: listing them needs secrets/read cluster-wide,
// which also returns their values. Only with readSecrets=true.
resource secretsLister 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(secretsRoleId)) {
  name: guid(cluster.id, principalId, 'helm-secrets')
  scope: cluster
  properties: {
    roleDefinitionId: secretsRoleId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: list Helm 3 release Secrets, metadata kept only (helm-history; readSecrets=true)'
  }
}

// The audit tables of this cluster in resource context: the queue worker queries the cluster when the
// timer could not read its workspace.
resource auditLogReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(auditLogRoleId)) {
  name: guid(cluster.id, principalId, 'audit-logs')
  scope: cluster
  properties: {
    roleDefinitionId: auditLogRoleId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: this cluster\'s AKSAudit rows in resource context (apiserver-load)'
  }
}

// The user kubeconfig of this cluster only: on a cluster with local accounts it would carry a cluster-admin
// token, so it is granted where the operator lists the cluster, never subscription-wide.
resource clusterUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantClusterUserRole) {
  name: guid(cluster.id, principalId, clusterUserRole)
  scope: cluster
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', clusterUserRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: listClusterUserCredential, the user kubeconfig of the Kubernetes reads'
  }
}
