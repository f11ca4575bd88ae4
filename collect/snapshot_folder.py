"""Snapshot folders on disk <-> `RawCluster` (the layout is docs/snapshot.md).

An optional `<cluster>/problems.json` records why a source is missing
(`{"kube:pods": {"kind": "unavailable", "message": "..."}}`), so a saved live run evaluates
offline with the same verdicts and reasons.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collect.documents import MAX_DOCUMENT_BYTES, DocumentError, load_document
from collect.parse import clients_from_context, owners_from_context
from collect.parse_kube import KUBE_LIST_SOURCES, KubeInventory, KubeParseError, parse_document, sources_of
from collect.raw import JsonObject, RawCluster, strip_secret_values
from model.snapshot import Problem, Source
from model.text import one_line

log = logging.getLogger(__name__)

CLUSTER_FILE = "cluster.json"
CONTEXT_FILE = "context.json"
PROBES_FILE = "probes.json"
PROBLEMS_FILE = "problems.json"
# problems.json: {"unreadableReferences": {"<ARM id>": "<why>"}}, references the collector could not read
UNREAD_REFERENCES = "unreadableReferences"
SCOPE_SUFFIX = ".scope"  # logs/<query>.scope.json: where and when <query> ran (beside its rows)


SNAPSHOT_SUFFIXES = (".json", ".yaml", ".yml")  # YAML as `kubectl -o yaml` and `az -o yaml` print it
MAX_LOG_BYTES = 1024 * 1024  # of a pod log: its tail (the live run keeps 200 lines)
# A file that cannot be read costs the sources it feeds; a kube/ file whose kinds are unknown is told by its
# name (the first hint it contains).
_KUBE_NAME_HINTS = (
    ("metrics", Source.NODE_METRICS),
    ("pod", Source.PODS),
    ("node", Source.NODES),
    ("event", Source.EVENTS),
    ("secret", Source.HELM),
    ("configmap", Source.HELM),
    ("helm", Source.HELM),
    ("partialobjectmetadata", Source.HELM),
)


class SnapshotFileError(ValueError):
    """A file or folder that cannot be read: the message names it and says what is wrong, in one line."""


@dataclass(frozen=True)
class ClusterFolder:
    """One cluster folder of an estate: `raw` when its cluster.json was read, else `error`. `unreadable`
    names the other files that could not be read (each costs only the sources it feeds)."""

    path: Path
    raw: RawCluster | None = None
    error: str | None = None
    unreadable: tuple[str, ...] = ()


def cluster_folders(estate: Path) -> list[Path]:
    """The cluster folders of an estate (or the estate itself, when it holds cluster.json). Once one
    sub-folder holds cluster.json, every other sub-folder is a cluster folder too (and is reported if it
    has none), so a cluster whose export failed is never silently left out."""
    if not estate.is_dir():
        raise SnapshotFileError(f"{estate}: no such snapshot folder")
    if _find(estate, "cluster"):
        return [estate]
    folders = sorted(child for child in estate.iterdir() if child.is_dir() and not child.name.startswith("."))
    if not any(_find(folder, "cluster") for folder in folders):
        raise SnapshotFileError(f"{estate}: no {CLUSTER_FILE} in it nor in any sub-folder; is it a snapshot folder?")
    return folders


def read_estate(estate: Path) -> Iterator[ClusterFolder]:
    """Every cluster folder of an estate; a broken one is reported in its `error` and the others still read."""
    folders = cluster_folders(estate)
    defaults: JsonObject = {}
    estate_error = ""
    context_path = _find(estate, "context") if folders != [estate] else None
    if context_path:
        try:
            defaults = _context(context_path)
        except SnapshotFileError as exc:
            estate_error = str(exc)
    for folder in folders:
        try:
            raw, unreadable = _read_cluster(folder, defaults, estate_error)
        except SnapshotFileError as exc:
            yield ClusterFolder(path=folder, error=str(exc))
        except Exception as exc:  # whatever one folder holds costs that cluster only
            yield ClusterFolder(path=folder, error=f"{folder}: cannot be read: {one_line(exc)}")
        else:
            yield ClusterFolder(path=folder, raw=raw, unreadable=tuple(unreadable))


def read_cluster(folder: Path, defaults: JsonObject | None = None) -> RawCluster:
    return _read_cluster(folder, defaults or {}, "")[0]


def _read_cluster(folder: Path, defaults: JsonObject, defaults_error: str) -> tuple[RawCluster, list[str]]:
    cluster_path = _find(folder, "cluster")
    if cluster_path is None:
        raise SnapshotFileError(f"{folder}: no {CLUSTER_FILE} (`az aks show -o json`): the cluster cannot be named")
    raw = RawCluster(cluster=_object(cluster_path, "az aks show -o json"), context=dict(defaults))
    unreadable: list[str] = []

    def failed(message: str, sources: Iterable[Source]) -> None:
        unreadable.append(message)
        for source in sources:
            raw.problems.setdefault(source, Problem("error", message))

    if defaults_error:
        failed(defaults_error, (Source.CONTEXT,))
    context_path = _find(folder, "context")
    if context_path:
        try:
            raw.context.update(_context(context_path))
        except SnapshotFileError as exc:
            failed(str(exc), (Source.CONTEXT,))
    network_dir, kube_dir, logs_dir = folder / "network", folder / "kube", folder / "logs"
    if network_dir.is_dir():
        raw.network = []
        for path in _snapshot_files(network_dir):
            try:
                raw.network += _network_resources(path)
            except SnapshotFileError as exc:
                failed(str(exc), (Source.NETWORK,))
        if Source.NETWORK in raw.problems:
            raw.network = None
    if kube_dir.is_dir():
        _read_kube(raw, kube_dir, failed)
    if (kube_dir / "logs").is_dir():
        try:
            raw.pod_logs = _pod_logs(kube_dir / "logs")
        except SnapshotFileError as exc:
            failed(str(exc), (Source.POD_LOGS,))
    for path in _snapshot_files(logs_dir):
        query = path.stem.removesuffix(SCOPE_SUFFIX)
        try:
            if path.stem.endswith(SCOPE_SUFFIX):
                raw.log_scopes[query] = _object(path)
            else:
                raw.logs[query] = _rows(path)
        except SnapshotFileError as exc:
            failed(str(exc), (Source.AUDIT,) if query == "apiserver-requests" else ())
    probes_path = _find(folder, "probes")
    if probes_path:
        try:
            raw.probes = _object(probes_path)
        except SnapshotFileError as exc:
            failed(str(exc), (Source.APISERVER_PROBE, Source.KUBELET_PROBE))
    problems_path = _find(folder, "problems")
    if problems_path:
        try:
            found = _object(problems_path)
            for source, problem in _problems(problems_path, found).items():
                raw.problems.setdefault(source, problem)
            raw.unread_references = _unread_references(problems_path, found.get(UNREAD_REFERENCES))
        except SnapshotFileError as exc:
            failed(str(exc), ())
    return raw, unreadable


def _read_kube(raw: RawCluster, kube_dir: Path, failed: Callable[[str, Iterable[Source]], None]) -> None:
    """Each kube/ file on its own: a broken one costs the sources its kinds (or its name) say it held, or,
    when neither says, every Kubernetes source that no other file lists."""
    raw.kube = []
    unknown: list[str] = []
    for path in _snapshot_files(kube_dir):
        document: Any = None
        try:
            document = _kube_document(path)
            parse_document(document, KubeInventory())
        except (SnapshotFileError, KubeParseError) as exc:
            message = str(exc) if isinstance(exc, SnapshotFileError) else f"{path}: {exc}"
            hinted = next((source for hint, source in _KUBE_NAME_HINTS if hint in path.stem.lower()), None)
            sources = sources_of(document) or ({hinted} if hinted else set())
            if sources:
                failed(message, sorted(sources))
            else:
                unknown.append(message)
            continue
        raw.kube.append(strip_secret_values(document))
    listed = set().union(*(sources_of(document) for document in raw.kube)) if raw.kube else set()
    for message in unknown:
        failed(message, [source for source in KUBE_LIST_SOURCES if source not in listed])


def write_cluster(raw: RawCluster, folder: Path) -> None:
    """Write one cluster in the snapshot layout (the reverse of `read_cluster`)."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / CLUSTER_FILE, raw.cluster)
    if raw.context:
        _write_json(folder / CONTEXT_FILE, raw.context)
    if raw.network is not None:
        by_type: dict[str, list[JsonObject]] = {}
        for resource in raw.network:
            by_type.setdefault(_file_stem(str(resource.get("type") or "resource")), []).append(resource)
        (folder / "network").mkdir(exist_ok=True)
        for stem, resources in sorted(by_type.items()):
            _write_json(folder / "network" / f"{stem}.json", resources)
    if raw.kube is not None:
        (folder / "kube").mkdir(exist_ok=True)
        for index, document in enumerate(raw.kube):
            _write_json(folder / "kube" / f"{index:02d}-{_file_stem(str(document.get('kind')))}.json", document)
    for name, text in (raw.pod_logs or {}).items():
        namespace, _, pod = name.partition("/")
        path = folder / "kube" / "logs" / _file_stem(namespace) / f"{_file_stem(pod)}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if raw.pod_logs is not None:
        (folder / "kube" / "logs").mkdir(parents=True, exist_ok=True)
    for query, rows in raw.logs.items():
        (folder / "logs").mkdir(exist_ok=True)
        _write_json(folder / "logs" / f"{_file_stem(query)}.json", rows)
    for query, scope in raw.log_scopes.items():
        (folder / "logs").mkdir(exist_ok=True)
        _write_json(folder / "logs" / f"{_file_stem(query)}{SCOPE_SUFFIX}.json", scope)
    if raw.probes is not None:
        _write_json(folder / PROBES_FILE, raw.probes)
    if raw.problems or raw.unread_references:
        problems: dict[str, Any] = {
            source.value: {"kind": p.kind, "message": p.message} for source, p in raw.problems.items()
        }
        if raw.unread_references:
            problems[UNREAD_REFERENCES] = raw.unread_references
        _write_json(folder / PROBLEMS_FILE, problems)


def _find(folder: Path, stem: str) -> Path | None:
    """`<stem>.json`, or `<stem>.yaml` / `<stem>.yml`."""
    return next((path for suffix in SNAPSHOT_SUFFIXES if (path := folder / f"{stem}{suffix}").is_file()), None)


def _snapshot_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if path.suffix.lower() in SNAPSHOT_SUFFIXES and path.is_file())


def _read_document(path: Path) -> Any:
    """JSON or YAML (whatever the file's extension: `kubectl -o yaml > pods.json` happens), within the bounds."""
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise SnapshotFileError(f"{path}: {size:,} bytes; at most {MAX_DOCUMENT_BYTES:,} are read")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SnapshotFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SnapshotFileError(f"{path}: not UTF-8 text") from None
    if not text.strip():
        raise SnapshotFileError(f"{path}: empty file")
    try:
        return load_document(text)
    except DocumentError as exc:
        raise SnapshotFileError(f"{path}: {exc}") from None


def _object(path: Path, printed_by: str = "") -> JsonObject:
    value = _read_document(path)
    if not isinstance(value, dict):
        how = f" ({printed_by})" if printed_by else ""
        raise SnapshotFileError(f"{path}: expected a JSON object{how}, not {_kind_of(value)}")
    return value


def _context(path: Path) -> JsonObject:
    """A context.json whose clients and owners are well formed: an address like 300.1.2.3 makes the file
    unreadable input (one line naming it, exit 2), not a quiet error finding."""
    context = _object(path)
    try:
        clients_from_context(context)
        owners_from_context(context)
    except ValueError as exc:
        raise SnapshotFileError(f"{path}: {exc}") from None
    return context


def _kind_of(value: Any) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number"}
    return "null" if value is None else kinds.get(type(value), "a number")


def _network_resources(path: Path) -> list[JsonObject]:
    """One resource, a JSON array (`az ... list`), or an ARM list body (`{"value": [...]}`)."""
    value = _read_document(path)
    if isinstance(value, dict) and isinstance(value.get("value"), list) and "type" not in value:
        value = value["value"]
    resources = value if isinstance(value, list) else [value]
    for index, resource in enumerate(resources):
        if not isinstance(resource, dict) or not isinstance(resource.get("type"), str):
            where = f"item {index}" if isinstance(value, list) else "the object"
            raise SnapshotFileError(f'{path}: {where} is not an ARM resource (no "type")')
    return resources


def _kube_document(path: Path) -> JsonObject:
    document = _read_document(path)
    if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
        raise SnapshotFileError(f'{path}: not a Kubernetes object or List (no "kind"); expected kubectl get -o json')
    items = document.get("items", [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise SnapshotFileError(f'{path}: "items" should be a list of objects')
    return document


def _rows(path: Path) -> list[JsonObject]:
    rows = _read_document(path)
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise SnapshotFileError(
            f"{path}: expected a JSON array of row objects (az monitor log-analytics query -o json)"
        )
    return rows


def _pod_logs(folder: Path) -> dict[str, str]:
    logs: dict[str, str] = {}
    for path in sorted(folder.glob("*/*.log")):
        try:
            with path.open("rb") as file:
                file.seek(max(0, path.stat().st_size - MAX_LOG_BYTES))
                logs[f"{path.parent.name}/{path.stem}"] = file.read().decode("utf-8", errors="replace")
        except OSError as exc:
            raise SnapshotFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return logs


def _unread_references(path: Path, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(why, str) for why in value.values()):
        raise SnapshotFileError(f'{path}: "{UNREAD_REFERENCES}" should map resource ids to why they could not be read')
    return dict(value)


def _problems(path: Path, found: JsonObject) -> dict[Source, Problem]:
    problems: dict[Source, Problem] = {}
    for key, value in found.items():
        if key == UNREAD_REFERENCES:
            continue
        try:
            source = Source(key)
        except ValueError:
            raise SnapshotFileError(f"{path}: unknown source {key!r}") from None
        if not isinstance(value, dict) or value.get("kind") not in ("error", "unavailable"):
            raise SnapshotFileError(f'{path}: {key}: expected {{"kind": "error"|"unavailable", "message": ...}}')
        problems[source] = Problem(kind=value["kind"], message=str(value.get("message") or ""))
    return problems


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _file_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.rsplit("/", 1)[-1] if "/" in text else text).strip("-") or "item"
