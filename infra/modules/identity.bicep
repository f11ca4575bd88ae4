// The user-assigned managed identity the Function app runs as: the host (storage), Key Vault
// references, telemetry and the sweep itself (ManagedIdentityCredential with AZURE_CLIENT_ID) all use it.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
