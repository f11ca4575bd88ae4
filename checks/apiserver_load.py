"""apiserver-load: API server throttling (429) and the clients leaking LIST/GET/WATCH calls.

Reads the `apiserver-requests` query (one row per user agent and verb, last 60 minutes).
fail: throttled >= throttled_percent of requests and >= throttled_min responses, naming the top
throttled user agents. warn: one user agent averages >= reads_per_second get/list/watch calls,
named as the likely leaking client. pass otherwise. skipped when the query was not run (the engine
says how to send kube-audit to a workspace), and skipped when it ran but returned no row: a wrong
workspace, or no audit data in the window, proves nothing about load; the finding names the workspace
(or cluster) queried and the window.
Follows https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/troubleshoot-apiserver-etcd
(identify the client agents that make the most requests and the 429 answers, from AKSAudit).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from checks.check import Check, Verdict
from model.finding import Severity, Status
from model.root_cause import RootCause, normalised_user_agent, user_agent_cause
from model.snapshot import ClusterSnapshot, QueryScope, Source

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/troubleshoot-apiserver-etcd"
)
READ_VERBS = frozenset({"get", "list", "watch"})
WINDOW_MINUTES = 60  # what collect/queries/apiserver-requests.kql covers


@dataclass(frozen=True)
class Limits:
    throttled_percent: float = 1.0
    """share of requests answered 429 (with the minimum below) that fails apiserver-load"""
    throttled_min: int = 100
    """minimum number of 429 answers in the hour for a fail"""
    reads_per_second: float = 10.0
    """average get/list/watch calls per second of one user agent that names it a leaking client (warn)"""


def evaluate(snapshot: ClusterSnapshot, limits: Limits) -> Verdict:
    rows = snapshot.apiserver_requests or ()
    if not rows:
        return _no_rows(snapshot)
    total = sum(row.requests for row in rows)
    throttled = sum(row.throttled for row in rows)
    reads: dict[str, int] = defaultdict(int)
    throttled_by_agent: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.verb in READ_VERBS:
            reads[row.user_agent] += row.requests
        throttled_by_agent[row.user_agent] += row.throttled
    seconds = WINDOW_MINUTES * 60
    top_readers = sorted(reads.items(), key=lambda item: -item[1])[:5]
    top_throttled = sorted(((a, n) for a, n in throttled_by_agent.items() if n), key=lambda item: -item[1])[:5]
    evidence = {
        "windowMinutes": WINDOW_MINUTES,
        "requests": total,
        "throttled": throttled,
        "topReaders": [{"userAgent": a, "reads": n, "perSecond": round(n / seconds, 2)} for a, n in top_readers],
        "topThrottled": [{"userAgent": a, "throttled": n} for a, n in top_throttled],
    }
    share = 100 * throttled / total if total else 0.0
    leakers = [(a, n / seconds) for a, n in top_readers if n / seconds >= limits.reads_per_second]
    leak_text = ", ".join(f"{agent} ({rate:.1f} reads/s)" for agent, rate in leakers)
    fix = (
        "Find the client: kubectl get --raw /metrics | grep apiserver_request_total; make it use informers/watches "
        "instead of polling LISTs, add resourceVersion=0 to LISTs, or scale it down; "
        f"consider the Standard tier: az aks update -g {snapshot.cluster.resource_group} -n {snapshot.cluster.name} --tier standard"
    )
    # Each leaking client is a root cause it shares with every cluster it runs on; throttling without one is
    # this cluster's own load (its tier, its own workloads): no shared key.
    causes = tuple(_leaker_cause(agent, rate) for agent, rate in leakers)
    if share >= limits.throttled_percent and throttled >= limits.throttled_min:
        agents = ", ".join(f"{agent} ({n} throttled)" for agent, n in top_throttled)
        detail = f"{throttled} of {total} requests ({share:.1f}%) got HTTP 429 in {WINDOW_MINUTES} min; most throttled: {agents}."
        if leakers:
            detail += f" Likely leaking: {leak_text}."
        return Verdict(
            Status.FAIL, f"API server throttling: {share:.1f}% of requests got 429", detail, fix, evidence, causes
        )
    if leakers:
        return Verdict(
            Status.WARN,
            f"{leakers[0][0]} averages {leakers[0][1]:.1f} get/list/watch calls per second",
            f"Likely leaking client(s): {leak_text}, over {WINDOW_MINUTES} min; {throttled} of {total} requests throttled.",
            fix,
            evidence,
            causes,
        )
    return Verdict(
        Status.PASS,
        f"No throttling: {throttled} of {total} requests got 429",
        f"Busiest reader: {top_readers[0][0]}." if top_readers else "No get/list/watch calls in the window.",
        "",
        evidence,
    )


def _leaker_cause(user_agent: str, rate: float) -> RootCause:
    client = normalised_user_agent(user_agent)
    name = client.split("/", 1)[0]
    return user_agent_cause(
        user_agent,
        f"client {client} polls the API server with get/list calls ({rate:.1f} per second)",
        f"kubectl get pods -A -o wide | grep -i {name}  # then upgrade or reconfigure {client} to watch "
        "(informers) instead of polling LISTs, or scale it down",
    )


def _no_rows(snapshot: ClusterSnapshot) -> Verdict:
    scope = snapshot.apiserver_requests_scope or QueryScope(window_minutes=WINDOW_MINUTES)
    cluster = snapshot.cluster
    return Verdict(
        Status.SKIPPED,
        "No API server audit rows: load not judged",
        f"The apiserver-requests query returned no row ({scope.describe()}): the cluster sends no kube-audit "
        "logs there, or none in the window. No rows is not evidence of a quiet API server.",
        f"Check where kube-audit goes: az monitor diagnostic-settings list --resource {cluster.id}; then run "
        "the apiserver-requests query (python -m sweep queries) in that workspace.",
        {"scope": scope.resource, "windowMinutes": scope.window_minutes, "start": scope.start, "end": scope.end},
    )


CHECK = Check(
    id="apiserver-load",
    title="API server load and throttling",
    severity=Severity.HIGH,
    docs=DOCS,
    evaluate=evaluate,
    requires=(Source.AUDIT,),
    limits=Limits,
)
