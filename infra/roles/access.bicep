// The sweep identity's access to named clusters and Log Analytics workspaces, in any subscription the role
// definitions are assignable in: roles/subscription.bicep calls it with its own definitions; after
// roles/management-group.bicep, deploy it once with that template's outputs:
//   az deployment sub create --location <region> --template-file infra/roles/access.bicep \
//     --parameters principalId=<id> clusterIds='["<cluster id>", ...]' auditWorkspaceIds='["<workspace id>"]' \
//       kubeSystemRoleId=<output> nodeRoleId=<output> auditLogRoleId=<output> [secretsRoleId=<output>]
targetScope = 'subscription'

@description('Principal (object) id of the sweep identity: the identityPrincipalId output of main.bicep.')
param principalId string

@description('Resource ids of the AKS clusters (Azure RBAC for Kubernetes authorization) whose Kubernetes the sweep reads.')
param clusterIds array = []

@description('Resource ids of the Log Analytics workspaces that receive the clusters\' kube-audit logs.')
param auditWorkspaceIds array = []

@description('Resource id of the AKS API Reach kube-system Reader role definition.')
param kubeSystemRoleId string

@description('Resource id of the AKS API Reach Node Reader role definition.')
param nodeRoleId string

@description('Resource id of the AKS API Reach Helm Secrets Lister role definition; empty: Secrets are not granted.')
param secretsRoleId string = ''

@description('Resource id of the AKS API Reach Audit Log Reader role definition.')
param auditLogRoleId string

@description('Grant Azure Kubernetes Service Cluster User Role on each cluster listed (listClusterUserCredential).')
param grantClusterUserRole bool = true

module clusters 'cluster-access.bicep' = [for (clusterId, i) in clusterIds: {
  name: 'aks-reach-cluster-${i}-${uniqueString(clusterId)}'
  scope: resourceGroup(split(clusterId, '/')[2], split(clusterId, '/')[4])
  params: {
    clusterName: last(split(clusterId, '/'))
    principalId: principalId
    kubeSystemRoleId: kubeSystemRoleId
    nodeRoleId: nodeRoleId
    secretsRoleId: secretsRoleId
    auditLogRoleId: auditLogRoleId
    grantClusterUserRole: grantClusterUserRole
  }
}]

module workspaces 'workspace-access.bicep' = [for (workspaceId, i) in auditWorkspaceIds: {
  name: 'aks-reach-workspace-${i}-${uniqueString(workspaceId)}'
  scope: resourceGroup(split(workspaceId, '/')[2], split(workspaceId, '/')[4])
  params: {
    workspaceName: last(split(workspaceId, '/'))
    principalId: principalId
    auditLogRoleId: auditLogRoleId
  }
}]
