"""A command-line sweep shared out over processes (sweep/cli/processes.py) against the local emulator: the same
results as one process, the children's log records in this process's logging, and a child that dies costs
only the clusters it had not sent, each reported as an `error` naming why."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import replace

import pytest

from bench.sweep import bench_estate
from checks.registry import CHECKS
from collect.live.estate import Scope
from model.finding import ClusterResult, Status
from sweep.cli import live
from sweep.cli.processes import run_in_processes
from sweep.core.settings import Settings
from tests.emulator.server import AzureEmulator, StaticToken

CLUSTERS, SUBSCRIPTIONS = 24, 4


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureEmulator]:
    clusters, network = bench_estate(CLUSTERS, SUBSCRIPTIONS)
    server = AzureEmulator(clusters, network, page_size=10).start(tmp_path_factory.mktemp("ca") / "ca.pem")
    yield server
    server.stop()


def sweep(
    emulator: AzureEmulator, processes: int, progress: list[int] | None = None, concurrency: int = 6
) -> list[ClusterResult]:
    settings = replace(
        Settings.from_env({}),
        arm_endpoint=emulator.url,
        logs_endpoint=f"{emulator.url}/v1",
        probe_timeout_seconds=10,
        concurrency=concurrency,
        processes=processes,
    )
    return live.run_live(
        Scope(),
        {},
        settings,
        StaticToken(),
        CHECKS,
        connection_verify=str(emulator.ca_path),
        on_progress=(lambda done, total: progress.append(done)) if progress is not None else None,
    )


def verdicts(results: list[ClusterResult]) -> dict[str, list[tuple[str, Status, str]]]:
    """Each finding's check, status and detail; the probe's detail names its timings (and whether a loaded
    machine made it measure again), which no two runs share."""
    return {
        r.cluster.id: [(f.check, f.status, "" if f.check == "apiserver-probe" else f.detail) for f in r.findings]
        for r in results
    }


def test_three_processes_give_what_one_gives(emulator: AzureEmulator) -> None:
    progress: list[int] = []
    shared = sweep(emulator, processes=3, progress=progress)
    alone = sweep(emulator, processes=1)
    assert len(shared) == CLUSTERS and [r.cluster.id for r in shared] == [r.cluster.id for r in alone]
    assert verdicts(shared) == verdicts(alone)
    assert {f.status for r in shared for f in r.findings} >= {Status.PASS, Status.FAIL}  # real verdicts, both ways
    assert progress == list(range(1, CLUSTERS + 1))
    assert dict(shared[0].cluster.tags) == dict(alone[0].cluster.tags)  # read-only mappings survive the trip


def test_a_child_that_dies_costs_only_the_clusters_it_had_not_sent(
    emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = sorted(c.id for c in emulator.clusters.values())[CLUSTERS // 2 + 2]  # in the second of two shares
    evaluate = live.evaluate_raw

    def dies_on_the_victim(raw, settings, selected):  # forked children inherit this stand-in
        if raw.cluster["id"].lower() == victim.lower():
            os._exit(3)
        return evaluate(raw, settings, selected)

    monkeypatch.setattr(live, "evaluate_raw", dies_on_the_victim)
    results = sweep(emulator, processes=2)
    assert len(results) == CLUSTERS  # nobody lost
    lost = [r for r in results if all(f.status is Status.ERROR for f in r.findings)]
    assert victim.lower() in {r.cluster.id.lower() for r in lost}
    assert all("exit status 3" in f.detail for r in lost for f in r.findings)
    first_share = sorted(c.id.lower() for c in emulator.clusters.values())[: CLUSTERS // 2]
    assert not {r.cluster.id.lower() for r in lost} & set(first_share)  # the other process's share is whole


def test_items_log_records_and_failures_of_every_share_reach_this_process(caplog: pytest.LogCaptureFixture) -> None:
    def work(share: list[int], emit) -> None:
        for number in share:
            logging.getLogger("aks-reach-test").warning("child saw %d", number)
            if number == 5:
                raise ValueError("five is not allowed")
            emit(str(number), {"square": number * number})

    arrived: dict[str, object] = {}
    caplog.set_level(logging.WARNING)
    ended = run_in_processes([[1, 2], [4, 5, 6]], work, lambda key, item: arrived.__setitem__(key, item))
    assert arrived == {"1": {"square": 1}, "2": {"square": 4}, "4": {"square": 16}}
    assert ended == {1: "ValueError: five is not allowed"}
    assert sorted(r.getMessage() for r in caplog.records if r.name == "aks-reach-test") == [
        f"child saw {n}" for n in (1, 2, 4, 5)
    ]
    # the first share runs in this process: its failure is reported the same way, and the others go on
    arrived.clear()
    ended = run_in_processes([[5, 1], [2]], work, lambda key, item: arrived.__setitem__(key, item))
    assert ended == {0: "ValueError: five is not allowed"} and arrived == {"2": {"square": 4}}


def test_a_childs_logged_exception_arrives_with_its_traceback_once(caplog: pytest.LogCaptureFixture) -> None:
    def work(share: list[int], emit) -> None:
        for number in share:
            try:
                {}[f"cluster-{number}"]
            except KeyError:
                logging.getLogger("aks-reach-test").exception("cluster %d not read", number)

    caplog.set_level(logging.WARNING)
    assert run_in_processes([[], [7]], work, lambda key, item: None) == {}
    (record,) = [r for r in caplog.records if r.name == "aks-reach-test"]
    assert record.getMessage().startswith("cluster 7 not read\nTraceback (most recent call last):")
    assert record.getMessage().endswith("KeyError: 'cluster-7'") and record.exc_info is None  # told once, as text


@pytest.mark.parametrize(
    ("setting", "clusters", "expected"), [(0, 10, 1), (0, 10_000, os.cpu_count() or 1), (3, 2, 2), (4, 100, 4)]
)
def test_process_count(setting: int, clusters: int, expected: int) -> None:
    assert live.process_count(setting, clusters) == expected


def test_without_fork_a_sweep_stays_in_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live.multiprocessing, "get_all_start_methods", lambda: ["spawn"])  # Windows
    assert live.process_count(4, 10_000) == live.process_count(0, 10_000) == 1
    monkeypatch.setattr(live.multiprocessing, "get_all_start_methods", lambda: ["spawn", "fork", "forkserver"])
    monkeypatch.setattr(live.sys, "platform", "darwin")  # fork exists, but macOS advises against it
    assert live.process_count(0, 10_000) == 1 and live.process_count(2, 10_000) == 2


def test_shares_are_contiguous_and_even() -> None:
    clusters = [{"id": f"/subscriptions/s{i % 3}/resourceGroups/g/providers/x/managedClusters/c{i}"} for i in range(10)]
    shares = live.share_out(clusters, 3)
    assert [len(share) for share in shares] == [4, 3, 3]
    flat = [cluster["id"] for share in shares for cluster in share]
    assert flat == sorted(flat, key=str.lower) and len(set(flat)) == 10


def test_a_subscription_split_between_processes_is_paced_at_its_share_of_the_refill(tmp_path) -> None:
    """One subscription's clusters over two processes against a small write bucket: once it runs low, each
    process paces its credential POSTs at half the refill, so together they stay within it. The bucket holds
    more than both processes have in flight, so no request is sent before an answer could say it is low."""
    clusters, network = bench_estate(100, 1)
    server = AzureEmulator(clusters, network).start(tmp_path / "ca.pem")
    server.arm_writes = (40.0, 10.0)  # 40 tokens, then the documented refill of 10 a second
    try:
        results = sweep(server, processes=2, concurrency=32)
    finally:
        server.stop()
    assert len(results) == 100
    throttled = [f.detail for r in results for f in r.findings if "429" in f.detail or "throttl" in f.detail.lower()]
    assert throttled == []
    # measured 0; with each process pacing at the full refill, 22 to 24 (and in the 1,000-cluster bench,
    # clusters left without credentials once their retries ran out)
    assert server.throttled["arm"] <= 5


def test_split_subscriptions_names_those_in_more_than_one_share() -> None:
    def cluster(subscription: str, name: str) -> dict[str, str]:
        return {"id": f"/subscriptions/{subscription}/resourceGroups/g/providers/x/managedClusters/{name}"}

    shares = [[cluster("A", "1"), cluster("b", "2")], [cluster("B", "3"), cluster("c", "4")], [cluster("c", "5")]]
    assert live.split_subscriptions(shares) == {"b": 2, "c": 2}
