// The sweep identity's read-only roles on one subscription: every cluster, network resource and
// Log Analytics workspace in it becomes visible to the sweep. main.bicep uses it for the subscription
// it deploys to; deploy it once per further subscription (README "Deploy"), or use
// management-group.bicep to cover a whole management group at once.
targetScope = 'subscription'

@description('Principal (object) id of the sweep identity: the identityPrincipalId output of main.bicep.')
param principalId string

@description('Also grant Azure Kubernetes Service Cluster User Role (listClusterUserCredential), which the Kubernetes reads need.')
param grantClusterUserRole bool = true

@description('Let the Kubernetes reader role list Helm release Secrets (metadata only, but secrets/read also allows reading their values). With false, set AKS_REACH_READ_SECRETS=false: helm-history is then skipped.')
param readSecrets bool = true

// Roles and the reason for each are data, shared with management-group.bicep (sweep-roles.json).
var roles = loadJsonContent('sweep-roles.json')
var granted = grantClusterUserRole ? concat(roles.always, roles.clusterUser) : roles.always

// One assignment per role; each carries its reason as the assignment's description.
resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in granted: {
  name: guid(subscription().id, principalId, role.id)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.id)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: ${role.name}, for ${role.why}'
  }
}]

output roleNames array = [for role in granted: role.name]

// The Kubernetes reads on clusters with Azure RBAC for Kubernetes authorization: a custom role with exactly
// the dataActions the collectors need (kubernetes-reader.json). Azure Kubernetes Service RBAC Reader is not
// enough: it does not allow Secrets and has no nodes/read. Role names are unique per tenant, hence the scope
// in the name.
var kubernetesReader = loadJsonContent('kubernetes-reader.json')

resource kubernetesReaderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, kubernetesReader.roleName)
  properties: {
    roleName: '${kubernetesReader.roleName} (${subscription().subscriptionId})'
    description: kubernetesReader.description
    type: 'CustomRole'
    assignableScopes: [
      subscription().id
    ]
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: concat(kubernetesReader.dataActions, readSecrets ? kubernetesReader.secretsDataActions : [])
        notDataActions: []
      }
    ]
  }
}

// The custom role above, for the Kubernetes reads of the checks on Azure RBAC clusters.
resource kubernetesReaderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, kubernetesReaderRole.name)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', kubernetesReaderRole.name)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: ${kubernetesReader.roleName}, for the Kubernetes reads of the checks (kube-system pods and logs, nodes, node metrics, events, Helm release metadata)'
  }
}

output kubernetesReaderRoleId string = kubernetesReaderRole.id
