// The audit tables of one Log Analytics workspace that receives kube-audit, for the sweep identity;
// deployed into the workspace's resource group by access.bicep.
targetScope = 'resourceGroup'

@description('Name of the Log Analytics workspace (in this resource group).')
param workspaceName string

@description('Principal (object) id of the sweep identity.')
param principalId string

@description('Resource id of the AKS API Reach Audit Log Reader role definition.')
param auditLogRoleId string

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

// The apiserver-requests query, once per workspace per sweep: AKSAudit (and AzureDiagnostics when the role
// has it) of this workspace, no other table.
resource auditLogReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, auditLogRoleId)
  scope: workspace
  properties: {
    roleDefinitionId: auditLogRoleId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: the AKS audit tables of this workspace (apiserver-load)'
  }
}
