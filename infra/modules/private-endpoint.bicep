// A private endpoint of one sub-resource (blob, queue, table, vault, sites) in the given subnet, registered
// in its privatelink zone (private-dns-zones.bicep) so the app resolves the service to the private address.
param name string
param location string
param tags object
@description('Subnet of the private endpoint (not the delegated VNet-integration subnet).')
param subnetId string
@description('Resource id of the service the endpoint connects to.')
param targetId string
@description('Sub-resource (group id): blob, queue, table, vault or sites.')
param groupId string
@description('Resource id of the privatelink DNS zone of that sub-resource.')
param privateDnsZoneId string

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: targetId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: groupId
        properties: {
          privateDnsZoneId: privateDnsZoneId
        }
      }
    ]
  }
}

output id string = endpoint.id
