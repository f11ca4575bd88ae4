"""Property-based fuzzing of everything that reads outside input: the snapshot loader with the checks and
the three reports, the HTTP check's requests, queue messages, and the bounded loader itself.

`make test` runs the fixed, derandomized "quick" profile; `make fuzz` runs the long "fuzz" profile and
prints its figures (inputs, tracebacks, clusters lost). The estate properties: every cluster folder of
the sample estate still appears, with one finding per check in registry order; clusters whose files were
not touched keep exactly the findings they had; the touched cluster keeps its identity unless its
cluster.json was the file touched; no check raises (a check that raises logs a traceback); every report
renders and encodes as UTF-8.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.registry import CHECK_IDS, CHECKS
from collect.documents import MAX_DEPTH, DocumentError, bounded, load_document, load_json
from collect.snapshot_folder import cluster_folders
from model.finding import ClusterResult
from publish.json_report import report_document
from publish.markdown_report import render_markdown
from publish.text_report import render_text
from sweep.app.http_check import BadRequest, read_request
from sweep.app.messages import ClusterMessage, MessageError
from sweep.cli.main import evaluate_snapshot
from sweep.core.settings import Settings

ESTATE = Path(__file__).resolve().parent.parent / "examples" / "estate"
FIGURES: Counter[str] = Counter()
SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]

# --- strategies ------------------------------------------------------------------------------------------

LONE_SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\udc00b"])
texts = st.one_of(st.text(max_size=40), LONE_SURROGATES, st.sampled_from(["", "1e400", "10.0.0.300", "kube-system"]))
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 2**63, 10**25]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, texts),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)),
    max_leaves=12,
)
# Whole-file contents that once crashed the loader or a report, and shapes kubectl/az users produce.
RAW_CONTENTS = st.sampled_from(
    [
        "",
        "   \n",
        "null",
        "[]",
        "{}",
        "1",
        '"text"',
        "[" * 5_000 + "]" * 5_000,
        "[" * 50_000,
        '{"a": 1e400}',
        '{"a": ' + "9" * 5_000 + "}",
        '{"a": NaN}',
        '{"location": "\\ud800"}',
        '{"kind": "List", "items": 1}',
        '{"kind": "PodList", "items": [{}]}',
        '{"kind": "PodList", "items": [{"metadata": []}]}',
        "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b]\n",
        "!!python/object/apply:os.system ['true']\n",
        "kind: PodList\nitems:\n- metadata: {name: konnectivity-agent-1, namespace: kube-system}\n",
        "key: [unclosed\n",
        "---\na: 1\n---\nb: 2\n",
        "2025-11-20T08:00:00Z",
        "{1: 2, true: null}",
    ]
)


@dataclass(frozen=True)
class Mutation:
    """One change to one file (or folder) of the estate."""

    kind: str  # "set", "delete-key", "raw", "bytes", "truncate", "remove", "yaml", "new-folder"
    file_index: int
    path_choices: tuple[int, ...] = ()
    value: Any = None


mutations = st.builds(
    Mutation,
    kind=st.sampled_from(["set", "set", "delete-key", "raw", "bytes", "truncate", "remove", "yaml", "new-folder"]),
    file_index=st.integers(min_value=0, max_value=10_000),
    path_choices=st.lists(st.integers(min_value=0, max_value=1_000), max_size=8).map(tuple),
    value=st.one_of(json_values, RAW_CONTENTS, st.binary(max_size=64)),
)

# --- the sample estate, copied once, one mutation at a time -------------------------------------------------


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    copy = tmp_path_factory.mktemp("fuzz") / "estate"
    shutil.copytree(ESTATE, copy)
    yield copy
    print(
        f"\nfuzz figures: {FIGURES['estates']} estates ({FIGURES['clusters']} clusters), "
        f"{FIGURES['requests']} HTTP requests, {FIGURES['messages']} queue messages, "
        f"{FIGURES['documents']} documents; tracebacks: {FIGURES['tracebacks']}, "
        f"clusters lost: {FIGURES['clusters lost']}"
    )


@pytest.fixture(scope="module")
def baseline(estate: Path) -> dict[str, ClusterResult]:
    results, unreadable = evaluate_snapshot(estate, CHECKS, Settings.from_env({}))
    assert unreadable == 0
    return {folder.name: result for folder, result in zip(cluster_folders(estate), results, strict=True)}


def files_of(estate: Path) -> list[Path]:
    return sorted(path for path in estate.rglob("*") if path.is_file())


def apply(mutation: Mutation, estate: Path) -> tuple[Path, bytes | None]:
    """Applies the mutation; returns the path it touched and its former bytes (None: it did not exist)."""
    if mutation.kind == "new-folder":
        folder = estate / "aks-export-failed"
        (folder / "kube").mkdir(parents=True, exist_ok=True)
        (folder / "kube" / "pods.json").write_text('{"kind": "PodList", "items": []}')
        return folder, None
    files = files_of(estate)
    path = files[mutation.file_index % len(files)]
    before = path.read_bytes()
    if mutation.kind == "remove":
        path.unlink()
    elif mutation.kind == "truncate":
        path.write_bytes(before[: mutation.file_index % max(1, len(before))])
    elif mutation.kind == "bytes":
        path.write_bytes(mutation.value if isinstance(mutation.value, bytes) else b"\xff\xfe\x00")
    elif mutation.kind == "raw":
        path.write_text(
            mutation.value if isinstance(mutation.value, str) else "[", encoding="utf-8", errors="surrogatepass"
        )
    elif path.suffix == ".json":
        document = json.loads(before)
        if mutation.kind == "yaml":
            path.write_text(yaml.safe_dump(document))  # YAML in a .json file: read as the same document
        else:
            path.write_text(json.dumps(changed(document, mutation)), encoding="utf-8", errors="surrogatepass")
    return path, before


def changed(document: Any, mutation: Mutation) -> Any:
    """The document with the value at a path (chosen by `path_choices`) replaced, or its key deleted."""
    if mutation.value is not None and isinstance(mutation.value, bytes):
        return document
    root = [document]
    parent: Any = root
    key: Any = 0
    for choice in mutation.path_choices:
        node = parent[key]
        if isinstance(node, dict) and node:
            parent, key = node, sorted(node)[choice % len(node)]
        elif isinstance(node, list) and node:
            parent, key = node, choice % len(node)
        else:
            break
    if mutation.kind == "delete-key" and isinstance(parent, dict):
        del parent[key]
    else:
        parent[key] = mutation.value
    return root[0]


def restore(estate: Path, path: Path, before: bytes | None) -> None:
    if before is None:
        shutil.rmtree(path)
    else:
        path.write_bytes(before)


# --- properties ------------------------------------------------------------------------------------------------


@settings(suppress_health_check=SLOW)
@given(mutation=mutations)
def test_a_mutated_estate_keeps_every_cluster_and_every_check(
    estate: Path, baseline: dict[str, ClusterResult], mutation: Mutation, caplog: pytest.LogCaptureFixture
) -> None:
    path, before = apply(mutation, estate)
    caplog.clear()
    try:
        with caplog.at_level(logging.WARNING), contextlib.redirect_stderr(io.StringIO()) as stderr:
            results, unreadable = evaluate_snapshot(estate, CHECKS, Settings.from_env({}))
        lines = stderr.getvalue().splitlines()
        assert len(lines) == unreadable and all(line.startswith("error: ") for line in lines)  # one line each
        folders = cluster_folders(estate)
        FIGURES["estates"] += 1
        FIGURES["clusters"] += len(folders)
        FIGURES["clusters lost"] += max(0, len(folders) - len(results))
        FIGURES["tracebacks"] += sum(record.exc_info is not None for record in caplog.records)
        assert len(results) == len(folders), "a cluster folder dropped out of the report"
        touched = path.relative_to(estate).parts[0]
        for folder, result in zip(folders, results, strict=True):
            assert [finding.check for finding in result.findings] == list(CHECK_IDS), folder
            assert not any(f.title.endswith("evaluation failed") for f in result.findings), (folder, result)
            if folder.name in baseline and touched not in (folder.name, "context.json"):
                assert result == baseline[folder.name], f"{folder.name} changed though {touched} was mutated"
            elif folder.name in baseline and path.name != "cluster.json":
                expected = baseline[folder.name].cluster
                identity = (result.cluster.id, result.cluster.subscription, result.cluster.location)
                assert identity == (expected.id, expected.subscription, expected.location), folder
        if mutation.kind == "yaml":
            assert dict(zip([f.name for f in folders], results, strict=True)) == baseline
        report = json.dumps(report_document(results, datetime.now(UTC)), ensure_ascii=False)
        for text in (report, render_text(results, colour=True), render_markdown(results)):
            text.encode("utf-8")  # a lone surrogate would make printing the report fail
        assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    finally:
        restore(estate, path, before)


def http_request(params: dict[str, str], body: bytes) -> func.HttpRequest:
    return func.HttpRequest("POST", "https://app.example/api/clusters/check", params=params, body=body)


CLUSTER_ID = "/subscriptions/3f2c9a8e-5b1d-4c7a-9e6f-2a1b0c9d8e7f/resourceGroups/rg-web/providers/Microsoft.ContainerService/managedClusters/aks-web"
bodies = st.one_of(
    st.binary(max_size=200),
    RAW_CONTENTS.map(lambda text: text.encode("utf-8", errors="surrogatepass")),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.builds(
        lambda ips, extra: json.dumps({"clusterId": CLUSTER_ID, "clientIps": ips, **extra}).encode(),
        st.one_of(json_values, st.lists(texts, max_size=5)),
        st.dictionaries(st.sampled_from(["code", "verbose", "clusterId"]), json_values, max_size=2),
    ),
)


@settings(suppress_health_check=SLOW)
@given(
    params=st.dictionaries(st.sampled_from(["clusterId", "clientIps", "code", "x"]), st.text(max_size=30), max_size=3),
    body=bodies,
)
def test_any_http_request_is_read_or_refused_with_one_line(estate: Path, params: dict[str, str], body: bytes) -> None:
    FIGURES["requests"] += 1
    try:
        cluster_id, client_ips = read_request(http_request(params, body))
    except BadRequest as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert cluster_id.startswith("/subscriptions/") and all(isinstance(ip, str) for ip in client_ips)


messages = st.one_of(
    st.binary(max_size=200),
    RAW_CONTENTS,
    json_values.map(json.dumps),
    st.builds(
        lambda sweep, cluster, extra: json.dumps({"version": 1, "sweepId": sweep, "clusterId": cluster, **extra}),
        st.one_of(st.uuids().map(str), json_values),
        st.one_of(st.just(CLUSTER_ID), json_values),
        st.dictionaries(st.just("extra"), st.just(None).map(lambda _: [[[[[[[[]]]]]]]]), max_size=1),
    ),
    st.integers(min_value=100, max_value=30_000).map(
        lambda depth: json.dumps(
            {"version": 1, "sweepId": "0b9f3c62-8f5e-4b8e-9d1c-3c2b1a0f9e8d", "clusterId": CLUSTER_ID, "x": 0}
        ).replace("0}", "[" * depth + "]" * depth + "}")
    ),
)


@settings(suppress_health_check=SLOW)
@given(body=messages)
def test_any_queue_message_is_read_or_refused_naming_what_it_still_says(estate: Path, body: str | bytes) -> None:
    FIGURES["messages"] += 1
    try:
        message = ClusterMessage.parse(body)
    except MessageError as exc:
        assert str(exc) and "\n" not in str(exc)
        if exc.cluster_id is not None:  # recovered from the text: a real sweep and cluster, for the error result
            assert exc.cluster_id == CLUSTER_ID and exc.sweep_id is not None
        return
    assert ClusterMessage.parse(message.to_json()) == message


@settings(suppress_health_check=SLOW)
@given(text=st.one_of(RAW_CONTENTS, json_values.map(json.dumps), json_values.map(lambda v: yaml.safe_dump(v))))
def test_the_loader_returns_json_data_within_bounds_or_one_line(estate: Path, text: str) -> None:
    FIGURES["documents"] += 1
    try:
        value = load_document(text)
    except DocumentError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    dumped = json.dumps(value, allow_nan=False)  # JSON's types only, every number finite
    dumped.encode("utf-8")  # no lone surrogate left
    assert load_json(dumped) == value
    depth, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        depth = max(depth, level)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, level + 1) for child in children)
    assert depth <= MAX_DEPTH + 1


@settings(suppress_health_check=SLOW)
@given(
    text=st.one_of(
        json_values.map(json.dumps),
        json_values.map(lambda v: json.dumps(v, ensure_ascii=False)),
        st.integers(min_value=MAX_DEPTH - 2, max_value=MAX_DEPTH + 2).map(lambda n: "[" * n + "]" * n),
        st.integers(min_value=MAX_DEPTH - 2, max_value=MAX_DEPTH + 2).map(lambda n: '{"a":' * n + "1" + "}" * n),
    )
)
def test_the_loaders_short_walk_of_json_text_agrees_with_the_full_walk(estate: Path, text: str) -> None:
    """load_json skips the scalars when the text itself shows they are within bounds; the full walk decides alike."""
    FIGURES["documents"] += 1
    try:
        full: object = bounded(json.loads(text))
    except (DocumentError, RecursionError) as exc:
        full = type(exc)
    try:
        short: object = load_json(text)
    except DocumentError as exc:
        short = type(exc)
    assert short == full
