// The sweep identity's read-only roles on one subscription. main.bicep uses it for the subscription it deploys
// to; deploy it once per further subscription (README "Deploy"), or use management-group.bicep to cover a
// whole management group at once. Every grant is the narrowest that serves (docs/security.md):
// - AKS API Reach Resource Reader (custom: Reader without log and telemetry data) on the subscription;
// - on each cluster listed in clusterIds: kube-system reads at namespace scope, node reads, the audit tables
//   in resource context, the user kubeconfig, and Helm release Secrets only with readSecrets=true;
// - on each workspace listed in auditWorkspaceIds: the AKS audit tables, nothing else.
targetScope = 'subscription'

@description('Principal (object) id of the sweep identity: the identityPrincipalId output of main.bicep.')
param principalId string

@description('Grant Azure Kubernetes Service Cluster User Role (listClusterUserCredential) on each cluster of clusterIds, which the Kubernetes reads need.')
param grantClusterUserRole bool = true

@description('Also let the identity list Helm release Secrets (metadata only, but secrets/read also allows reading their values) on the clusters of clusterIds. Set AKS_REACH_READ_SECRETS=true with it.')
param readSecrets bool = false

@description('Resource ids of the AKS clusters in this subscription (Azure RBAC for Kubernetes authorization) whose Kubernetes the sweep reads; the others need the documented role assignment commands (docs/security.md).')
param clusterIds array = []

@description('Resource ids of the Log Analytics workspaces in this subscription that receive the clusters\' kube-audit logs.')
param auditWorkspaceIds array = []

@description('Also grant the legacy AzureDiagnostics table (clusters sending kube-audit in Azure diagnostics mode); it holds every resource\'s legacy logs of those workspaces.')
param auditTablesIncludeAzureDiagnostics bool = true

// Role names and actions are data, shared with management-group.bicep (the JSON files beside this one).
var roles = loadJsonContent('sweep-roles.json')
var resourceReader = loadJsonContent('resource-reader.json')
var auditLogs = loadJsonContent('log-analytics-reader.json')
var kubernetes = loadJsonContent('kubernetes-reader.json')
var definitions = [
  {
    roleName: resourceReader.roleName
    description: resourceReader.description
    actions: resourceReader.actions
    notActions: resourceReader.notActions
    dataActions: []
  }
  {
    roleName: auditLogs.roleName
    description: auditLogs.description
    actions: concat(auditLogs.actions, auditTablesIncludeAzureDiagnostics ? auditLogs.legacyActions : [])
    notActions: []
    dataActions: []
  }
  {
    roleName: kubernetes.kubeSystem.roleName
    description: kubernetes.kubeSystem.description
    actions: []
    notActions: []
    dataActions: kubernetes.kubeSystem.dataActions
  }
  {
    roleName: kubernetes.nodes.roleName
    description: kubernetes.nodes.description
    actions: []
    notActions: []
    dataActions: kubernetes.nodes.dataActions
  }
  {
    roleName: kubernetes.secrets.roleName
    description: kubernetes.secrets.description
    actions: []
    notActions: []
    dataActions: kubernetes.secrets.dataActions
  }
]

// Role names are unique per tenant, hence the scope in the name.
resource customRoles 'Microsoft.Authorization/roleDefinitions@2022-04-01' = [for role in definitions: {
  name: guid(subscription().id, role.roleName)
  properties: {
    roleName: '${role.roleName} (${subscription().subscriptionId})'
    description: role.description
    type: 'CustomRole'
    assignableScopes: [
      subscription().id
    ]
    permissions: [
      {
        actions: role.actions
        notActions: role.notActions
        dataActions: role.dataActions
        notDataActions: []
      }
    ]
  }
}]

// AKS API Reach Resource Reader on the subscription: Resource Graph discovery and the ARM reads of clusters
// and the network around them; Reader's log and telemetry reads are left out (resource-reader.json).
resource resourceReaderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, customRoles[0].name)
  properties: {
    roleDefinitionId: customRoles[0].id
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: ${resourceReader.roleName}, for Resource Graph discovery and ARM reads of clusters, NSGs, route tables, firewalls, VNets and private DNS zones'
  }
}

// The clusters and workspaces named: Kubernetes and audit-table grants at the narrowest scope each allows.
module access 'access.bicep' = {
  name: 'aks-reach-access-${uniqueString(principalId)}'
  params: {
    principalId: principalId
    clusterIds: clusterIds
    auditWorkspaceIds: auditWorkspaceIds
    kubeSystemRoleId: customRoles[2].id
    nodeRoleId: customRoles[3].id
    secretsRoleId: readSecrets ? customRoles[4].id : ''
    auditLogRoleId: customRoles[1].id
    grantClusterUserRole: grantClusterUserRole
  }
}

output roleNames array = [for (role, i) in definitions: customRoles[i].properties.roleName]
output clusterUserRoleName string = roles.clusterUser[0].name
output resourceReaderRoleId string = customRoles[0].id
output auditLogRoleId string = customRoles[1].id
output kubeSystemRoleId string = customRoles[2].id
output nodeRoleId string = customRoles[3].id
output secretsRoleId string = customRoles[4].id
