// Change-driven rechecks: an Azure subscription's Event Grid system topic (Microsoft.Resources.Subscriptions)
// and an event subscription delivering the Resource Manager writes and deletes that can change whether
// kubectl reaches a cluster to the app's Event Grid trigger. The filter is data shared with the app
// (sweep/rechecks/data/watched_changes.json): event types, and operation names by prefix (NSGs, route tables,
// firewalls, firewall policies and their rule collection groups, IP groups, VNets with subnets and peerings,
// private DNS zones and links, public IPs, NAT gateways, managed clusters and agent pools).
// Deployed into a resource group of the watched subscription; the topic's source is that subscription.
param tags object
@description('Name of the system topic to create, or of the subscription\'s existing one (a subscription has at most one).')
param systemTopicName string
@description('Create the system topic; false: add the event subscription to the existing topic of that name.')
param createSystemTopic bool
@description('Resource id of the Function app (Microsoft.Web/sites) whose trigger receives the events.')
param functionAppId string
@description('Name of the Event Grid trigger function in function_app.py.')
param functionName string = 'resource_changed'

var watched = loadJsonContent('../../sweep/rechecks/data/watched_changes.json')

resource createdTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (createSystemTopic) {
  name: systemTopicName
  location: 'global'
  tags: tags
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource changes 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'aks-api-reach-changes'
  dependsOn: [
    createdTopic
  ]
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: watched.eventTypes
      advancedFilters: [
        {
          operatorType: 'StringBeginsWith'
          key: 'data.operationName'
          values: watched.operationPrefixes
        }
      ]
    }
    // A change older than an hour is the hourly sweep's; a malformed event is dropped by the app, not retried.
    retryPolicy: {
      maxDeliveryAttempts: 10
      eventTimeToLiveInMinutes: 60
    }
  }
}

output eventSubscriptionId string = changes.id
