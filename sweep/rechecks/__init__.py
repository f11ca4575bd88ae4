"""Change-driven rechecks: an Azure Resource Manager write or delete, delivered by Event Grid (`events`,
and the operations watched in `data/watched_changes.json`), finds the clusters that use the changed
resource (`reference_index`, filled as the worker checks them), claims one debounced recheck per cluster
(`pending`) and checks it again through the app's worker (`recheck`, which also routes every queue
message). It builds on the Function app's sweep (`sweep.app`), never the other way round."""
