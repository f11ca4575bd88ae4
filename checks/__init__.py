"""Pure checks: one module per cause of kubectl timeouts; `checks.registry` lists them in report order."""
