"""`python -m sweep`: the command line (README "Command line").

Exit status: 0 no finding failed, 1 at least one failed (muted findings do not count), 2 bad usage or
unreadable input (a malformed mute list included).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TextIO

from checks import registry as checks
from checks.check import Check
from collect.parse import clients_from_context, with_tagged_clients
from collect.queries import QUERIES_DIR
from collect.snapshot_folder import SnapshotFileError, read_estate
from model.arm_ids import parse_cluster_id
from model.errors import SettingsError
from model.finding import ClusterResult, Status
from model.text import one_line
from publish.appinsights import configure_exporter
from publish.html_report import render_html
from publish.json_report import report_document, run_summary
from publish.markdown_report import render_markdown
from publish.text_report import only_statuses, render_text
from sweep.cli.console import Progress
from sweep.cli.packed import PackedResults
from sweep.core.context import layered, settings_layer
from sweep.core.evaluate import evaluate_raw, unreachable_result
from sweep.core.mutes import Exemptions, MuteReport, read_mute_file
from sweep.core.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


SCOPE_FLAGS = "--subscription, --management-group, --cluster or --all-subscriptions"


class UsageError(Exception):
    """Bad usage or unreadable input: printed as one line, exit 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (exit 2) instead of the usage text and the error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def status_list(text: str) -> frozenset[Status]:
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in {status.value for status in Status}]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected statuses from {', '.join(status.value for status in Status)}, comma-separated"
        )
    return frozenset(Status(name) for name in names)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m sweep",
        description="Find why kubectl times out against AKS API servers. "
        "`python -m sweep queries` lists the Log Analytics queries it ships.",
    )
    parser.add_argument("--snapshot", type=Path, metavar="DIR", help="evaluate a snapshot folder (estate or cluster)")
    parser.add_argument("--format", choices=("text", "json", "markdown", "html"), default="text", help="report format")
    parser.add_argument(
        "--check", action="append", metavar="ID", help=f"only this check (repeatable): {', '.join(checks.CHECK_IDS)}"
    )
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the report here instead of stdout")
    parser.add_argument(
        "--status",
        type=status_list,
        metavar="LIST",
        help="report only findings with these statuses, e.g. fail,warn (the summary and exit status still count all)",
    )
    parser.add_argument(
        "--context",
        type=Path,
        metavar="FILE",
        help="context.json declaring the clients every cluster must admit (a snapshot's own context.json wins)",
    )
    parser.add_argument(
        "--mute-list",
        type=Path,
        metavar="FILE",
        help="exemptions (YAML or JSON, sweep/core/mute-list.schema.json): matching findings are reported as muted",
    )
    live = parser.add_argument_group(
        "live runs (without --snapshot; DefaultAzureCredential: az login or a managed identity); give a scope"
    )
    live.add_argument("--subscription", action="append", metavar="ID", help="only this subscription (repeatable)")
    live.add_argument("--management-group", metavar="ID", help="every subscription under this management group")
    live.add_argument("--cluster", action="append", metavar="ARM_ID", help="only this cluster (repeatable)")
    live.add_argument(
        "--all-subscriptions", action="store_true", help="every subscription the identity can read (no other scope)"
    )
    live.add_argument(
        "--save-snapshot", type=Path, metavar="DIR", help="also write what was collected as a snapshot folder"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging on stderr")
    return parser


def build_queries_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m sweep queries", description="List the Log Analytics queries the tool ships, or print one."
    )
    parser.add_argument("--show", metavar="NAME", help="print this query's KQL (paste it into Log Analytics)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list[:1] == ["queries"]:
            return queries(build_queries_parser().parse_args(args_list[1:]), sys.stdout)
        args = build_parser().parse_args(args_list)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    live_scope = args.subscription or args.management_group or args.cluster or args.all_subscriptions
    if args.snapshot is None and not live_scope:
        build_parser().print_usage(sys.stderr)
        print(f"error: give --snapshot DIR, or the scope of a live run: {SCOPE_FLAGS}", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = Settings.from_env()
        selected = checks.select(args.check)
        context = read_context_file(args.context) if args.context else {}
        exemptions = Exemptions(
            tuple(read_mute_file(args.mute_list)) if args.mute_list else (),
            settings.mute_tag if settings.mute_by_tag else "",
        )
        if args.snapshot is not None:
            if live_scope:
                raise UsageError("--snapshot evaluates a folder: leave out the live scope flags")
            base = layered(settings_layer(settings), context)
            results, unreadable = evaluate_snapshot(args.snapshot, selected, settings, base)
        else:
            results, unreadable = evaluate_live(args, selected, settings, context), 0
        keep = PackedResults if isinstance(results, PackedResults) else list  # a live sweep's stay packed
        results, mute_report = exemptions.apply(results, datetime.now(UTC).date(), keep)
        for line in mute_report.lines():
            print(f"warning: {line}", file=sys.stderr)
        used = bool(exemptions.rules or exemptions.tag)
        shown = only_statuses(results, args.status) if args.status else results
        write_report(results, shown, args.format, args.output, mute_report if used else None)
        if settings.app_insights_connection:
            publish_events(results, settings.app_insights_connection)
    except (UsageError, SettingsError, SnapshotFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if unreadable:
        return EXIT_USAGE
    return EXIT_FAILED if any(result.failed for result in results) else EXIT_OK


def evaluate_snapshot(
    estate: Path, selected: Sequence[Check], settings: Settings, context: dict[str, Any] | None = None
) -> tuple[list[ClusterResult], int]:
    """Results for every cluster folder; a folder that cannot be read is reported and gets `error` findings.
    `context` (from --context and AKS_REACH_CLIENTS) is what the folders' own context.json files override."""
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
        raw = folder.raw
        # The folders' context.json are the most specific layers (estate below cluster, as read).
        raw.context = with_tagged_clients(raw.cluster, layered(context or {}, raw.context), settings.clients_tag)
        result = evaluate_raw(raw, settings, selected)
        if result.input_error:
            say(f"{folder.path}: {result.input_error}")
        results.append(result)
    return results, len(said)


def evaluate_live(
    args: argparse.Namespace, selected: Sequence[Check], settings: Settings, context: dict[str, Any]
) -> Sequence[ClusterResult]:
    from azure.core.exceptions import AzureError, ClientAuthenticationError  # here: snapshot runs need no SDK
    from azure.identity import DefaultAzureCredential

    from collect.live.estate import ClusterNotFound, Scope
    from sweep.cli.live import run_live

    if args.all_subscriptions and (args.subscription or args.management_group or args.cluster):
        raise UsageError(
            "--all-subscriptions is a scope of its own: leave out --subscription, --management-group and --cluster"
        )
    if args.subscription and args.management_group:
        raise UsageError("give --subscription or --management-group, not both")
    for cluster_id in args.cluster or []:
        parse_cluster_id(cluster_id)  # a malformed id is a usage error before any call
    scope = Scope(tuple(args.subscription or ()), args.management_group or "", tuple(args.cluster or ()))
    # azure-identity logs every credential it tried at WARNING: the one line below says it better.
    logging.getLogger("azure.identity").setLevel(logging.DEBUG if args.verbose else logging.CRITICAL)
    try:
        progress = Progress(sys.stderr)
        for handler in logging.getLogger().handlers:
            progress.keep_logs_apart(handler)
        credential = DefaultAzureCredential()
        return run_live(scope, context, settings, credential, selected, args.save_snapshot, on_progress=progress)
    except ClientAuthenticationError:
        raise UsageError(NO_CREDENTIAL) from None
    except ClusterNotFound as exc:
        raise UsageError(str(exc)) from None
    except AzureError as exc:  # after the SDK's retries (discovery: see collect/live/resource_graph.py)
        raise UsageError(f"Azure did not answer: {one_line(exc)}") from None


NO_CREDENTIAL = (
    "no Azure credential: run `az login` (then `az account set -s <subscription>`), or on Azure set "
    "AZURE_CLIENT_ID to the managed identity's client id (--verbose lists every credential tried)"
)


def read_context_file(path: Path) -> dict[str, Any]:
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


def write_report(
    results: Sequence[ClusterResult],
    shown: Sequence[ClusterResult],
    report_format: str,
    output: Path | None,
    mutes: MuteReport | None = None,
) -> None:
    """`shown` is what --status leaves of `results`; summaries count all of `results`. `mutes`: what the
    run made of its exemptions (JSON and HTML reports), when a mute list or mute tags were in use."""
    stream = sys.stdout
    if report_format == "json":
        document = report_document(shown, datetime.now(UTC), mutes.to_dict() if mutes else None)
        document["summary"] = run_summary(results)
        text = json.dumps(document, indent=2) + "\n"
    elif report_format == "markdown":
        text = render_markdown(results, shown)
    elif report_format == "html":
        check_ids = [check for check in checks.CHECK_IDS if any(f.check == check for r in results for f in r.findings)]
        text = render_html(shown, datetime.now(UTC), check_ids, mutes.to_dict() if mutes else None)
    else:
        on_terminal = output is None and stream.isatty()
        colour = on_terminal and not os.environ.get("NO_COLOR")  # https://no-color.org
        width = shutil.get_terminal_size(fallback=(100, 24)).columns if on_terminal else 100
        text = render_text(results, colour=colour, width=width, shown=shown)
    if output is None:
        stream.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{output}: cannot write the report: {exc.strerror or exc}") from None


def queries(args: argparse.Namespace, stream: TextIO) -> int:
    shipped = {path.stem: path for path in sorted(QUERIES_DIR.glob("*.kql"))}
    if args.show is not None:
        if args.show not in shipped:
            raise UsageError(f"no query named {args.show!r}; shipped: {', '.join(shipped)}")
        stream.write(shipped[args.show].read_text(encoding="utf-8"))
        return EXIT_OK
    for name, path in shipped.items():
        about = next((line.lstrip("/ ").strip() for line in path.read_text().splitlines() if line.strip()), "")
        stream.write(f"{name:<24} {about}\n")
    return EXIT_OK
