"""Who must reach each cluster's API server: the context layers and their precedence (docs/snapshot.md).

Least specific first: AKS_REACH_CLIENTS, then --context, then an estate's context.json, then a cluster's
own context.json. A key set by a later layer replaces the earlier layers' value (a cluster that lists its
clients lists all of them). The clients that a cluster's `aks-reach-clients` tag names are always added.
"""

from __future__ import annotations

import json
from typing import Any

from collect.parse import clients_from_context
from model.errors import SettingsError
from sweep.core.settings import Settings


def layered(*layers: dict[str, Any]) -> dict[str, Any]:
    """Layers least specific first; a key of a later layer replaces the earlier ones'."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def settings_layer(settings: Settings) -> dict[str, Any]:
    """AKS_REACH_CLIENTS as the least specific context layer (empty when unset), validated like
    context.json: a bad value is a SettingsError naming it."""
    if not settings.clients:
        return {}
    try:
        declared = json.loads(settings.clients)
        clients_from_context({"clients": declared})
    except ValueError as exc:
        raise SettingsError(f"AKS_REACH_CLIENTS: {exc}") from None
    return {"clients": declared}
