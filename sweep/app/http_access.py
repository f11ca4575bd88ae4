"""Who may use the HTTP check, and on which clusters (docs/function-app.md, "The HTTP check: authentication
and scope"). Every rule here is decided from the request's headers, the settings and, for a management
group scope, the group's subscriptions: before the app makes any call that reads the cluster.

With `AKS_REACH_HTTP_AUTH=entra` App Service authentication ("Easy Auth") validates the caller's Entra ID
token and passes its claims in `X-MS-CLIENT-PRINCIPAL` (base64 JSON: `auth_typ`, `claims` [{typ, val}],
`role_typ`) and the caller's object id in `X-MS-CLIENT-PRINCIPAL-ID`; App Service strips those headers
from incoming requests, which holds only while its authentication is on (`WEBSITE_AUTH_ENABLED`, which it
sets): otherwise a caller could write them, so none is trusted. Learn: "Work with user identities in Azure
App Service authentication" (configure-authentication-user-identities) and "Environment variables and app
settings in Azure App Service" (reference-app-settings, WEBSITE_AUTH_ENABLED).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import azure.functions as func

from model.arm_ids import subscription_of
from model.errors import SettingsError
from sweep.core.settings import Settings

log = logging.getLogger(__name__)

ENTRA = "entra"
FUNCTION_KEY = "function-key"
AUTH_SETTING = "AKS_REACH_HTTP_AUTH"
CALLERS_SETTING = "AKS_REACH_HTTP_CALLERS"
PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"
PRINCIPAL_ID_HEADER = "X-MS-CLIENT-PRINCIPAL-ID"
MAX_PRINCIPAL_CHARS = 32 * 1024  # App Service passes a token's claims; far beyond any real token
ENTRA_PROVIDER = "aad"
# Claim types as App Service maps them (its default claim mapping turns `roles` and `oid` into these URIs).
ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
OBJECT_ID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
GUID = re.compile(r"^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$", re.IGNORECASE)
GROUP_REFRESH_SECONDS = 600.0  # a management group's subscriptions are read again after this
SUBSCRIPTIONS_QUERY = "resourcecontainers | where type =~ 'microsoft.resources/subscriptions' | project subscriptionId"


class Refused(Exception):
    """The request may not be served; `status` is the HTTP status and the message names the rule."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Caller:
    """Who called: an Entra ID principal (object id and app roles), or whoever holds the function key."""

    object_id: str = ""  # lower case; "" when unknown (a function-key request)
    roles: frozenset[str] = frozenset()

    def __str__(self) -> str:
        return f"object id {self.object_id}" if self.object_id else "a function-key holder"


@dataclass
class GroupSubscriptions:
    """A management group's subscriptions, read with `read` (a Resource Graph query) and kept for a while."""

    read: Callable[[], Iterable[str]]
    refresh_seconds: float = GROUP_REFRESH_SECONDS
    clock: Callable[[], float] = time.monotonic
    _cached: tuple[float, frozenset[str]] | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def get(self) -> frozenset[str]:
        with self._lock:
            now = self.clock()
            if self._cached is None or now - self._cached[0] >= self.refresh_seconds:
                self._cached = (now, frozenset(subscription.lower() for subscription in self.read()))
            return self._cached[1]


@dataclass(frozen=True)
class HttpAccess:
    """The HTTP check's rules, from the settings. The defaults refuse everyone: Entra ID mode without App
    Service authentication trusts no caller."""

    mode: str = ENTRA
    role: str = "AksApiReach.Check"
    easy_auth: bool = False
    subscriptions: frozenset[str] = frozenset()  # lower case; empty: no subscription rule
    management_group: str = ""
    group: GroupSubscriptions | None = None  # the management group's subscriptions (with management_group)
    callers: Mapping[str, tuple[str, ...]] | None = None  # object id -> subscriptions / cluster ids; None: no list

    @classmethod
    def from_settings(cls, settings: Settings, group: GroupSubscriptions | None = None) -> HttpAccess:
        """SettingsError names a setting that cannot be used (the app does not start)."""
        mode = settings.http_auth.strip().lower()
        if mode not in (ENTRA, FUNCTION_KEY):
            raise SettingsError(f"{AUTH_SETTING}={settings.http_auth!r} is not {ENTRA} or {FUNCTION_KEY}")
        if mode == ENTRA and not settings.http_role.strip():
            raise SettingsError(f"AKS_REACH_HTTP_ROLE is empty: with {AUTH_SETTING}={ENTRA} it names the app role")
        return cls(
            mode=mode,
            role=settings.http_role.strip(),
            easy_auth=settings.easy_auth_enabled,
            subscriptions=frozenset(subscription.lower() for subscription in settings.subscriptions),
            management_group=settings.management_group,
            group=group,
            callers=parse_callers(settings.http_callers),
        )

    def caller(self, headers: Mapping[str, str]) -> Caller:
        """The authenticated caller; Refused (401, 403 or 500) says why there is none."""
        if not self.easy_auth:
            if self.mode == FUNCTION_KEY:
                return Caller()  # the host checked the key; no header can be trusted to say more
            raise Refused(
                500,
                f"{AUTH_SETTING}={ENTRA} needs App Service authentication, which is off on this app: no caller "
                "can be trusted, so none is served",
            )
        encoded = headers.get(PRINCIPAL_HEADER, "")
        if not encoded:
            if self.mode == FUNCTION_KEY:
                return Caller()
            raise Refused(401, "no authenticated caller: call with an Entra ID token for this app")
        caller = principal(encoded, headers.get(PRINCIPAL_ID_HEADER, ""))
        if self.mode == ENTRA and self.role not in caller.roles:
            raise Refused(403, f"{caller} does not hold the app role {self.role} (AKS_REACH_HTTP_ROLE)")
        return caller

    def check_scope(self, caller: Caller, cluster_id: str) -> None:
        """Refused (403, naming the rule) when the cluster is outside the sweep's scope or the caller's list."""
        subscription = subscription_of(cluster_id)
        if self.subscriptions and subscription not in self.subscriptions:
            raise Refused(403, "the cluster's subscription is not in the sweep's scope (AKS_REACH_SUBSCRIPTIONS)")
        if self.management_group:
            members = self.group.get() if self.group is not None else frozenset()  # no reader: nothing is in it
            if subscription not in members:
                raise Refused(
                    403,
                    "the cluster's subscription is not in the sweep's management group (AKS_REACH_MANAGEMENT_GROUP)",
                )
        if self.callers is None:
            return
        allowed = self.callers.get(caller.object_id) if caller.object_id else None
        if allowed is None:
            raise Refused(403, f"{caller} is not listed in {CALLERS_SETTING}")
        if not any(entry in (subscription, cluster_id.lower()) for entry in allowed):
            raise Refused(403, f"{CALLERS_SETTING} does not let {caller} check this cluster")


def principal(encoded: str, object_id_header: str) -> Caller:
    """The caller App Service describes; Refused (401) when the header cannot be read as an Entra ID principal."""
    if len(encoded) > MAX_PRINCIPAL_CHARS:
        raise Refused(401, f"{PRINCIPAL_HEADER} is over {MAX_PRINCIPAL_CHARS} characters")
    try:
        document = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise Refused(401, f"{PRINCIPAL_HEADER} is not base64 JSON") from None
    claims = document.get("claims") if isinstance(document, dict) else None
    if not isinstance(claims, list) or document.get("auth_typ", ENTRA_PROVIDER) != ENTRA_PROVIDER:
        raise Refused(401, f"{PRINCIPAL_HEADER} is not an Entra ID principal")
    role_types = {*ROLE_CLAIMS, str(document.get("role_typ") or "")}
    values = [(claim.get("typ"), claim.get("val")) for claim in claims if isinstance(claim, dict)]
    roles = frozenset(value for kind, value in values if kind in role_types and isinstance(value, str))
    object_id = object_id_header.strip() or next(
        (value for kind, value in values if kind in OBJECT_ID_CLAIMS and isinstance(value, str)), ""
    )
    if not GUID.match(object_id):
        raise Refused(401, f"{PRINCIPAL_HEADER} names no object id")
    return Caller(object_id.lower(), roles)


def parse_callers(raw: str) -> dict[str, tuple[str, ...]] | None:
    """AKS_REACH_HTTP_CALLERS: {"<object id>": ["<subscription id>", "<cluster ARM id>", ...]}; None when unset."""
    if not raw.strip():
        return None
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise SettingsError(f'{CALLERS_SETTING} is not a JSON object {{"<object id>": ["<subscription id>", ...]}}')
    callers: dict[str, tuple[str, ...]] = {}
    for object_id, entries in document.items():
        if not GUID.match(object_id):
            raise SettingsError(f"{CALLERS_SETTING}: {object_id[:60]!r} is not an object id (a GUID)")
        if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
            raise SettingsError(f"{CALLERS_SETTING}: {object_id} should list subscription ids and cluster ids")
        for entry in entries:
            if not (GUID.match(entry) or subscription_of(entry)):
                raise SettingsError(
                    f"{CALLERS_SETTING}: {object_id}: {entry[:120]!r} is neither a subscription id nor a cluster id"
                )
        callers[object_id.lower()] = tuple(entry.strip().rstrip("/").lower() for entry in entries)
    return callers


def trigger_auth_level(environ: Mapping[str, str]) -> func.AuthLevel:
    """The HTTP trigger's auth level, read when the host indexes the app (before any Runtime exists): the
    function key only where AKS_REACH_HTTP_AUTH asks for it; with Entra ID App Service authenticates callers
    and the function checks their role. An unknown value keeps the key (and the Runtime refuses to start)."""
    mode = environ.get(AUTH_SETTING, ENTRA).strip().lower() or ENTRA
    return func.AuthLevel.ANONYMOUS if mode == ENTRA else func.AuthLevel.FUNCTION
