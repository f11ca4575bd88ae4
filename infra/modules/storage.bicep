// The storage account of the Functions host and the sweep: the deployment package, the host's own containers,
// the mute list, the per-cluster queue and the Teams state table. Shared keys are disabled: every client, the
// host included, uses the managed identity (AzureWebJobsStorage__credential=managedidentity). Each role is
// scoped to the containers and queues it serves (docs/security.md); with a private endpoint subnet the account
// takes no public traffic; reads, writes and deletes of blobs, queues and tables go to Log Analytics.
param name string
param location string
param tags object
@description('Principal id of the app identity.')
param principalId string
param deploymentContainerName string
param queueName string
param stateTableName string
@description('Container of the platform team\'s mute list, which the app may only read.')
param configContainerName string
@description('Subnet of the private endpoints; empty: public endpoint (identity-only, no keys).')
param privateEndpointSubnetId string
@description('privatelink zone ids of blob, queue and table, in that order (private-dns-zones.bicep); empty without private endpoints.')
param privateDnsZoneIds array
@description('Log Analytics workspace of the diagnostic settings.')
param diagnosticsWorkspaceId string

var isolated = !empty(privateEndpointSubnetId)

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_206: locally redundant is enough: the queue and the state table are rebuilt by the next sweep, and the package by the next deploy
  // checkov:skip=CKV_AZURE_35: the default action is Deny whenever a private endpoint subnet is given (isolated); without one the app, not VNet-integrated, reaches its storage over the public endpoint with Entra auth only (shared keys are off)
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    // Without a private endpoint subnet, a Flex Consumption app without VNet integration reaches its storage over
    // the public endpoint (Entra auth only); with one, the public endpoint is closed.
    publicNetworkAccess: isolated ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: isolated ? 'Deny' : 'Allow'
      bypass: 'None'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    // Every overwrite of the mute list or the package keeps the version before it, for 7 days after a delete.
    isVersioningEnabled: true
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

// The host's containers: the deployment package (Flex Consumption), timer schedule status and singleton
// leases (azure-webjobs-hosts), function keys (azure-webjobs-secrets). Created here so that Storage Blob Data
// Contributor on these containers alone is enough.
var hostContainerNames = [
  deploymentContainerName
  'azure-webjobs-hosts'
  'azure-webjobs-secrets'
]

resource hostContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for containerName in hostContainerNames: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

// The platform team's mute list (AKS_REACH_MUTE_LIST_BLOB: <container>/mute-list.yaml), read with the identity.
resource configContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: configContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// The per-cluster queue and the poison queue the host moves failed messages to (created here, so the role
// can be scoped to both).
var queueNames = [
  queueName
  '${queueName}-poison'
]

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queue in queueNames: {
  parent: queueService
  name: queue
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource stateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: stateTableName
}

var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var blobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
var queueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var tableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

// Storage Blob Data Contributor on the host's three containers only: the Functions host reads and writes its
// leases, timer status and keys, and the platform reads the package. Microsoft documents Storage Blob Data
// Owner for host storage; Owner adds only ACL and ownership management (hierarchical namespace), which this
// account does not have, so Contributor on the containers does the same without reaching the mute list.
resource hostBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (containerName, i) in hostContainerNames: {
  name: guid(hostContainers[i].id, principalId, blobDataContributor)
  scope: hostContainers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: Functions host container ${containerName} (package, timer status, leases, keys)'
  }
}]

// Storage Blob Data Reader on the mute list's container: the sweep reads the exemptions and cannot change them.
resource muteListReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(configContainer.id, principalId, blobDataReader)
  scope: configContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: read the mute list, never write it'
  }
}

// Storage Queue Data Contributor on the cluster queue and its poison queue: the timer enqueues one message per
// cluster and the queue trigger reads, deletes and (on repeated failure) moves them to the poison queue.
resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queue, i) in queueNames: {
  name: guid(queues[i].id, principalId, queueDataContributor)
  scope: queues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: queue ${queue}'
  }
}]

// Storage Table Data Contributor on the account: the worker reads and writes the sweep bookkeeping and each
// cluster's last failing checks, and the host writes its diagnostic events to monthly tables it creates
// (names not known in advance, so not scopable to one table).
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, tableDataContributor)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: state table and the host\'s diagnostic events'
  }
}

var auditCategories = [
  {
    category: 'StorageRead'
    enabled: true
  }
  {
    category: 'StorageWrite'
    enabled: true
  }
  {
    category: 'StorageDelete'
    enabled: true
  }
]

// Who read, wrote or deleted a blob (the mute list and the package above all), a message or an entity, kept in
// Log Analytics (StorageBlobLogs, StorageQueueLogs, StorageTableLogs).
resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'aks-reach-audit'
  scope: blobService
  properties: {
    workspaceId: diagnosticsWorkspaceId
    logs: auditCategories
  }
}

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'aks-reach-audit'
  scope: queueService
  properties: {
    workspaceId: diagnosticsWorkspaceId
    logs: auditCategories
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'aks-reach-audit'
  scope: tableService
  properties: {
    workspaceId: diagnosticsWorkspaceId
    logs: auditCategories
  }
}

// One private endpoint per service, in the order of privateDnsZoneIds.
var endpointServices = isolated ? ['blob', 'queue', 'table'] : []

module endpoints 'private-endpoint.bicep' = [for (service, i) in endpointServices: {
  name: 'pe-${name}-${service}'
  params: {
    name: 'pe-${name}-${service}'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    targetId: account.id
    groupId: service
    privateDnsZoneId: privateDnsZoneIds[i]
  }
}]

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output configContainerUrl string = '${account.properties.primaryEndpoints.blob}${configContainer.name}'
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainerName}'
