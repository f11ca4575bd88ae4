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
@allowed(['entra', 'function-key'])
@description('How callers of the HTTP check authenticate: entra (App Service authentication with an Entra ID token; the app then checks its app role) or function-key.')
param httpAuth string
@description('Client id of the app registration whose tokens the HTTP check accepts (entra); empty: every HTTP request is refused with 401.')
param httpAuthClientId string
@description('IP ranges (CIDR) allowed to call the app\'s public endpoint; empty: any address (authentication still applies).')
param httpAllowedIpRanges array
@description('Subnet of the site\'s private endpoint; empty: none.')
param privateEndpointSubnetId string
@description('privatelink.azurewebsites.net zone id; empty without a private endpoint.')
param privateDnsZoneId string

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

var allowedRanges = [for (range, i) in httpAllowedIpRanges: {
  name: 'allowed-${i}'
  ipAddress: range
  action: 'Allow'
  priority: 100 + i
}]
var eventGrid = {
  name: 'event-grid'
  ipAddress: 'AzureEventGrid'
  tag: 'ServiceTag'
  action: 'Allow'
  priority: 90
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: Event Grid delivers change events over the public endpoint (the AzureEventGrid service tag); httpAllowedIpRanges restricts everyone else, and a private endpoint serves callers in the VNet
  // checkov:skip=CKV_AZURE_17: runbooks authenticate with Entra ID tokens (App Service authentication, authsettingsV2 below); client certificates would add nothing they can present
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
      // With allowed ranges: those, Event Grid's service tag (change events), and nothing else.
      ipSecurityRestrictionsDefaultAction: empty(httpAllowedIpRanges) ? 'Allow' : 'Deny'
      ipSecurityRestrictions: empty(httpAllowedIpRanges) ? [] : concat(allowedRanges, [eventGrid])
      scmIpSecurityRestrictionsUseMain: true
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

// App Service authentication (Easy Auth) in front of every function: only a request with a valid Entra ID token
// for the app registration reaches the HTTP check, which then requires the app role its setting
// AKS_REACH_HTTP_ROLE names (AksApiReach.Check). Without a client id the provider stays off and every request gets 401: closed, not open.
// Event Grid's trigger endpoint is left to its system key: Event Grid cannot present a token.
resource authentication 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov reads this authsettingsV2 child as a whole site and applies the site's checks to it; they belong to the site above:
  // checkov:skip=CKV_AZURE_13: this resource is the App Service authentication; checkov looks for the v1 siteAuthSettings of a site
  // checkov:skip=CKV_AZURE_222: a site check (public network access), answered on the site above
  // checkov:skip=CKV_AZURE_63: a site check (HTTP logging): Flex Consumption apps log to Application Insights, not App Service file logs
  // checkov:skip=CKV_AZURE_65: a site check (detailed error pages): Flex Consumption apps log to Application Insights, not App Service file logs
  // checkov:skip=CKV_AZURE_66: a site check (failed request tracing): Flex Consumption apps log to Application Insights, not App Service file logs
  // checkov:skip=CKV_AZURE_80: a site check (.NET Framework version): the app runs Python 3.11 (functionAppConfig.runtime)
  // checkov:skip=CKV_AZURE_88: a site check (Azure Files): Flex Consumption has no content share; the package lives in the deployment container
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      // function-key: authentication off, the function key alone guards the HTTP check (the app's setting says so)
      enabled: httpAuth == 'entra'
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: [
        '/runtime/webhooks/eventgrid'
      ]
    }
    httpSettings: {
      requireHttps: true
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: !empty(httpAuthClientId)
        registration: {
          clientId: httpAuthClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${httpAuthClientId}'
            httpAuthClientId
          ]
        }
      }
    }
  }
}

module endpoint 'private-endpoint.bicep' = if (!empty(privateEndpointSubnetId)) {
  name: 'pe-${name}'
  params: {
    name: 'pe-${name}'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    targetId: site.id
    groupId: 'sites'
    privateDnsZoneId: privateDnsZoneId
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
