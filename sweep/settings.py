"""Every setting of the app and the CLI, read from the environment (Function app settings).

Each setting has a default and a line in README ("Settings"). Check thresholds are declared
next to their check (`Limits` in checks/<check>.py) and read here as
`AKS_REACH_<CHECK_ID>_<FIELD>`, e.g. `AKS_REACH_HELM_HISTORY_FAIL_REVISIONS=50`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from checks.finding import Check
from checks.registry import CHECKS
from model.errors import SettingsError

PREFIX = "AKS_REACH_"


def limit_setting_name(check_id: str, field_name: str) -> str:
    return f"{PREFIX}{check_id.upper().replace('-', '_')}_{field_name.upper()}"


@dataclass(frozen=True)
class Settings:
    """Field defaults are the documented defaults; `from_env` reads `AKS_REACH_<FIELD>` (upper case)."""

    # Check thresholds, by check id (instances of each check's `Limits`).
    limits: Mapping[str, Any] = field(default_factory=dict)
    owner_tag: str = "owner"  # cluster tag whose value names the owners (comma-separated)
    # Exemptions (README "Exemptions"): owners may mute their own clusters' findings by tag when allowed.
    mute_by_tag: bool = False
    mute_tag: str = "aks-reach-mute"  # <check>[,<check>]:<YYYY-MM-DD>:<reason>, entries separated by ";"
    # --- live runs ---
    clients: str = ""  # JSON list of clients every cluster must admit, as in context.json
    clients_tag: str = "aks-reach-clients"  # cluster tag listing more client IPs/CIDRs (comma-separated)
    # Clusters collected at once, over all of a sweep's processes: each mostly waits on Kubernetes and ARM
    # answers, about 14 in a row (1.4 s at 100 ms an answer), and each costs about 0.65 MiB while it runs.
    # bench/sweep.py, 5,000 clusters at 100 ms on two cores: 128 leaves the cores idle a sixth of the time,
    # 160 keeps them busy in the same time as 192 (within run-to-run noise) in 174-186 rather than 189-199 MiB,
    # 256 spends the gain on the threads' hand-offs.
    concurrency: int = 160
    # Processes of a command-line sweep, each with its share of `concurrency`; 0: one per core once the
    # estate has 200 clusters a process (Python runs one core per process).
    processes: int = 0
    request_timeout_seconds: float = 30.0  # per Azure or Kubernetes call (retries on 429/5xx come on top)
    probe_timeout_seconds: float = 5.0  # TCP connect and TLS handshake of the API server probe
    # List Helm release Secrets (metadata only) for helm-history. Even a metadata listing needs `list` on Secrets,
    # which also allows reading their values: false leaves Secrets out (helm-history is skipped, saying why).
    read_secrets: bool = False
    # A static token in a cluster's user kubeconfig is a local account's, and local accounts are cluster-admin:
    # false never sends it (the cluster's Kubernetes checks are skipped, saying how to move it to Entra ID).
    use_local_account_token: bool = False
    # Per cluster, what its Kubernetes reads may bring in (docs/kubernetes-reads.md): the read crossing a bound
    # stops, and the sources it and later reads feed are skipped, naming the bound.
    kube_max_read_mb: int = 32  # MiB of answers (after decompression)
    kube_max_objects: int = 25_000  # objects (list items and objects read by name)
    arm_endpoint: str = "https://management.azure.com"  # other clouds: their Resource Manager endpoint
    logs_endpoint: str = "https://api.loganalytics.io/v1"  # other clouds: their Log Analytics endpoint
    # Application Insights: when set, every sweep publishes its findings as custom events.
    app_insights_connection: str = field(
        default="", repr=False, metadata={"env": "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    )
    # --- the Function app ---
    schedule: str = "0 0 * * * *"  # NCRONTAB (UTC) of the sweep timer; the trigger reads it as %AKS_REACH_SCHEDULE%
    subscriptions: tuple[str, ...] = ()  # comma-separated scope of the timer sweep; empty: every readable one
    management_group: str = ""  # scope of the timer sweep instead of subscriptions
    queue: str = "aks-reach-clusters"  # one message per cluster; the worker trigger reads it as %AKS_REACH_QUEUE%
    state_table: str = "aksreachstate"  # sweep bookkeeping, and last failing checks per cluster for Teams
    # A sweep still open this long after it started is closed by the next timer run, its missing clusters as
    # `error`; a younger one is still draining and the timer starts no other (between one and two periods).
    sweep_deadline_minutes: int = 90
    # Each step of the timer before discovery (creating the state table when a process starts, its reads, the mute
    # list, the identity's token) may take this long; past it the run logs the step and stops, having opened
    # nothing (the next run tries again).
    timer_step_timeout_seconds: float = 60.0
    # Change-driven rechecks: Event Grid writes on the same clusters within this window become one recheck.
    recheck_delay_seconds: float = 20.0
    http_budget_seconds: float = 100.0  # the HTTP check answers 504 after this (the front end cuts at 230 s)
    # Who may call the HTTP check (docs/function-app.md, "The HTTP check: authentication and scope"): `entra`
    # (App Service authentication passes the caller's token claims, which must carry `http_role`) or
    # `function-key` (the Functions host's key, a shared secret). The trigger's auth level follows it.
    http_auth: str = "entra"
    http_role: str = "AksApiReach.Check"
    # Optional allow-list, JSON: caller object id -> subscription ids and cluster ARM ids it may check.
    http_callers: str = ""
    # Set by App Service when its authentication is on: only then are the caller headers its own, not a caller's.
    easy_auth_enabled: bool = field(default=False, metadata={"env": "WEBSITE_AUTH_ENABLED"})
    # Who changed a resource, in finding events, logs and the recheck bookkeeping: the object id, or (true)
    # the caller's name and UPN as well. Teams cards always name the person: that is what they are for.
    caller_names: bool = False
    portal_url: str = "https://portal.azure.com"  # links in Teams cards (sovereign clouds have their own)
    # The Function app's mute list: inline JSON, or the URL of a blob read with the app's identity (not both).
    mute_list: str = ""
    mute_list_blob: str = ""
    # Teams: {"owner": "webhook URL"} as JSON, and the webhook of clusters whose owner has none. Both are
    # secrets (Key Vault references in Azure), never logged.
    teams_webhooks: str = field(default="", repr=False)
    teams_default_webhook: str = field(default="", repr=False)
    # Hosts (shell patterns) a webhook URL may point at: Teams Workflows (Logic Apps and Power Platform hosts)
    # and the legacy Office 365 connectors. Cards carry cluster facts: they go to no other host.
    teams_webhook_hosts: tuple[str, ...] = ("*.logic.azure.com", "*.api.powerplatform.com", "*.webhook.office.com")
    # Storage of the queue and the state table: a connection string (Azurite, local runs), or the service
    # URIs used with the managed identity (AzureWebJobsStorage__queueServiceUri / __tableServiceUri).
    storage_connection: str = field(default="", repr=False, metadata={"env": "AzureWebJobsStorage"})
    storage_queue_uri: str = field(default="", metadata={"env": "AzureWebJobsStorage__queueServiceUri"})
    storage_table_uri: str = field(default="", metadata={"env": "AzureWebJobsStorage__tableServiceUri"})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"limits": {check.id: read_limits(check, env) for check in CHECKS}}
        for setting in dataclasses.fields(cls):
            if setting.name == "limits":
                continue
            name = env_name(setting)
            raw = env.get(name, "").strip()
            if raw:
                values[setting.name] = _convert(name, raw, setting.default)
        return cls(**values)


def env_name(setting: dataclasses.Field[Any]) -> str:
    return setting.metadata.get("env") or f"{PREFIX}{setting.name.upper()}"


BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _convert(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if isinstance(default, bool):  # bool("false") is True: spell the values out
        if raw.lower() not in BOOLEANS:
            raise SettingsError(f"{name}={raw!r} is not true or false")
        return BOOLEANS[raw.lower()]
    try:
        return type(default)(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a valid {type(default).__name__}") from None


def read_limits(check: Check, env: Mapping[str, str]) -> Any:
    if not dataclasses.is_dataclass(check.limits):
        return check.limits()
    values: dict[str, Any] = {}
    for limit in dataclasses.fields(check.limits):
        name = limit_setting_name(check.id, limit.name)
        raw = env.get(name)
        if raw is None or raw == "":
            continue
        values[limit.name] = _convert(name, raw, limit.default)
    return check.limits(**values)


def all_limit_settings() -> dict[str, Any]:
    """Every threshold setting name with its default (for README and local.settings.sample.json)."""
    return {
        limit_setting_name(check.id, limit.name): limit.default
        for check in CHECKS
        if dataclasses.is_dataclass(check.limits)
        for limit in dataclasses.fields(check.limits)
    }
