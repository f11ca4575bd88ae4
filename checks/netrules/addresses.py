"""Address, port and FQDN matching as NSGs and Azure Firewall read them."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from functools import lru_cache

AZURE_LOAD_BALANCER = "168.63.129.16"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=4096)
def network(text: str) -> Network | None:
    """An IP or CIDR as a network, or None for anything else (service tags, FQDNs)."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def cidr_within(inner: str, outer: str) -> bool:
    """True when every address of `inner` (IP or CIDR) lies inside `outer`."""
    inner_net, outer_net = network(inner), network(outer)
    if inner_net is None or outer_net is None or inner_net.version != outer_net.version:
        return False
    return inner_net.subnet_of(outer_net)  # type: ignore[arg-type]


def within_any(inner: str, outers: Sequence[str]) -> bool:
    return any(cidr_within(inner, outer) for outer in outers)


def is_public(address: str) -> bool:
    net = network(address)
    return net is not None and net.is_global


def address_in(prefix_spec: str, address: str, vnet_prefixes: Sequence[str] = ()) -> bool:
    """Does an NSG/firewall address spec (CIDR, IP, *, Any, service tag) cover `address` (IP or CIDR)?

    Service tags: VirtualNetwork is the VNet's address space (with peered spaces); Internet is public
    address space outside it; AzureLoadBalancer is the health probe address. Other service tags
    (AzureCloud[.region], Storage, ...) are address lists (`tag_holds`): not covered here.
    """
    spec = prefix_spec.strip()
    lowered = spec.lower()
    if lowered in ("*", "any", "0.0.0.0/0"):
        return True
    if lowered == "virtualnetwork":
        return within_any(address, vnet_prefixes)
    if lowered == "internet":
        return is_public(address) and not within_any(address, vnet_prefixes)
    if lowered == "azureloadbalancer":
        return cidr_within(address, AZURE_LOAD_BALANCER)
    return cidr_within(address, spec)


def tag_holds(tag: str, address: str, tags: Mapping[str, Sequence[str]]) -> bool | None:
    """Whether every address of `address` lies in the service tag's published prefixes (the Service Tag
    Discovery API); None when the tag's prefixes were not collected."""
    prefixes = tags.get(tag.strip().lower())
    if prefixes is None:  # unknown, except that these tags list public ranges: a private address is in none
        return None if is_public(address) else False
    return within_any(address, prefixes)


def port_in(port_spec: str, port: int) -> bool:
    """ "*", "443", "1-65535" (and comma lists, which some exports print)."""
    for part in port_spec.split(","):
        part = part.strip().lower()
        if part in ("*", "any"):
            return True
        low, _, high = part.partition("-")
        try:
            if int(low) <= port <= int(high or low):
                return True
        except ValueError:
            continue
    return False


def protocol_matches(rule_protocol: str, protocol: str) -> bool:
    return rule_protocol.strip().lower() in ("*", "any", protocol.lower())


def fqdn_matches(pattern: str, fqdn: str) -> bool:
    """Azure Firewall FQDN matching: exact, or "*.example.com" for any name under it; "*" matches all."""
    pattern, fqdn = pattern.strip().lower().rstrip("."), fqdn.strip().lower().rstrip(".")
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return fqdn.endswith(pattern[1:])
    if pattern.startswith("*"):
        return fqdn.endswith(pattern[1:])
    return pattern == fqdn
