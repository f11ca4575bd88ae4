// Change-driven rechecks for one more Azure subscription (the connectivity subscription that holds the hubs,
// or a workload subscription): its Resource Manager writes and deletes reach the app's Event Grid trigger.
//   az deployment sub create --subscription <subscription id> --location <region> \
//     --template-file infra/changes/subscription.bicep --parameters functionAppId=<functionAppId output>
// main.bicep uses it for the subscription it deploys to (subscribeToChanges=true). Roles: none for the app
// (Event Grid delivers to the function); the deployer needs to create an event subscription there.
targetScope = 'subscription'

@description('Resource id of the Function app: the functionAppId output of main.bicep.')
param functionAppId string

@description('Resource group (in this subscription) that holds the system topic; created when missing.')
param resourceGroupName string = 'rg-aks-api-reach-changes'

@description('Region of that resource group (the topic itself is global).')
param location string = deployment().location

@description('Resource id of this subscription\'s existing Event Grid system topic (type Microsoft.Resources.Subscriptions) to add the event subscription to; empty: create one. A subscription has at most one such topic.')
param existingSystemTopicId string = ''

@description('Create the resource group; false when it exists already (main.bicep passes its own).')
param createResourceGroup bool = true

var tags = {
  application: 'aks-api-reach'
}
var reuse = !empty(existingSystemTopicId)
var topicGroup = reuse ? split(existingSystemTopicId, '/')[4] : resourceGroupName

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = if (!reuse && createResourceGroup) {
  name: resourceGroupName
  location: location
  tags: tags
}

module changeEvents '../modules/change-events.bicep' = {
  name: 'aks-api-reach-change-events'
  scope: resourceGroup(topicGroup)
  dependsOn: [
    group
  ]
  params: {
    tags: tags
    systemTopicName: reuse ? last(split(existingSystemTopicId, '/')) : 'aks-api-reach-${uniqueString(subscription().id)}'
    createSystemTopic: !reuse
    functionAppId: functionAppId
  }
}

output eventSubscriptionId string = changeEvents.outputs.eventSubscriptionId
