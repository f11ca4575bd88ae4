"""Every setting of the app and the CLI, read from the environment (Function app settings).

Each setting has a default and a meaning (the string after its field), from which
`python -m tools.settings_doc` writes docs/settings.md. Check thresholds are declared next to their
check (`Limits` in checks/<check>.py, described the same way) and read here as
`AKS_REACH_<CHECK_ID>_<FIELD>`, e.g. `AKS_REACH_HELM_HISTORY_FAIL_REVISIONS=50`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from checks.check import Check
from checks.registry import CHECKS
from model.errors import SettingsError

PREFIX = "AKS_REACH_"


def limit_setting_name(check_id: str, field_name: str) -> str:
    return f"{PREFIX}{check_id.upper().replace('-', '_')}_{field_name.upper()}"


@dataclass(frozen=True)
class Settings:
    """Field defaults are the documented defaults; `from_env` reads `AKS_REACH_<FIELD>` (upper case).

    The string after each field is its meaning on the settings page, and a `# --- <group> ---` line
    starts a group of it (`python -m tools.settings_doc` writes docs/settings.md from both).
    """

    # Check thresholds, by check id (instances of each check's `Limits`).
    limits: Mapping[str, Any] = field(default_factory=dict)
    # --- Every run: owners and exemptions ---
    owner_tag: str = "owner"
    """cluster tag whose value names the cluster's owners (comma-separated)"""
    mute_by_tag: bool = False
    """`true`: cluster owners may mute their own cluster's findings with the `AKS_REACH_MUTE_TAG` tag
    ([exemptions](exemptions.md#exemptions-by-cluster-tag))"""
    mute_tag: str = "aks-reach-mute"
    """cluster tag of owners' exemptions, `<check>[,<check>]:<YYYY-MM-DD>:<reason>`, entries separated by `;`"""
    # --- Live runs (the command line and the Function app) ---
    clients: str = ""
    """clients every cluster must admit, as JSON: `[{"name": "ci", "ips": ["203.0.113.0/28"]}]`; a `--context`
    file or a snapshot's `context.json` that lists clients replaces it
    ([snapshot folders](snapshot.md#who-must-reach-the-api-server))"""
    clients_tag: str = "aks-reach-clients"
    """cluster tag whose value lists more client addresses of that cluster (`203.0.113.4,198.51.100.0/24`),
    always added; set it with `az tag update --operation Merge`"""
    # Each cluster mostly waits on Kubernetes and ARM answers, about 14 in a row (1.4 s at 100 ms an answer),
    # and costs about 0.65 MiB while it runs. bench/sweep.py, 5,000 clusters at 100 ms on two cores: 128 leaves
    # the cores idle a sixth of the time, 160 keeps them busy in the same time as 192 in less memory, 256 spends
    # the gain on the threads' hand-offs.
    concurrency: int = 160
    """clusters collected at once in a live run, over all its processes (fewer hold less memory, below about
    128 the cores wait: [performance](performance.md)); at most this many of each kind of the Function timer's
    threads (48 readers, 16 senders: [the timer's fan-out](function-app-scale.md#the-timers-fan-out))"""
    processes: int = 0
    """processes of a command-line live run, each with its share of `AKS_REACH_CONCURRENCY`; `0`: one per core
    once there are 200 clusters a process, on Linux (forked; elsewhere one)"""
    request_timeout_seconds: float = 30.0
    """timeout of each Azure or Kubernetes call (429/5xx are retried with backoff, honouring Retry-After)"""
    probe_timeout_seconds: float = 5.0
    """TCP connect and TLS handshake timeout of the API server probe"""
    read_secrets: bool = False
    """`true`: list Helm release Secrets (names and labels only) for helm-history; even that needs `list` on
    Secrets, which also allows reading their values: by default Secrets are left out and helm-history is
    `skipped`, saying so"""
    use_local_account_token: bool = False
    """`true`: read clusters whose user kubeconfig holds a static token (local accounts, which are
    cluster-admin); by default their Kubernetes checks are `skipped`, naming the fix
    (`az aks update --enable-aad --disable-local-accounts`)"""
    kube_max_read_mb: int = 32
    """per cluster, MiB its Kubernetes reads may bring in (after decompression); past it the sources left are
    `skipped`, naming the bound ([Kubernetes reads](kubernetes-reads.md#bounds))"""
    kube_max_objects: int = 25_000
    """per cluster, objects (list items and objects read by name) its Kubernetes reads may bring in; past it,
    as above"""
    arm_endpoint: str = "https://management.azure.com"
    """Azure Resource Manager endpoint (set it for sovereign clouds)"""
    logs_endpoint: str = "https://api.loganalytics.io/v1"
    """Log Analytics query endpoint (set it for sovereign clouds)"""
    app_insights_connection: str = field(
        default="", repr=False, metadata={"env": "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    )
    """when set, every sweep sends one `AksApiReachFinding` custom event per finding and one `AksApiReachSweep`
    event (the command line too)"""
    # --- The Function app: the timer sweep and change-driven rechecks ---
    schedule: str = "0 0 * * * *"
    """NCRONTAB schedule (UTC) of the sweep timer (the trigger reads it as `%AKS_REACH_SCHEDULE%`): hourly by
    default"""
    subscriptions: tuple[str, ...] = ()
    """comma-separated subscription ids the timer sweeps; empty: every subscription the identity can read"""
    management_group: str = ""
    """management group the timer sweeps instead of subscriptions"""
    queue: str = "aks-reach-clusters"
    """storage queue with one message per cluster to check (its poison queue is `<name>-poison`)"""
    state_table: str = "aksreachstate"
    """Table Storage table of the sweeps' bookkeeping and each cluster's last failing checks (Teams hears only
    of changes)"""
    sweep_deadline_minutes: int = 90
    """a sweep still open this long after it started is closed by the next timer run, its unchecked clusters
    as `error`; while a younger sweep drains, the timer starts none (keep it between one and two schedule
    periods)"""
    timer_step_timeout_seconds: float = 60.0
    """how long each step of the timer before discovery (creating the state table on a process's first run,
    reading open sweeps from it, the mute list, the identity's token) may take; past it the run logs the step
    and stops, opening no sweep (the next run tries again)"""
    recheck_delay_seconds: float = 20.0
    """how long a change-driven recheck waits after the first write that affects a cluster, so the writes of
    one deployment coalesce into one recheck ([change-driven checks](change-driven-checks.md))"""
    event_retry_minutes: int = 120
    """how long a delivered change event's id is remembered, so Event Grid's retries of it recheck nothing
    again; at least the event subscription's time to live (60 minutes in the template)
    ([change-driven checks](change-driven-checks.md))"""
    # --- The Function app: the HTTP check ---
    http_budget_seconds: float = 100.0
    """the HTTP check answers 504 when a cluster takes longer (the Functions front end cuts at 230 s)"""
    http_auth: str = "entra"
    """who may call the HTTP check: `entra` (App Service authentication and the app role below) or
    `function-key` (the host's function key, a shared secret); the trigger's auth level follows it
    ([the HTTP check](function-app.md#the-http-check-authentication-and-scope))"""
    http_role: str = "AksApiReach.Check"
    """app role a caller's Entra ID token must carry for the HTTP check"""
    http_callers: str = ""
    """optional allow-list, JSON: caller object id to the subscription ids and cluster ARM ids it may check,
    `{"<object id>": ["<subscription id>", "<cluster id>"]}`; empty: any caller with the role, within the
    sweep's scope"""
    easy_auth_enabled: bool = field(default=False, metadata={"env": "WEBSITE_AUTH_ENABLED"})
    """set by App Service when its authentication is on (never set it yourself): only then are the caller
    headers App Service's own, not a caller's"""
    # --- The Function app: notifications and exemptions ---
    caller_names: bool = False
    """`true`: finding events, logs and the recheck bookkeeping name who changed a resource (name and UPN); by
    default they keep the object id, and only the Teams card names the person"""
    portal_url: str = "https://portal.azure.com"
    """Azure portal base of the links in Teams cards (sovereign clouds have their own)"""
    mute_list: str = ""
    """the Function app's mute list inline, as JSON (`{"mutes": [...]}`, [exemptions](exemptions.md))"""
    mute_list_blob: str = ""
    """instead: URL of a blob holding the mute list (YAML or JSON), read with the app's identity and re-read
    every 5 minutes; a missing blob mutes nothing"""
    teams_webhooks: str = field(default="", repr=False)
    """secret: JSON map of owner (or, for root-cause cards, subscription id) to Teams Workflows webhook URL,
    `{"team-payments": "https://..."}` (a Key Vault reference in Azure; never logged)"""
    teams_default_webhook: str = field(default="", repr=False)
    """secret: webhook for clusters whose owners have none in the map; empty: those clusters send no card"""
    # Cards carry cluster facts: they go to no host but Teams Workflows' and the legacy connectors'.
    teams_webhook_hosts: tuple[str, ...] = ("*.logic.azure.com", "*.api.powerplatform.com", "*.webhook.office.com")
    """hosts (shell patterns) a Teams webhook URL may point at; a URL elsewhere stops the app's start, naming
    the setting"""
    # --- The Function app: storage ---
    storage_connection: str = field(default="", repr=False, metadata={"env": "AzureWebJobsStorage"})
    """storage connection string of the queue and state table (Azurite locally); in Azure the identity-based
    `__queueServiceUri` / `__tableServiceUri` settings are used instead"""
    storage_queue_uri: str = field(default="", metadata={"env": "AzureWebJobsStorage__queueServiceUri"})
    """queue service URI, used with the managed identity (`AzureWebJobsStorage__credential=managedidentity`)"""
    storage_table_uri: str = field(default="", metadata={"env": "AzureWebJobsStorage__tableServiceUri"})
    """table service URI, used with the managed identity"""

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
    """Every threshold setting name with its default (for docs/settings.md and local.settings.sample.json)."""
    return {
        limit_setting_name(check.id, limit.name): limit.default
        for check in CHECKS
        if dataclasses.is_dataclass(check.limits)
        for limit in dataclasses.fields(check.limits)
    }
