// The Function app on the Flex Consumption plan (Linux, Python 3.11), running as the user-assigned
// identity. The runtime is declared in functionAppConfig (no FUNCTIONS_WORKER_RUNTIME setting on Flex).
param name string
param planName string
param location string
param tags object
@description('Resource id of the user-assigned identity.')
param identityId string
@description('Blob container URL the deployment package is uploaded to.')
param deploymentContainerUrl string
@description('App settings, built in main.bicep.')
param appSettings object
@description('Subnet (delegated to Microsoft.App/environments) for VNet integration; empty: none.')
param virtualNetworkSubnetId string
param maximumInstanceCount int
param instanceMemoryMB int

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy is not offered in every Flex Consumption region; a sweep lost to a zone outage is made up by the next one
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: runbooks call the HTTP check over the public endpoint (function key); restrict access on the app when every caller sits in a VNet
  // checkov:skip=CKV_AZURE_17: the HTTP check is called by runbooks with a function key; client certificates would add nothing they can present
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero on the timer and the queue; a missed hour is made up by the next sweep
  // checkov:skip=CKV_AZURE_213: Flex Consumption apps have no health check setting; the host's queue retries and poison queue cover failures
  name: name
  location: location
  // azd deploys the code of service "sweep" (azure.yaml) to the app carrying this tag.
  tags: union(tags, { 'azd-service-name': 'sweep' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    // Key Vault references resolve with the user-assigned identity, not a system-assigned one.
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      ftpsState: 'Disabled'
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
