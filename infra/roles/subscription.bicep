// The sweep identity's read-only roles on one subscription: every cluster, network resource and
// Log Analytics workspace in it becomes visible to the sweep. main.bicep uses it for the subscription
// it deploys to; deploy it once per further subscription (README "Deploy"), or use
// management-group.bicep to cover a whole management group at once.
targetScope = 'subscription'

@description('Principal (object) id of the sweep identity: the identityPrincipalId output of main.bicep.')
param principalId string

@description('Also grant Azure Kubernetes Service Cluster User Role (listClusterUserCredential), which the Kubernetes reads need.')
param grantClusterUserRole bool = true

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
