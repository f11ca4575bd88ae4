"""Check evaluation time per cluster and snapshot loader throughput, on a generated estate.

    python -m bench.evaluate [--clusters 1000]

The estate is the sample estate's clusters repeated under new names until it holds N clusters,
so every check's slow path (NSG and firewall evaluation, audit rows, Helm histories) is exercised.
Target (issue 3): median evaluation <= 2 ms per cluster on 1,000 clusters.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from checks.engine import evaluate_cluster
from checks.registry import CHECKS
from collect.parse import parse_cluster
from collect.snapshot_folder import cluster_folders, read_estate
from sweep.core.settings import Settings

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "estate"


def generate_estate(target: Path, clusters: int) -> None:
    samples = cluster_folders(SAMPLE)
    for index in range(clusters):
        sample = samples[index % len(samples)]
        folder = target / f"{sample.name}-{index:05d}"
        shutil.copytree(sample, folder)
        body = json.loads((folder / "cluster.json").read_text())
        body["id"] = f"{body['id']}-{index:05d}"
        body["name"] = f"{body['name']}-{index:05d}"
        (folder / "cluster.json").write_text(json.dumps(body))
    if (SAMPLE / "context.json").is_file():
        shutil.copy(SAMPLE / "context.json", target / "context.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, default=1000)
    args = parser.parse_args()
    settings = Settings.from_env({})
    with tempfile.TemporaryDirectory() as scratch:
        estate = Path(scratch)
        generate_estate(estate, args.clusters)
        size = sum(path.stat().st_size for path in estate.rglob("*") if path.is_file())

        started = time.perf_counter()
        folders = list(read_estate(estate))
        read_seconds = time.perf_counter() - started

        started = time.perf_counter()
        snapshots = [parse_cluster(folder.raw, settings.owner_tag) for folder in folders if folder.raw]
        parse_seconds = time.perf_counter() - started

        timings = []
        for snapshot in snapshots:
            started = time.perf_counter()
            evaluate_cluster(snapshot, CHECKS, settings.limits)
            timings.append((time.perf_counter() - started) * 1000)

    timings.sort()
    print(f"clusters                      {len(snapshots)}")
    print(f"estate size                   {size / 2**20:.1f} MiB")
    print(f"read folders                  {read_seconds:.2f} s  ({len(folders) / read_seconds:.0f} clusters/s)")
    print(f"parse to snapshots            {parse_seconds:.2f} s  ({len(snapshots) / parse_seconds:.0f} clusters/s)")
    print(f"evaluate, median per cluster  {statistics.median(timings):.3f} ms  (target <= 2 ms)")
    print(f"evaluate, p95 per cluster     {timings[int(len(timings) * 0.95) - 1]:.3f} ms")
    print(f"evaluate, max per cluster     {timings[-1]:.3f} ms")


if __name__ == "__main__":
    main()
