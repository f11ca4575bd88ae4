"""What the command line and the Function app share: the settings (`settings`), the context every cluster
is checked with (`context`), evaluating a collected cluster into its findings (`evaluate`), the exemptions
(`mutes`), re-measuring a slow API server probe (`probe_timing`) and the SDK clients a live sweep reads
with (`clients`). It imports neither `sweep.cli` nor `sweep.app` nor `sweep.rechecks`."""
