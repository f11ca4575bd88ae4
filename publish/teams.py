"""Teams notifications: a card per cluster whose failing checks changed, to each owner's webhook.

Routing: the cluster's owners (its owner tag) pick webhooks from AKS_REACH_TEAMS_WEBHOOKS (owner names
match case-insensitively); owners without an entry, and clusters without owners, go to
AKS_REACH_TEAMS_DEFAULT_WEBHOOK; a URL shared by several owners is posted once.

When: new failures = failing now minus last notified; resolved = last notified minus failing now. A check
whose finding is `error` (collection failed) or muted (README "Exemptions") keeps its last notified state:
it neither fails anew nor resolves, so muted findings send no card. A card goes out only when something
is new or resolved, and the new state is written only after every webhook accepted it, so a failing webhook is retried next sweep and a retried queue message
finds nothing changed (idempotent).

Concurrency: every write to the cluster's state row is conditional on the ETag read. A delivery claims the
row (its sweep and a deadline) before it posts, so of two deliveries at once one posts and the other finds
the claim; a result of a sweep older than the row's sweep changes nothing (a late redelivery cannot undo a
newer sweep's "resolved"); an unchanged result still moves the row to its sweep for that reason.

Webhook URLs are secrets: logs, errors and outcomes name a webhook by its owner, never by its URL. Posts
use the standard library's HTTP client on purpose: it logs nothing (urllib3 logs request paths at DEBUG).
"""

from __future__ import annotations

import contextlib
import email.utils
import fnmatch
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from model.errors import SettingsError
from model.etag_retry import RacesLost, retry_on_conflict
from model.finding import ClusterResult, Status
from publish.notify_state import NotificationState, Notified, StateConflict, SweepRef
from publish.root_cause_card import CauseChange, PrecedingChange, root_cause_message
from publish.root_cause_state import CauseRow, RootCauseState
from publish.teams_card import FailureChange, encode_message, teams_message

LOGGER = logging.getLogger("aks_api_reach.teams")
WEBHOOKS_SETTING = "AKS_REACH_TEAMS_WEBHOOKS"
DEFAULT_WEBHOOK_SETTING = "AKS_REACH_TEAMS_DEFAULT_WEBHOOK"
HOSTS_SETTING = "AKS_REACH_TEAMS_WEBHOOK_HOSTS"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})  # plain http only for local test servers
KEY_VAULT_REFERENCE = "@microsoft.keyvault("
DEFAULT_LABEL = "default webhook"
CLAIM_MARGIN_SECONDS = 30.0  # a posting delivery's claim lasts its senders' budgets plus this


# --- webhooks and routing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    """A webhook URL (a secret, kept out of repr) and the owner name logs and outcomes use for it."""

    label: str
    url: str = field(repr=False)


def validate_webhook_url(url: str, setting: str, allowed_hosts: Sequence[str], owner: str | None = None) -> str:
    """The URL itself when usable; otherwise a SettingsError naming the setting (and owner), never the URL.
    Usable: https to a host of `allowed_hosts` (shell patterns), or plain http to a local test server."""
    where = f"{setting} (owner {owner!r})" if owner else setting
    url = url.strip()
    if url.lower().startswith(KEY_VAULT_REFERENCE):
        raise SettingsError(
            f"{where} is an unresolved Key Vault reference: give the app's identity 'Key Vault Secrets User' on the vault"
        )
    parts = urlsplit(url)
    local = parts.scheme == "http" and (parts.hostname or "") in LOCAL_HOSTS
    if not parts.hostname or not (parts.scheme == "https" or local):
        raise SettingsError(f"{where} is not an https URL")
    if not local and not any(fnmatch.fnmatchcase(parts.hostname.lower(), host.lower()) for host in allowed_hosts):
        raise SettingsError(f"{where} points at a host outside {HOSTS_SETTING}: cards go to Teams webhooks only")
    return url


@dataclass(frozen=True)
class WebhookRoutes:
    """Owner (case-folded) -> webhook, and the webhook for everyone else."""

    by_owner: Mapping[str, Webhook] = field(default_factory=dict)
    default: Webhook | None = None

    @classmethod
    def parse(cls, webhooks_json: str, default_url: str, allowed_hosts: Sequence[str]) -> WebhookRoutes:
        """From AKS_REACH_TEAMS_WEBHOOKS (JSON owner -> URL), AKS_REACH_TEAMS_DEFAULT_WEBHOOK and the hosts
        AKS_REACH_TEAMS_WEBHOOK_HOSTS allows."""
        by_owner: dict[str, Webhook] = {}
        raw = webhooks_json.strip()
        if raw:
            try:
                mapping = json.loads(raw)
            except json.JSONDecodeError:
                mapping = None
            if not isinstance(mapping, dict):
                raise SettingsError(
                    f'{WEBHOOKS_SETTING} is not a JSON object of owner to webhook URL ({{"team": "https://..."}})'
                )
            for owner, url in mapping.items():
                if not isinstance(url, str) or not str(owner).strip():
                    raise SettingsError(
                        f"{WEBHOOKS_SETTING}: the entry of owner {owner!r} is not an owner name and a URL"
                    )
                name = str(owner).strip()
                by_owner[name.casefold()] = Webhook(
                    name, validate_webhook_url(url, WEBHOOKS_SETTING, allowed_hosts, name)
                )
        default_url = default_url.strip()
        default = (
            Webhook(DEFAULT_LABEL, validate_webhook_url(default_url, DEFAULT_WEBHOOK_SETTING, allowed_hosts))
            if default_url
            else None
        )
        return cls(by_owner, default)

    def for_owners(self, owners: Sequence[str]) -> list[Webhook]:
        """One webhook per distinct URL, labelled with every owner it serves, in owner order."""
        chosen: dict[str, list[str]] = {}
        for owner in owners or ("",):
            webhook = self.by_owner.get(owner.strip().casefold()) if owner.strip() else None
            webhook = webhook or self.default
            if webhook is not None:
                labels = chosen.setdefault(webhook.url, [])
                label = webhook.label if webhook is not self.default else DEFAULT_LABEL
                if label not in labels:
                    labels.append(label)
        return [Webhook(", ".join(labels), url) for url, labels in chosen.items()]

    def for_cause(self, owners: Sequence[str], subscription: str) -> list[Webhook]:
        """A root cause's owners: the entries named by the resource's owner tag (the hub team that tagged its
        firewall policy), else the entry named by the subscription that holds it (the connectivity subscription
        -> the network team's channel), else the default webhook."""
        tagged = [
            self.by_owner[owner.strip().casefold()] for owner in owners if owner.strip().casefold() in self.by_owner
        ]
        if tagged:
            return list({webhook.url: webhook for webhook in tagged}.values())
        webhook = self.by_owner.get(subscription.strip().casefold()) if subscription.strip() else None
        if webhook is not None:
            return [webhook]
        return [Webhook(DEFAULT_LABEL, self.default.url)] if self.default else []


# --- sending -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    webhook: str  # the label, never the URL
    accepted: bool
    attempts: int
    reason: str


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET without the card: report it instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class TeamsSender:
    """Posts messages to webhooks: timeouts always set, 429/5xx and network errors retried with backoff
    (honouring Retry-After) within `max_attempts` and `budget_seconds`, posts to one URL paced below
    Teams' 4 requests per second."""

    def __init__(
        self,
        routes: WebhookRoutes,
        timeout_seconds: float = 30.0,
        max_attempts: int = 4,
        budget_seconds: float = 60.0,
        backoff_seconds: float = 1.0,
        min_interval_seconds: float = 0.3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.routes = routes
        self.timeout_seconds = timeout_seconds
        self.max_attempts = max_attempts
        self.budget_seconds = budget_seconds
        self.backoff_seconds = backoff_seconds
        self.min_interval_seconds = min_interval_seconds
        self._sleep = sleep
        self._opener = urllib.request.build_opener(_NoRedirects())
        self._last_post: dict[str, float] = {}
        self._pace_lock = threading.Lock()

    def deliver(self, webhook: Webhook, message: Mapping[str, Any]) -> Delivery:
        body = encode_message(message)
        deadline = time.monotonic() + self.budget_seconds
        problem = "not attempted"
        for attempt in range(1, self.max_attempts + 1):
            self._pace(webhook.url)
            status, retry_after, problem = self._post_once(webhook, body)
            if status is not None and not problem:
                return Delivery(webhook.label, True, attempt, f"accepted (HTTP {status})")
            retryable = status is None or status == 429 or status >= 500
            if not retryable:
                return Delivery(webhook.label, False, attempt, problem)
            if attempt == self.max_attempts:
                break
            wait = retry_after if retry_after is not None else self.backoff_seconds * 2 ** (attempt - 1)
            if time.monotonic() + wait > deadline:
                return Delivery(
                    webhook.label,
                    False,
                    attempt,
                    f"{problem}; no retry: waiting {wait:g} s would pass the {self.budget_seconds:g} s budget",
                )
            self._sleep(wait)
        return Delivery(webhook.label, False, self.max_attempts, f"{problem} (after {self.max_attempts} attempts)")

    def _pace(self, url: str) -> None:
        with self._pace_lock:
            now = time.monotonic()
            start = max(now, self._last_post.get(url, 0.0) + self.min_interval_seconds)
            self._last_post[url] = start
        if start > now:
            self._sleep(start - now)

    def _post_once(self, webhook: Webhook, body: bytes) -> tuple[int | None, float | None, str]:
        """(HTTP status or None, Retry-After seconds, problem or ""); every text is free of the URL."""
        request = urllib.request.Request(
            webhook.url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        try:
            with self._opener.open(request, timeout=self.timeout_seconds) as response:
                status, text = response.status, response.read(2048).decode("utf-8", "replace").strip()
        except urllib.error.HTTPError as error:
            retry_after = parse_retry_after(error.headers.get("Retry-After")) if error.headers else None
            return error.code, retry_after, f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            return None, None, redact(f"request failed: {type(error).__name__}: {reason}", webhook.url)
        # Workflows answer 202 with no body; legacy connectors 200 "1", and 200 with an error text otherwise.
        if status == 200 and text not in ("", "1"):
            return status, None, redact(f"HTTP 200 with an error: {text[:200]}", webhook.url)
        return status, None, ""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def redact(text: str, url: str) -> str:
    """Removes the URL and its parts from a message (a TLS error may name the host, for example)."""
    parts = urlsplit(url)
    for secret in (url, parts.path, parts.query, parts.netloc, parts.hostname or ""):
        if len(secret) > 1:
            text = text.replace(secret, "<webhook>")
    return text


# --- the worker's entry point ----------------------------------------------------------------------------


class OutcomeStatus(StrEnum):
    SENT = "sent"  # every webhook accepted the card; state saved
    UNCHANGED = "unchanged"  # same failing checks as last notified: nothing to send
    SKIPPED = "skipped"  # changed, but no webhook for the cluster's owners (state not saved)
    FAILED = "failed"  # a webhook or the state table failed; retried next sweep
    STALE = "stale"  # the result is older than the sweep Teams last heard from: not applied
    BUSY = "busy"  # another delivery is posting this cluster's card right now


@dataclass(frozen=True)
class NotificationOutcome:
    cluster_id: str
    owners: tuple[str, ...]
    status: OutcomeStatus
    reason: str  # never holds a URL
    new: tuple[str, ...] = ()
    resolved: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()  # labels of the webhooks posted to


def failure_change(result: ClusterResult, last_notified: frozenset[str]) -> FailureChange:
    order = [finding.check for finding in result.findings]
    order += sorted(last_notified - set(order))  # a check no longer reported at all counts as resolved
    failing = {finding.check for finding in result.findings if finding.status is Status.FAIL and not finding.muted}
    # Unknown (error) and muted checks keep their last notified state: a mute sends neither a new nor a
    # resolved card; once it expires, a check that failed meanwhile is new again.
    unknown = {finding.check for finding in result.findings if finding.status is Status.ERROR or finding.muted}
    current = failing | (last_notified & unknown)
    return FailureChange(
        new=tuple(check for check in order if check in current - last_notified),
        still=tuple(check for check in order if check in current & last_notified),
        resolved=tuple(check for check in order if check in last_notified - current),
    )


def notify(
    results: Sequence[ClusterResult], sweep: SweepRef, state: NotificationState, sender: TeamsSender, portal_url: str
) -> list[NotificationOutcome]:
    """Sends each changed cluster's card and records what was notified; one outcome per cluster, never raises
    for one cluster's trouble (it is in that cluster's outcome)."""
    outcomes = []
    for result in results:
        outcome = _notify_one(result, sweep, state, sender, portal_url)
        level = logging.WARNING if outcome.status is OutcomeStatus.FAILED else logging.INFO
        LOGGER.log(level, "Teams %s: %s (%s)", outcome.status.value, result.cluster.name, outcome.reason)
        outcomes.append(outcome)
    return outcomes


def _notify_one(
    result: ClusterResult, sweep: SweepRef, state: NotificationState, sender: TeamsSender, portal_url: str
) -> NotificationOutcome:
    cluster = result.cluster

    def outcome(
        status: OutcomeStatus, reason: str, change: FailureChange | None = None, **more: Any
    ) -> NotificationOutcome:
        changes = {"new": change.new, "resolved": change.resolved} if change else {}
        return NotificationOutcome(cluster.id, result.owners, status, reason, **changes, **more)

    def decide_once() -> NotificationOutcome:
        try:
            last = state.read(cluster)
        except Exception as error:  # the table's trouble is this cluster's outcome, not the whole sweep's
            return outcome(OutcomeStatus.FAILED, f"state table not readable: {type(error).__name__}")
        now = datetime.now(UTC)
        if last.sweep and last.sweep.newer_than(sweep):
            return outcome(OutcomeStatus.STALE, f"Teams has the result of the newer sweep {last.sweep.sweep_id}")
        if last.is_claimed(now):
            return outcome(OutcomeStatus.BUSY, f"sweep {last.claimed_by} is posting this cluster's card")
        change = failure_change(result, last.failing)
        try:
            if not change.changed:
                if last.sweep != sweep:  # the row moves to this sweep, so an older sweep's result cannot apply
                    state.write(cluster, last, last.failing, sweep)
                return outcome(OutcomeStatus.UNCHANGED, f"{len(change.still)} failing checks, as last notified")
            webhooks = sender.routes.for_owners(result.owners)
            if not webhooks:
                owners = ", ".join(result.owners) or "no owner tag"
                return outcome(OutcomeStatus.SKIPPED, f"no webhook for {owners} and no default webhook", change)
            claim = timedelta(seconds=sender.budget_seconds * len(webhooks) + CLAIM_MARGIN_SECONDS)
            claimed = state.write(cluster, last, last.failing, last.sweep, sweep.sweep_id, now + claim)
        except StateConflict:
            raise  # another delivery wrote the row since it was read: read it and decide again
        except Exception as error:
            return outcome(OutcomeStatus.FAILED, f"state not saved: {type(error).__name__}", change)
        return _send(result, change, webhooks, sweep, state, claimed, last, sender, portal_url, outcome)

    try:
        return retry_on_conflict(decide_once, f"Teams state of {cluster.name}")
    except RacesLost as lost:
        return outcome(OutcomeStatus.FAILED, str(lost))


def _send(
    result: ClusterResult,
    change: FailureChange,
    webhooks: Sequence[Webhook],
    sweep: SweepRef,
    state: NotificationState,
    claimed: Notified,
    last: Notified,
    sender: TeamsSender,
    portal_url: str,
    outcome: Callable[..., NotificationOutcome],
) -> NotificationOutcome:
    """Posts the card under this delivery's claim, then saves the new state (or gives the claim back)."""
    message = teams_message(result, change, portal_url)
    deliveries = [sender.deliver(webhook, message) for webhook in webhooks]
    labels = tuple(delivery.webhook for delivery in deliveries)
    refused = [f"{delivery.webhook}: {delivery.reason}" for delivery in deliveries if not delivery.accepted]
    if refused:
        with contextlib.suppress(Exception):  # if this fails too, the claim lapses on its own
            state.write(result.cluster, claimed, last.failing, last.sweep)
        return outcome(OutcomeStatus.FAILED, "not accepted by " + "; ".join(refused), change, webhooks=labels)
    try:
        state.write(result.cluster, claimed, change.new + change.still, sweep)
    except Exception as error:  # sent but not recorded: the next sweep sends it again (better twice than never)
        return outcome(
            OutcomeStatus.FAILED, f"sent, but state not saved: {type(error).__name__}", change, webhooks=labels
        )
    summary = f"{len(change.new)} new, {len(change.resolved)} resolved, to {len(deliveries)} webhook(s)"
    return outcome(OutcomeStatus.SENT, summary, change, webhooks=labels)


# --- root causes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RootCauseOutcome:
    key: str
    status: OutcomeStatus
    reason: str  # never holds a URL
    change: str = ""  # opened, grown, resolved
    webhooks: tuple[str, ...] = ()


def notify_root_causes(
    state: RootCauseState,
    sweep: SweepRef,
    sender: TeamsSender,
    portal_url: str,
    keys: Sequence[str] | None = None,
    preceding_change: PrecedingChange | None = None,
) -> list[RootCauseOutcome]:
    """One card per root cause whose clusters changed since its last card (opened, grown or resolved), to the
    owners of the resource at fault; `keys`: only these (a recheck's), else every root cause (a sweep's close).
    Claims, ETags and sweep order as for cluster cards; never raises for one cause's trouble."""
    try:
        chosen = [row.key for row in state.rows()] if keys is None else list(keys)
    except Exception as error:
        return [RootCauseOutcome("*", OutcomeStatus.FAILED, f"state table not readable: {type(error).__name__}")]
    outcomes = []
    for key in chosen:
        outcome = _notify_cause(key, state, sweep, sender, portal_url, preceding_change)
        level = logging.WARNING if outcome.status is OutcomeStatus.FAILED else logging.INFO
        LOGGER.log(level, "Teams root cause %s: %s (%s)", outcome.status.value, key, outcome.reason)
        outcomes.append(outcome)
    return outcomes


def _notify_cause(
    key: str,
    state: RootCauseState,
    sweep: SweepRef,
    sender: TeamsSender,
    portal_url: str,
    preceding_change: PrecedingChange | None,
) -> RootCauseOutcome:
    def decide_once() -> RootCauseOutcome:
        try:
            row = state.read(key)
            if row is None:
                return RootCauseOutcome(key, OutcomeStatus.UNCHANGED, "no such root cause")
            now = datetime.now(UTC)
            if row.sweep and row.sweep.newer_than(sweep):
                return RootCauseOutcome(key, OutcomeStatus.STALE, f"Teams has the newer sweep {row.sweep.sweep_id}")
            if row.is_claimed(now):
                return RootCauseOutcome(key, OutcomeStatus.BUSY, f"delivery {row.claimed_by} is posting its card")
            change = CauseChange.between(row.notified, row.members)
            if change is None:
                if row.notified != row.members or row.sweep != sweep:  # shrunk: remembered, no card
                    state.write(row, row.members, sweep)
                return RootCauseOutcome(key, OutcomeStatus.UNCHANGED, f"{len(row.members)} clusters, no new one")
            owners = [str(owner) for owner in row.cause.get("owners") or ()]
            webhooks = sender.routes.for_cause(owners, str(row.cause.get("subscription") or ""))
            if not webhooks:
                return RootCauseOutcome(key, OutcomeStatus.SKIPPED, "no webhook for its owners", change.kind)
            claim = timedelta(seconds=sender.budget_seconds * len(webhooks) + CLAIM_MARGIN_SECONDS)
            claimed = state.write(row, row.notified, row.sweep, sweep.sweep_id, now + claim)
        except StateConflict:
            raise  # another delivery wrote the row since it was read: read it and decide again
        except Exception as error:
            return RootCauseOutcome(key, OutcomeStatus.FAILED, f"state not saved: {type(error).__name__}")
        return _send_cause(claimed, row, change, webhooks, state, sweep, sender, portal_url, preceding_change)

    try:
        return retry_on_conflict(decide_once, f"root cause {key}")
    except RacesLost as lost:
        return RootCauseOutcome(key, OutcomeStatus.FAILED, str(lost))


def _send_cause(
    claimed: CauseRow,
    row: CauseRow,
    change: CauseChange,
    webhooks: Sequence[Webhook],
    state: RootCauseState,
    sweep: SweepRef,
    sender: TeamsSender,
    portal_url: str,
    preceding_change: PrecedingChange | None,
) -> RootCauseOutcome:
    message = root_cause_message(claimed.cause, change, portal_url, preceding_change)
    deliveries = [sender.deliver(webhook, message) for webhook in webhooks]
    labels = tuple(delivery.webhook for delivery in deliveries)
    refused = [f"{d.webhook}: {d.reason}" for d in deliveries if not d.accepted]
    key = claimed.key

    def record_once() -> None:  # a cluster's check may move a member meanwhile: record on the fresh row
        nonlocal claimed
        try:
            if refused:
                state.write(claimed, row.notified, row.sweep)
            else:
                state.write(claimed, change.clusters, sweep)
        except StateConflict:
            fresh = state.read(key)
            if fresh is None:
                return
            claimed = fresh
            raise

    try:
        retry_on_conflict(record_once, f"root cause {key}")
    except Exception as error:
        return RootCauseOutcome(key, OutcomeStatus.FAILED, f"state not saved: {type(error).__name__}", change.kind)
    if refused:
        return RootCauseOutcome(key, OutcomeStatus.FAILED, "not accepted by " + "; ".join(refused), change.kind, labels)
    return RootCauseOutcome(
        key, OutcomeStatus.SENT, f"{change.kind}, {len(change.clusters)} clusters", change.kind, labels
    )
