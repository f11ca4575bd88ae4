"""Exemptions, read and applied after evaluation: the mute list (file, setting or blob) and owners' tags.

The list's format is sweep/core/mute-list.schema.json (YAML or JSON). A list that breaks it stops the run
with one line naming the entry (`MuteListError`); matching itself is pure (model/mutes.py).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema

from checks.registry import CHECK_IDS
from collect.documents import DocumentError, load_document
from model.errors import SettingsError
from model.finding import ClusterResult
from model.mutes import MuteRule, TagMuteError, apply_mutes, tag_rules
from model.snapshot import Cluster, frozen_map
from model.text import one_line
from sweep.core.settings import Settings

SCHEMA_PATH = Path(__file__).with_name("mute-list.schema.json")
SELECTORS = ("clusters", "subscriptions", "resourceGroups", "tags")
UNANCHORED = (
    "mutes every check (*) or has no expiry, so it must name its clusters by subscription: `subscriptions` "
    "ids or `clusters` ARM ids, without wildcards in the subscription (a cluster name, resource group or tag "
    "can match clusters in any subscription, and cluster owners set tags)"
)
REFRESH_SECONDS = 300.0  # the Function app re-reads its list this often, so an edit needs no restart

log = logging.getLogger(__name__)


class MuteListError(SettingsError):
    """The mute list cannot be used; the message names the list and the entry."""


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def parse_mute_list(text: str, where: str) -> list[MuteRule]:
    """The rules of a mute list (YAML or JSON text); MuteListError names `where` and the entry at fault."""
    try:
        document = load_document(text) if text.strip() else {"mutes": []}
    except DocumentError as exc:  # the bounded loader every outside document goes through
        raise MuteListError(f"{where}: not a mute list: {exc}") from None
    error = min(_validator().iter_errors(document), key=_error_order, default=None)
    if error is not None:
        raise MuteListError(f"{where}: {_describe(error, document)}")
    rules = [_rule(entry, position) for position, entry in enumerate(document["mutes"], start=1)]
    for rule in rules:
        if rule.broad and not rule.anchored:
            raise MuteListError(f"{where}: {rule.label.removeprefix('mute list ')}: {UNANCHORED}")
    return rules


def _error_order(error: jsonschema.ValidationError) -> tuple[int, int]:
    """The first entry's error first, and within it the most specific one."""
    path = list(error.absolute_path)
    entry = path[1] if len(path) > 1 and isinstance(path[1], int) else -1
    return entry, -len(path)


def _describe(error: jsonschema.ValidationError, document: Any) -> str:
    path = list(error.absolute_path)
    if len(path) < 2 or path[0] != "mutes":
        return "expected an object with a list `mutes:` of entries" if not path else error.message
    entry = document["mutes"][path[1]]
    name = f" ({entry['name']})" if isinstance(entry, dict) and isinstance(entry.get("name"), str) else ""
    field_path = ".".join(str(part) for part in path[2:])
    if error.validator == "anyOf":
        problem = f"names no clusters: give at least one of {', '.join(SELECTORS)}"
    elif error.validator == "enum" and path[2:3] == ["checks"]:
        problem = f"{error.instance!r} is not a check id (known: {', '.join(CHECK_IDS)}, or *)"
    elif error.validator == "format":
        problem = f"{error.instance!r} is not a date (YYYY-MM-DD)"
    elif error.validator in ("minLength", "pattern") and path[2:3] == ["reason"]:
        problem = "reason is empty: say why the finding is accepted"
    else:
        problem = error.message
    return f"entry {path[1] + 1}{name}: {field_path + ': ' if field_path else ''}{problem}"


def _rule(entry: Mapping[str, Any], position: int) -> MuteRule:
    name = entry.get("name")
    return MuteRule(
        label=f"mute list entry {position}" + (f" ({name})" if name else ""),
        checks=frozenset(entry["checks"]),
        reason=entry["reason"].strip(),
        expires=date.fromisoformat(entry["expires"]) if "expires" in entry else None,
        clusters=tuple(entry.get("clusters", ())),
        subscriptions=tuple(entry.get("subscriptions", ())),
        resource_groups=tuple(entry.get("resourceGroups", ())),
        tags=frozen_map(entry.get("tags", {})),
    )


def read_mute_file(path: Path) -> list[MuteRule]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MuteListError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_mute_list(text, str(path))


def read_mute_blob(blob_url: str, credential: Any, connection_verify: str | bool = True) -> list[MuteRule]:
    """The list in a blob of the app's own storage, read with its identity. A missing blob is an empty list
    (nothing is muted), said in the log."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from azure.storage.blob import BlobClient

    where = f"AKS_REACH_MUTE_LIST_BLOB ({blob_url})"
    client = BlobClient.from_blob_url(blob_url, credential=credential, connection_verify=connection_verify)
    try:
        data = client.download_blob().readall()
    except ResourceNotFoundError:
        log.warning("%s: no such blob; nothing is muted", where)
        return []
    except AzureError as exc:
        raise MuteListError(f"{where}: cannot read: {one_line(exc)}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MuteListError(f"{where}: not UTF-8 text") from None
    return parse_mute_list(text, where)


# --- applying them --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvalidTag:
    cluster_id: str
    problem: str


@dataclass(frozen=True)
class MuteReport:
    """What the run made of its exemptions, beside the findings (reported, never fatal)."""

    unused: tuple[str, ...] = ()  # mute-list entries that matched no cluster of the run
    expired: tuple[str, ...] = ()  # mute-list entries past their expiry
    invalid_tags: tuple[InvalidTag, ...] = ()  # owners' mute tags that could not be read (ignored)

    def lines(self) -> list[str]:
        """One warning line each, for the CLI's stderr and the app's log."""
        lines = [f"{label} matches no cluster (unused)" for label in self.unused]
        lines += [f"{label} has expired: its findings are no longer muted" for label in self.expired]
        lines += [f"{tag.cluster_id}: {tag.problem} (ignored)" for tag in self.invalid_tags]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "unused": list(self.unused),
            "expired": list(self.expired),
            "invalidTags": [{"cluster": tag.cluster_id, "problem": tag.problem} for tag in self.invalid_tags],
        }


@dataclass(frozen=True)
class Exemptions:
    """The mute list's rules, and whether owners may mute by tag (AKS_REACH_MUTE_BY_TAG) with which tag."""

    rules: tuple[MuteRule, ...] = ()
    tag: str = ""  # empty: owners' tags are not read

    def apply(
        self,
        results: Iterable[ClusterResult],
        today: date,
        keep: Callable[[Iterable[ClusterResult]], Sequence[ClusterResult]] = list,
    ) -> tuple[Sequence[ClusterResult], MuteReport]:
        """The results with their exemptions, one at a time into `keep` (the CLI keeps a sweep's packed)."""
        matched: set[str] = set()
        invalid: list[InvalidTag] = []

        def exempted() -> Iterator[ClusterResult]:
            for result in results:
                rules, problem = self.rules_for(result.cluster)
                if problem:
                    invalid.append(InvalidTag(result.cluster.id, problem))
                applied = apply_mutes(result, rules, today)
                matched.update(applied.matched)
                yield applied.result

        kept = keep(exempted())
        return kept, self.report(matched, today, invalid)

    def rules_for(self, cluster: Cluster) -> tuple[list[MuteRule], str]:
        """The list's rules, then the cluster's own tag rules when allowed; the tag's problem, if any."""
        if not self.tag:
            return list(self.rules), ""
        try:
            return [*self.rules, *tag_rules(cluster, self.tag, CHECK_IDS)], ""
        except TagMuteError as exc:
            return list(self.rules), str(exc)

    def report(self, matched: Iterable[str], today: date, invalid: Iterable[InvalidTag] = ()) -> MuteReport:
        matched = set(matched)
        return MuteReport(
            unused=tuple(rule.label for rule in self.rules if rule.label not in matched),
            expired=tuple(rule.label for rule in self.rules if not rule.active_on(today)),
            invalid_tags=tuple(invalid),
        )

    def unused_among(self, clusters: Iterable[Cluster], today: date) -> MuteReport:
        """The report of a fanned-out sweep, from the discovered clusters (the timer knows them all)."""
        clusters = list(clusters)
        matched = {rule.label for rule in self.rules if any(rule.matches(cluster) for cluster in clusters)}
        return self.report(matched, today)


@dataclass
class ExemptionSource:
    """The Function app's exemptions: read on first use and again every REFRESH_SECONDS; a list that
    cannot be used raises MuteListError each time it is asked for, until fixed."""

    read: Callable[[], Sequence[MuteRule]]
    tag: str = ""
    refresh_seconds: float = REFRESH_SECONDS
    clock: Callable[[], float] = time.monotonic
    _cached: tuple[float, Exemptions] | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def get(self) -> Exemptions:
        with self._lock:
            now = self.clock()
            if self._cached is None or now - self._cached[0] >= self.refresh_seconds:
                self._cached = (now, Exemptions(tuple(self.read()), self.tag))
            return self._cached[1]


def exemption_source(settings: Settings, credential: Any, connection_verify: str | bool = True) -> ExemptionSource:
    """The Function app's exemptions from its settings: AKS_REACH_MUTE_LIST or AKS_REACH_MUTE_LIST_BLOB."""
    if settings.mute_list and settings.mute_list_blob:
        raise SettingsError("set AKS_REACH_MUTE_LIST or AKS_REACH_MUTE_LIST_BLOB, not both")
    tag = settings.mute_tag if settings.mute_by_tag else ""
    if settings.mute_list_blob:
        return ExemptionSource(lambda: read_mute_blob(settings.mute_list_blob, credential, connection_verify), tag)
    inline = parse_mute_list(settings.mute_list, "AKS_REACH_MUTE_LIST")  # checked now: a typo stops the start
    return ExemptionSource(lambda: inline, tag)
