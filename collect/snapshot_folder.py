"""Snapshot folders on disk <-> `RawCluster` (the layout is DESIGN.md "Snapshot folders").

Beyond DESIGN.md: an optional `<cluster>/problems.json` records why a source is missing
(`{"kube:pods": {"kind": "unavailable", "message": "..."}}`), so a saved live run evaluates
offline with the same verdicts and reasons.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collect.raw import JsonObject, RawCluster
from model.snapshot import Problem, Source

log = logging.getLogger(__name__)

CLUSTER_FILE = "cluster.json"
CONTEXT_FILE = "context.json"
PROBES_FILE = "probes.json"
PROBLEMS_FILE = "problems.json"
SCOPE_SUFFIX = ".scope"  # logs/<query>.scope.json: where and when <query> ran (beside its rows)


class SnapshotFileError(ValueError):
    """A file or folder that cannot be read: the message names it and says what is wrong, in one line."""


@dataclass(frozen=True)
class ClusterFolder:
    """One cluster folder of an estate, read or failed: `raw` or `error` is set."""

    path: Path
    raw: RawCluster | None = None
    error: str | None = None


def cluster_folders(estate: Path) -> list[Path]:
    """The cluster folders of an estate (or the estate itself, when it holds cluster.json)."""
    if not estate.is_dir():
        raise SnapshotFileError(f"{estate}: no such snapshot folder")
    if (estate / CLUSTER_FILE).is_file():
        return [estate]
    folders = sorted(child for child in estate.iterdir() if (child / CLUSTER_FILE).is_file())
    if not folders:
        raise SnapshotFileError(f"{estate}: no {CLUSTER_FILE} in it nor in any sub-folder; is it a snapshot folder?")
    return folders


def read_estate(estate: Path) -> Iterator[ClusterFolder]:
    """Every cluster folder of an estate; a broken one is reported in its `error` and the others still read."""
    folders = cluster_folders(estate)
    defaults = _read_context(estate / CONTEXT_FILE) if folders != [estate] else {}
    for folder in folders:
        try:
            yield ClusterFolder(path=folder, raw=read_cluster(folder, defaults))
        except SnapshotFileError as exc:
            yield ClusterFolder(path=folder, error=str(exc))


def read_cluster(folder: Path, defaults: JsonObject | None = None) -> RawCluster:
    cluster = _read_json(folder / CLUSTER_FILE)
    if not isinstance(cluster, dict):
        raise SnapshotFileError(f"{folder / CLUSTER_FILE}: expected a JSON object (az aks show -o json)")
    context = {**(defaults or {}), **_read_context(folder / CONTEXT_FILE)}
    network_dir, kube_dir, logs_dir = folder / "network", folder / "kube", folder / "logs"
    return RawCluster(
        cluster=cluster,
        context=context,
        network=[resource for path in _json_files(network_dir) for resource in _network_resources(path)]
        if network_dir.is_dir()
        else None,
        kube=[_kube_document(path) for path in _json_files(kube_dir)] if kube_dir.is_dir() else None,
        pod_logs=_pod_logs(kube_dir / "logs") if (kube_dir / "logs").is_dir() else None,
        logs={path.stem: _rows(path) for path in _json_files(logs_dir) if not path.stem.endswith(SCOPE_SUFFIX)},
        log_scopes={
            path.stem.removesuffix(SCOPE_SUFFIX): _object(path)
            for path in _json_files(logs_dir)
            if path.stem.endswith(SCOPE_SUFFIX)
        },
        probes=_object(folder / PROBES_FILE) if (folder / PROBES_FILE).is_file() else None,
        problems=_problems(folder / PROBLEMS_FILE) if (folder / PROBLEMS_FILE).is_file() else {},
    )


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
    if raw.problems:
        problems = {source.value: {"kind": p.kind, "message": p.message} for source, p in raw.problems.items()}
        _write_json(folder / PROBLEMS_FILE, problems)


def _json_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.glob("*.json") if path.is_file()) if folder.is_dir() else []


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SnapshotFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SnapshotFileError(f"{path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotFileError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def _object(path: Path) -> JsonObject:
    value = _read_json(path)
    if not isinstance(value, dict):
        raise SnapshotFileError(f"{path}: expected a JSON object")
    return value


def _read_context(path: Path) -> JsonObject:
    return _object(path) if path.is_file() else {}


def _network_resources(path: Path) -> list[JsonObject]:
    """One resource, a JSON array (`az ... list`), or an ARM list body (`{"value": [...]}`)."""
    value = _read_json(path)
    if isinstance(value, dict) and isinstance(value.get("value"), list) and "type" not in value:
        value = value["value"]
    resources = value if isinstance(value, list) else [value]
    for index, resource in enumerate(resources):
        if not isinstance(resource, dict) or not isinstance(resource.get("type"), str):
            where = f"item {index}" if isinstance(value, list) else "the object"
            raise SnapshotFileError(f'{path}: {where} is not an ARM resource (no "type")')
    return resources


def _kube_document(path: Path) -> JsonObject:
    document = _read_json(path)
    if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
        raise SnapshotFileError(f'{path}: not a Kubernetes object or List (no "kind"); expected kubectl get -o json')
    if "items" in document and not all(isinstance(item, dict) for item in document.get("items") or []):
        raise SnapshotFileError(f'{path}: "items" should be a list of objects')
    return document


def _rows(path: Path) -> list[JsonObject]:
    rows = _read_json(path)
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise SnapshotFileError(
            f"{path}: expected a JSON array of row objects (az monitor log-analytics query -o json)"
        )
    return rows


def _pod_logs(folder: Path) -> dict[str, str]:
    logs: dict[str, str] = {}
    for path in sorted(folder.glob("*/*.log")):
        try:
            logs[f"{path.parent.name}/{path.stem}"] = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise SnapshotFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return logs


def _problems(path: Path) -> dict[Source, Problem]:
    problems: dict[Source, Problem] = {}
    for key, value in _object(path).items():
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
