// Azure Monitor log search alerts on the AksApiReachFinding / AksApiReachSweep events, for teams that do not
// live in Teams: a cluster newly failing a tunnel, egress or control-plane check, and a sweep that did not
// complete. The KQL is in infra/alerts/ (tests/infra/test_alerts.py checks it against the emitted events).
param location string
param tags object
param appInsightsId string
@description('Action group the alerts notify (its resource id).')
param actionGroupId string
@description('A root cause (one shared resource or client) breaking more clusters than this alerts.')
param rootCauseClusterThreshold int = 5

var rules = [
  {
    name: 'newly-failing'
    displayName: 'AKS API Reach: cluster newly failing konnectivity-agent, egress-rules or apiserver-load'
    description: 'A cluster\'s latest sweep fails one of these checks (not muted) and its sweep before did not: kubectl is likely to time out against its API server. One alert per cluster and check; the row holds the finding\'s title and remediation.'
    severity: 2
    query: loadTextContent('../alerts/newly-failing.kql')
    dimensions: [
      {
        name: 'clusterName'
        operator: 'Include'
        values: ['*']
      }
      {
        name: 'check'
        operator: 'Include'
        values: ['*']
      }
    ]
  }
  {
    name: 'sweep-incomplete'
    displayName: 'AKS API Reach: a sweep did not complete'
    description: 'Findings of a sweep arrived but no AksApiReachSweep event closed it within 2 hours: look at the Function app\'s queue, poison queue and logs.'
    severity: 1
    query: loadTextContent('../alerts/sweep-incomplete.kql')
    dimensions: []
  }
  {
    name: 'root-cause-reach'
    displayName: 'AKS API Reach: one root cause breaks more than ${rootCauseClusterThreshold} clusters'
    description: 'One shared resource or client (a hub firewall policy, an NSG rule, a private DNS zone without a link, a leaking client) breaks many clusters: its owners fix it once. The row holds its name, cluster count and fix.'
    severity: 1
    query: replace(loadTextContent('../alerts/root-cause-reach.kql'), '{threshold}', string(rootCauseClusterThreshold))
    dimensions: [
      {
        name: 'causeName'
        operator: 'Include'
        values: ['*']
      }
    ]
  }
]

resource alert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for rule in rules: {
    name: 'aks-api-reach-${rule.name}-${uniqueString(appInsightsId)}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: rule.displayName
      description: rule.description
      severity: rule.severity
      enabled: true
      scopes: [
        appInsightsId
      ]
      // Every 15 minutes over 2 days of events: the query itself keeps rows ingested in the last 15 minutes
      // (newly-failing) or sweeps opened 2 hours ago (sweep-incomplete), so each condition alerts once.
      evaluationFrequency: 'PT15M'
      windowSize: 'PT15M'
      overrideQueryTimeRange: 'P2D'
      autoMitigate: false
      criteria: {
        allOf: [
          {
            query: rule.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: 0
            dimensions: rule.dimensions
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: [
          actionGroupId
        ]
      }
    }
  }
]

output ids array = [for (rule, i) in rules: alert[i].id]
