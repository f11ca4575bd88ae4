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

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: the platform resolves Key Vault references of an app without VNet integration over the public endpoint, so the firewall cannot deny by default
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109; access is Entra RBAC only (Key Vault Secrets User for the app identity)
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
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
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

output name string = vault.name
// Versionless URIs: the app picks up a rotated secret without a redeploy.
output webhooksSecretUri string = '${vault.properties.vaultUri}secrets/${webhooks.name}'
output defaultWebhookSecretUri string = empty(teamsDefaultWebhook) ? '' : '${vault.properties.vaultUri}secrets/teams-default-webhook'
