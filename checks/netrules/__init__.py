"""Azure network semantics the checks share: addresses and service tags, NSGs, routes, Azure Firewall."""
