// Key Vault of the Teams webhook URLs (secrets: anyone holding one can post to the channel). The app
// settings reference them (@Microsoft.KeyVault(SecretUri=...)), resolved with the app identity.
param name string
param location string
param tags object
@description('Principal id of the app identity, which resolves the Key Vault references.')
param principalId string
@secure()
@description('JSON map of owner to Teams webhook URL.')
param teamsWebhooks string
@secure()
@description('Webhook of clusters whose owners have none in the map; empty: no secret is stored.')
param teamsDefaultWebhook string
@description('Subnet of the private endpoint; empty: public endpoint (Entra RBAC only).')
param privateEndpointSubnetId string
@description('privatelink.vaultcore zone id; empty without a private endpoint.')
param privateDnsZoneId string
@description('Log Analytics workspace of the audit diagnostic setting.')
param diagnosticsWorkspaceId string

var isolated = !empty(privateEndpointSubnetId)

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: without a private endpoint subnet the platform resolves the app's Key Vault references over the public endpoint, so the firewall cannot deny by default; with one it does (isolated)
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109: public access is disabled when a private endpoint subnet is given; access is Entra RBAC only
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: isolated ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: isolated ? 'Deny' : 'Allow'
      bypass: 'None'
    }
  }
}

resource webhooks 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: webhook URLs do not expire; they are rotated in Teams and here by redeploying with the new value
  parent: vault
  name: 'teams-webhooks'
  properties: {
    value: teamsWebhooks
    contentType: 'application/json'
  }
}

resource defaultWebhook 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(teamsDefaultWebhook)) {
  // checkov:skip=CKV_AZURE_41: webhook URLs do not expire; they are rotated in Teams and here by redeploying with the new value
  // checkov:skip=CKV_AZURE_114: contentType is set below; checkov's Bicep parser does not read the properties of a conditional resource
  parent: vault
  name: 'teams-default-webhook'
  properties: {
    value: teamsDefaultWebhook
    contentType: 'text/plain'
  }
}

var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

// Key Vault Secrets User: the platform resolves the webhook references with the app identity
// (keyVaultReferenceIdentity); read-only, secrets only, this vault only.
resource secretsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, secretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'AKS API Reach: resolve the Teams webhook Key Vault references'
  }
}

// Every secret read (the platform resolving the webhook references), every access denied and every change of
// the vault, kept in Log Analytics (AzureDiagnostics, category AuditEvent).
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'aks-reach-audit'
  scope: vault
  properties: {
    workspaceId: diagnosticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

module endpoint 'private-endpoint.bicep' = if (isolated) {
  name: 'pe-${name}'
  params: {
    name: 'pe-${name}'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    targetId: vault.id
    groupId: 'vault'
    privateDnsZoneId: privateDnsZoneId
  }
}

output name string = vault.name
// Versionless URIs: the app picks up a rotated secret without a redeploy.
output webhooksSecretUri string = '${vault.properties.vaultUri}secrets/${webhooks.name}'
output defaultWebhookSecretUri string = empty(teamsDefaultWebhook) ? '' : '${vault.properties.vaultUri}secrets/teams-default-webhook'
