// The sweep identity's read-only roles on a management group: inherited by every subscription under
// it, so a sweep with AKS_REACH_MANAGEMENT_GROUP sees every cluster there. Deploy with
//   az deployment mg create --management-group-id <MG> --location <region> \
//     --template-file infra/roles/management-group.bicep --parameters principalId=<identityPrincipalId>
targetScope = 'managementGroup'

@description('Principal (object) id of the sweep identity: the identityPrincipalId output of main.bicep.')
param principalId string

@description('Also grant Azure Kubernetes Service Cluster User Role (listClusterUserCredential), which the Kubernetes reads need.')
param grantClusterUserRole bool = true

// Roles and the reason for each are data, shared with subscription.bicep (sweep-roles.json).
var roles = loadJsonContent('sweep-roles.json')
var granted = grantClusterUserRole ? concat(roles.always, roles.clusterUser) : roles.always

// One assignment per role; each carries its reason as the assignment's description. Built-in role
// definitions are tenant-level resources, hence tenantResourceId at this scope.
resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in granted: {
  name: guid(managementGroup().id, principalId, role.id)
  properties: {
    roleDefinitionId: tenantResourceId('Microsoft.Authorization/roleDefinitions', role.id)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: ${role.name}, for ${role.why}'
  }
}]

output roleNames array = [for role in granted: role.name]
