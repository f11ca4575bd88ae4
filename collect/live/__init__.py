"""Live collection from Azure and the Kubernetes API into `RawCluster`s (the SDKs stay in this package)."""
