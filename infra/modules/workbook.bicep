// The results workbook (infra/workbook.json), attached to the Application Insights component whose
// customEvents hold the AksApiReachFinding / AksApiReachSweep events.
param location string
param tags object
param appInsightsId string

resource workbook 'Microsoft.Insights/workbooks@2022-04-01' = {
  // Workbook names must be GUIDs; derived from the component so redeploys update it in place.
  name: guid(appInsightsId, 'aks-api-reach-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'AKS API Reach'
    category: 'workbook'
    sourceId: appInsightsId
    serializedData: loadTextContent('../workbook.json')
  }
}

output id string = workbook.id
