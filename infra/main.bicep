// AKS API Reach in one deployment: `azd up`, or
//   az deployment sub create --location <region> --template-file infra/main.bicep --parameters environmentName=<name>
// Creates the resource group, the app identity and its read-only roles (docs/security.md), storage
// (identity-only), Key Vault (Teams webhooks), both audited and, given a private endpoint subnet, closed to
// the internet, Application Insights on Log Analytics, the Flex Consumption Function app behind Entra ID
// authentication, the results workbook, with subscribeToChanges the Event Grid system
// topic and event subscription of change-driven rechecks, and given an action group the alert rules.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('Name of the environment (azd: AZURE_ENV_NAME); seeds the resource names.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer the Flex Consumption plan.')
param location string

@description('Resource group to create or reuse; empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Comma-separated subscription ids the timer sweeps (AKS_REACH_SUBSCRIPTIONS); empty: every subscription the identity can read.')
param sweepSubscriptions string = ''

@description('Management group the timer sweeps instead (AKS_REACH_MANAGEMENT_GROUP); grant the roles there with roles/management-group.bicep.')
param managementGroupId string = ''

@description('NCRONTAB schedule (UTC) of the sweep timer (AKS_REACH_SCHEDULE).')
param schedule string = '0 0 * * * *'

@description('Cluster tag whose value names the owners (AKS_REACH_OWNER_TAG).')
param ownerTag string = 'owner'

@description('Storage queue with one message per cluster (AKS_REACH_QUEUE).')
param queueName string = 'aks-reach-clusters'

@description('Table of each cluster\'s last failing checks (AKS_REACH_STATE_TABLE).')
param stateTableName string = 'aksreachstate'

@secure()
@description('JSON map of owner to Teams webhook URL, stored in Key Vault (AKS_REACH_TEAMS_WEBHOOKS); empty: {}.')
param teamsWebhooks string = ''

@secure()
@description('Webhook of clusters whose owners have none in the map, stored in Key Vault (AKS_REACH_TEAMS_DEFAULT_WEBHOOK); empty: none.')
param teamsDefaultWebhook string = ''

@description('The mute list inline, as JSON (AKS_REACH_MUTE_LIST); empty: none, or the blob below.')
param muteList string = ''

@description('Read the mute list from the blob aks-reach-config/mute-list.yaml of the app\'s storage account with its identity (AKS_REACH_MUTE_LIST_BLOB); ignored when muteList is set.')
param muteListInStorage bool = false

@description('Let cluster owners mute their own findings with the aks-reach-mute tag (AKS_REACH_MUTE_BY_TAG).')
param muteByTag bool = false

@description('Action group resource id the Azure Monitor alerts notify (a cluster newly failing konnectivity-agent, egress-rules or apiserver-load; a sweep that did not complete); empty: no alert rules.')
param alertActionGroupId string = ''

@description('Subnet resource id (delegated to Microsoft.App/environments) for VNet integration, to reach private clusters; empty: none.')
param virtualNetworkSubnetId string = ''

@description('Subnet for the private endpoints of the app\'s storage, Key Vault and site (not the delegated subnet above, in the same VNet); closes their public endpoints (storage, vault) and creates and links the privatelink DNS zones. Needs virtualNetworkSubnetId. Empty: public endpoints, Entra auth only.')
param privateEndpointSubnetId string = ''

@description('Log Analytics workspace that receives the audit logs of the app\'s storage and Key Vault (a central security workspace); empty: the app\'s own workspace.')
param diagnosticsWorkspaceId string = ''

@allowed(['entra', 'function-key'])
@description('How runbooks authenticate to the HTTP check: entra (App Service authentication with Entra ID tokens and the app role the app checks) or function-key.')
param httpAuth string = 'entra'

@description('Client id of the app registration runbook identities get tokens for (entra; docs/security.md creates it); empty: every HTTP request is refused with 401 until it is set.')
param httpAuthClientId string = ''

@description('IP ranges (CIDR) allowed to call the app\'s public endpoint, besides Event Grid; empty: any address (authentication still applies).')
param httpAllowedIpRanges array = []

@description('Grant the identity its read-only roles on this subscription (AKS API Reach Resource Reader) and on the clusters and workspaces below.')
param assignRolesOnThisSubscription bool = true

@description('Resource ids of clusters in this subscription (Azure RBAC for Kubernetes authorization) whose Kubernetes the sweep reads: kube-system reads at namespace scope, node reads, their audit rows, the user kubeconfig.')
param clusterIds array = []

@description('Resource ids of the Log Analytics workspaces in this subscription that receive the clusters\' kube-audit logs: the AKS audit tables only.')
param auditWorkspaceIds array = []

@description('Also grant the legacy AzureDiagnostics table on those workspaces (clusters sending kube-audit in Azure diagnostics mode); it holds every resource\'s legacy logs there.')
param auditTablesIncludeAzureDiagnostics bool = true

@description('Also grant Azure Kubernetes Service Cluster User Role on each cluster of clusterIds, needed to fetch the user kubeconfig (listClusterUserCredential).')
param grantClusterUserRole bool = true

@description('Deliver this subscription\'s Resource Manager writes and deletes to the app through Event Grid, for change-driven rechecks (README "Change-driven checks"). Set it once the code is deployed: the event subscription names the function.')
param subscribeToChanges bool = false

@description('Resource id of this subscription\'s existing Event Grid system topic (Microsoft.Resources.Subscriptions) to add the event subscription to; empty: create one in the app\'s resource group.')
param existingSystemTopicId string = ''

@description('List Helm release Secrets (metadata only) for helm-history (AKS_REACH_READ_SECRETS); that needs secrets/read on the clusters of clusterIds, which also allows reading their values: false leaves Secrets out of the roles and the sweep.')
param readSecrets bool = false

@minValue(1)
@maxValue(1000)
@description('Most instances the app scales out to; each checks at most 24 clusters at once (host.json). The timer queries Log Analytics once per workspace, so instances spend no query quota; README Performance gives the instances 10,000 clusters in 10 minutes need.')
param maximumInstanceCount int = 20

@allowed([512, 2048, 4096])
@description('Memory of each instance, in MB.')
param instanceMemoryMB int = 2048

var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'aks-api-reach'
}
var functionAppName = 'func-aksreach-${token}'
var deploymentContainerName = 'app-package-${token}'
var isolated = !empty(privateEndpointSubnetId)
// The privatelink zones of storage (blob, queue, table), Key Vault and the site, in that order.
var vaultZoneName = replace(environment().suffixes.keyvaultDns, '.vault.', 'privatelink.vaultcore.')
var privateZoneNames = [
  'privatelink.blob.${environment().suffixes.storage}'
  'privatelink.queue.${environment().suffixes.storage}'
  'privatelink.table.${environment().suffixes.storage}'
  vaultZoneName
  'privatelink.azurewebsites.net'
]

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-aksreach-${token}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    workspaceName: 'log-aksreach-${token}'
    appInsightsName: 'appi-aksreach-${token}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module privateZones 'modules/private-dns-zones.bicep' = if (isolated) {
  name: 'private-dns-zones'
  scope: rg
  params: {
    tags: tags
    zoneNames: privateZoneNames
    virtualNetworkId: join(take(split(privateEndpointSubnetId, '/'), 9), '/')
  }
}

var privateZoneIds = [for zoneName in privateZoneNames: isolated ? resourceId(subscription().subscriptionId, rg.name, 'Microsoft.Network/privateDnsZones', zoneName) : '']
var auditWorkspaceId = empty(diagnosticsWorkspaceId) ? monitoring.outputs.workspaceId : diagnosticsWorkspaceId

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'staksreach${take(token, 13)}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    deploymentContainerName: deploymentContainerName
    queueName: queueName
    stateTableName: stateTableName
    configContainerName: 'aks-reach-config'
    privateEndpointSubnetId: privateEndpointSubnetId
    privateDnsZoneIds: isolated ? take(privateZoneIds, 3) : []
    diagnosticsWorkspaceId: auditWorkspaceId
  }
  dependsOn: [
    privateZones
  ]
}

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-aksreach-${take(token, 11)}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    // An unset azd variable arrives as '': store an empty map rather than an empty secret.
    teamsWebhooks: empty(teamsWebhooks) ? '{}' : teamsWebhooks
    teamsDefaultWebhook: teamsDefaultWebhook
    privateEndpointSubnetId: privateEndpointSubnetId
    privateDnsZoneId: privateZoneIds[3]
    diagnosticsWorkspaceId: auditWorkspaceId
  }
  dependsOn: [
    privateZones
  ]
}

// Every app setting in one place; tests/infra checks these names against the settings the code reads.
var appSettings = {
  // Read by the Functions host: storage with the identity, no connection string or key.
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  AzureWebJobsStorage__blobServiceUri: storage.outputs.blobEndpoint
  // Read by the host and by the sweep (queue and state table clients).
  AzureWebJobsStorage__queueServiceUri: storage.outputs.queueEndpoint
  AzureWebJobsStorage__tableServiceUri: storage.outputs.tableEndpoint
  // The app's only credential in Azure: ManagedIdentityCredential(client_id) (sweep/app/runtime.py app_credential).
  AZURE_CLIENT_ID: identity.outputs.clientId
  // Telemetry, sent with the identity (the component disables local auth).
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.outputs.clientId};Authorization=AAD'
  // The sweep's own settings (sweep/core/settings.py).
  // Read by the Python worker: threads for the sync queue trigger; its default, min(32, cores + 4), would run
  // 5 of host.json's 24 messages at once on a one-vCPU instance (learn.microsoft.com/azure/azure-functions/python-scale-performance-reference).
  PYTHON_THREADPOOL_THREAD_COUNT: '24'
  AKS_REACH_SCHEDULE: schedule
  AKS_REACH_QUEUE: queueName
  AKS_REACH_STATE_TABLE: stateTableName
  AKS_REACH_SUBSCRIPTIONS: sweepSubscriptions
  AKS_REACH_MANAGEMENT_GROUP: managementGroupId
  AKS_REACH_OWNER_TAG: ownerTag
  AKS_REACH_READ_SECRETS: string(readSecrets)
  AKS_REACH_MUTE_LIST: muteList
  AKS_REACH_MUTE_LIST_BLOB: muteListInStorage && empty(muteList) ? '${storage.outputs.configContainerUrl}/mute-list.yaml' : ''
  AKS_REACH_MUTE_BY_TAG: string(muteByTag)
  // The HTTP check: Entra ID (App Service authentication) and the app role runbook identities are granted.
  AKS_REACH_HTTP_AUTH: httpAuth
  AKS_REACH_HTTP_ROLE: 'AksApiReach.Check'
  AKS_REACH_TEAMS_WEBHOOKS: '@Microsoft.KeyVault(SecretUri=${vault.outputs.webhooksSecretUri})'
  AKS_REACH_TEAMS_DEFAULT_WEBHOOK: empty(teamsDefaultWebhook) ? '' : '@Microsoft.KeyVault(SecretUri=${vault.outputs.defaultWebhookSecretUri})'
}

module app 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-aksreach-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appSettings: appSettings
    virtualNetworkSubnetId: virtualNetworkSubnetId
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    httpAuth: httpAuth
    httpAuthClientId: httpAuthClientId
    httpAllowedIpRanges: httpAllowedIpRanges
    privateEndpointSubnetId: privateEndpointSubnetId
    privateDnsZoneId: privateZoneIds[4]
  }
  dependsOn: [
    privateZones
  ]
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    appInsightsId: monitoring.outputs.appInsightsId
  }
}

module alerts 'modules/alerts.bicep' = if (!empty(alertActionGroupId)) {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    appInsightsId: monitoring.outputs.appInsightsId
    actionGroupId: alertActionGroupId
  }
}

// Change-driven rechecks for this subscription; further subscriptions: changes/subscription.bicep.
module changeEvents 'changes/subscription.bicep' = if (subscribeToChanges) {
  name: 'change-events'
  params: {
    functionAppId: app.outputs.id
    resourceGroupName: rg.name
    location: location
    createResourceGroup: false
    existingSystemTopicId: existingSystemTopicId
  }
}

// Read-only roles on this subscription and on the clusters and workspaces named; other subscriptions or a
// management group: see roles/ and docs/security.md.
module sweepRoles 'roles/subscription.bicep' = if (assignRolesOnThisSubscription) {
  name: 'sweep-roles'
  params: {
    principalId: identity.outputs.principalId
    grantClusterUserRole: grantClusterUserRole
    readSecrets: readSecrets
    clusterIds: clusterIds
    auditWorkspaceIds: auditWorkspaceIds
    auditTablesIncludeAzureDiagnostics: auditTablesIncludeAzureDiagnostics
  }
}

output AZURE_LOCATION string = location
output resourceGroupName string = rg.name
output functionAppName string = app.outputs.name
output functionAppHostName string = app.outputs.defaultHostName
output functionAppId string = app.outputs.id
output identityPrincipalId string = identity.outputs.principalId
output identityClientId string = identity.outputs.clientId
output keyVaultName string = vault.outputs.name
output storageAccountName string = storage.outputs.name
output appInsightsName string = monitoring.outputs.appInsightsName
output workbookId string = workbook.outputs.id
