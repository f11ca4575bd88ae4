// The sweep identity's read-only roles on a management group: AKS API Reach Resource Reader, inherited by
// every subscription under it, so a sweep with AKS_REACH_MANAGEMENT_GROUP sees every cluster there; and the
// custom role definitions, assignable anywhere under it. Deploy with
//   az deployment mg create --management-group-id <MG> --location <region> \
//     --template-file infra/roles/management-group.bicep --parameters principalId=<identityPrincipalId>
// then grant the Kubernetes and audit-table roles on the clusters and workspaces with roles/access.bicep and
// this template's outputs (docs/security.md).
targetScope = 'managementGroup'

@description('Principal (object) id of the sweep identity: the identityPrincipalId output of main.bicep.')
param principalId string

@description('Output the id of the role that lists Helm release Secrets (metadata only, but secrets/read also allows reading their values) for access.bicep; false: secretsRoleId is empty, and access.bicep grants no Secrets.')
param readSecrets bool = false

@description('Also grant the legacy AzureDiagnostics table in the Audit Log Reader role (clusters sending kube-audit in Azure diagnostics mode).')
param auditTablesIncludeAzureDiagnostics bool = true

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
  name: guid(managementGroup().id, role.roleName)
  properties: {
    roleName: '${role.roleName} (${managementGroup().name})'
    description: role.description
    type: 'CustomRole'
    assignableScopes: [
      managementGroup().id
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

// AKS API Reach Resource Reader on the management group: discovery and ARM reads in every subscription under
// it, without Reader's log and telemetry reads (resource-reader.json).
resource resourceReaderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, principalId, customRoles[0].name)
  properties: {
    roleDefinitionId: tenantResourceId('Microsoft.Authorization/roleDefinitions', customRoles[0].name)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: ${resourceReader.roleName}, for Resource Graph discovery and ARM reads of clusters, NSGs, route tables, firewalls, VNets and private DNS zones'
  }
}

output roleNames array = [for (role, i) in definitions: customRoles[i].properties.roleName]
output resourceReaderRoleId string = tenantResourceId('Microsoft.Authorization/roleDefinitions', customRoles[0].name)
output auditLogRoleId string = tenantResourceId('Microsoft.Authorization/roleDefinitions', customRoles[1].name)
output kubeSystemRoleId string = tenantResourceId('Microsoft.Authorization/roleDefinitions', customRoles[2].name)
output nodeRoleId string = tenantResourceId('Microsoft.Authorization/roleDefinitions', customRoles[3].name)
output secretsRoleId string = readSecrets ? tenantResourceId('Microsoft.Authorization/roleDefinitions', customRoles[4].name) : ''
