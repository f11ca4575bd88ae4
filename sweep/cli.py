"""`python -m sweep`: the command line (DESIGN.md "Command line").

Exit status: 0 no finding failed, 1 at least one failed, 2 bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from checks import registry as checks
from checks.finding import Check
from collect.parse import clients_from_context, one_line
from collect.queries import QUERIES_DIR
from collect.snapshot_folder import SnapshotFileError, read_estate
from model.arm_ids import parse_cluster_id
from model.errors import SettingsError
from model.finding import ClusterResult
from publish.appinsights import configure_exporter
from publish.json_report import report_document
from publish.markdown_report import render_markdown
from publish.text_report import render_text
from sweep.evaluate import evaluate_raw, unreachable_result
from sweep.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or unreadable input: printed as one line, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sweep",
        description="Find why kubectl times out against AKS API servers. "
        "`python -m sweep queries` lists the Log Analytics queries it ships.",
    )
    parser.add_argument("--snapshot", type=Path, metavar="DIR", help="evaluate a snapshot folder (estate or cluster)")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text", help="report format")
    parser.add_argument(
        "--check", action="append", metavar="ID", help=f"only this check (repeatable): {', '.join(checks.CHECK_IDS)}"
    )
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the report here instead of stdout")
    live = parser.add_argument_group(
        "live runs (without --snapshot; DefaultAzureCredential: az login or a managed identity)"
    )
    live.add_argument("--subscription", action="append", metavar="ID", help="only this subscription (repeatable)")
    live.add_argument("--management-group", metavar="ID", help="every subscription under this management group")
    live.add_argument("--cluster", action="append", metavar="ARM_ID", help="only this cluster (repeatable)")
    live.add_argument(
        "--context", type=Path, metavar="FILE", help="context.json declaring the clients every cluster must admit"
    )
    live.add_argument(
        "--save-snapshot", type=Path, metavar="DIR", help="also write what was collected as a snapshot folder"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["queries"]:
        return list_queries(sys.stdout)
    args = build_parser().parse_args(args_list)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        settings = Settings.from_env()
        selected = checks.select(args.check)
        if args.snapshot is not None:
            results, unreadable = evaluate_snapshot(args.snapshot, selected, settings)
        else:
            results, unreadable = evaluate_live(args, selected, settings), 0
        write_report(results, args.format, args.output)
        if settings.app_insights_connection:
            publish_events(results, settings.app_insights_connection)
    except (UsageError, SettingsError, SnapshotFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if unreadable:
        return EXIT_USAGE
    return EXIT_FAILED if any(result.failed for result in results) else EXIT_OK


def evaluate_snapshot(estate: Path, selected: Sequence[Check], settings: Settings) -> tuple[list[ClusterResult], int]:
    """Results for every cluster folder; a folder that cannot be read is reported and gets `error` findings."""
    results: list[ClusterResult] = []
    said: set[str] = set()  # an estate-wide file (context.json) is named once, not once per cluster

    def say(line: str) -> None:
        if line not in said:
            said.add(line)
            print(f"error: {line}", file=sys.stderr)

    for folder in read_estate(estate):
        for line in folder.unreadable:
            say(line)
        if folder.raw is None:
            say(folder.error or str(folder.path))
            results.append(
                replace(unreachable_result(str(folder.path), folder.error or "", selected), input_error=folder.error)
            )
            continue
        result = evaluate_raw(folder.raw, settings, selected)
        if result.input_error:
            say(f"{folder.path}: {result.input_error}")
        results.append(result)
    return results, len(said)


def evaluate_live(args: argparse.Namespace, selected: Sequence[Check], settings: Settings) -> list[ClusterResult]:
    from azure.core.exceptions import AzureError, ClientAuthenticationError  # here: snapshot runs need no SDK
    from azure.identity import DefaultAzureCredential

    from collect.live.estate import ClusterNotFound, Scope
    from sweep.live import run_live

    if args.subscription and args.management_group:
        raise UsageError("give --subscription or --management-group, not both")
    for cluster_id in args.cluster or []:
        parse_cluster_id(cluster_id)  # a malformed id is a usage error before any call
    context = _read_context(args.context) if args.context else {}
    scope = Scope(tuple(args.subscription or ()), args.management_group or "", tuple(args.cluster or ()))
    try:
        return run_live(scope, context, settings, DefaultAzureCredential(), selected, args.save_snapshot)
    except ClientAuthenticationError as exc:
        raise UsageError(
            f"cannot get an Azure token (az login, or a managed identity): {str(exc).splitlines()[0]}"
        ) from None
    except ClusterNotFound as exc:
        raise UsageError(str(exc)) from None
    except AzureError as exc:  # after the SDK's retries (discovery: see collect/live/resource_graph.py)
        raise UsageError(f"Azure did not answer: {one_line(exc)}") from None


def _read_context(path: Path) -> dict[str, Any]:
    try:
        context = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(context, dict):
            raise ValueError('expected a JSON object: {"clients": [...]}')
        clients_from_context(context)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, AttributeError) as exc:
        raise UsageError(f"{path}: {exc}") from None
    return context


def publish_events(results: Sequence[ClusterResult], connection_string: str) -> None:
    try:
        publisher, provider = configure_exporter(connection_string)
    except ValueError as exc:
        raise UsageError(f"APPLICATIONINSIGHTS_CONNECTION_STRING: {exc}") from None
    sweep_id = str(uuid.uuid4())
    sent = publisher.publish(results, sweep_id)
    provider.force_flush()
    logging.getLogger(__name__).info("sent %d events to Application Insights (sweep %s)", sent, sweep_id)


def write_report(results: Sequence[ClusterResult], report_format: str, output: Path | None) -> None:
    stream = sys.stdout
    if report_format == "json":
        text = json.dumps(report_document(results, datetime.now(UTC)), indent=2) + "\n"
    elif report_format == "markdown":
        text = render_markdown(results)
    else:
        text = render_text(results, colour=output is None and stream.isatty())
    if output is None:
        stream.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{output}: cannot write the report: {exc.strerror or exc}") from None


def list_queries(stream: TextIO) -> int:
    for path in sorted(QUERIES_DIR.glob("*.kql")):
        about = next((line.lstrip("/ ").strip() for line in path.read_text().splitlines() if line.strip()), "")
        stream.write(f"{path.stem:<24} {about}\n")
    return EXIT_OK
