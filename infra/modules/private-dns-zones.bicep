// The privatelink DNS zones of the app's private endpoints, each linked to the VNet of the endpoints' subnet
// (which the VNet-integration subnet shares), so the app resolves its storage, vault and site privately.
// In a landing zone whose hub owns these zones (Azure Policy "deploy DNS zone group"), pass their ids instead.
param tags object
@description('Zone names, e.g. privatelink.blob.core.windows.net.')
param zoneNames array
@description('Resource id of the VNet to link the zones to.')
param virtualNetworkId string

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for zoneName in zoneNames: {
  name: zoneName
  location: 'global'
  tags: tags
}]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (zoneName, i) in zoneNames: {
  parent: zones[i]
  name: 'aks-reach-${uniqueString(virtualNetworkId)}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: virtualNetworkId
    }
  }
}]

output ids array = [for (zoneName, i) in zoneNames: zones[i].id]
