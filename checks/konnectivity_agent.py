"""konnectivity-agent: the API server tunnel pods are running, ready and on healthy system nodes.

Verdict rules (thresholds are `Limits`):
- tunnel pods = kube-system pods labelled `app=konnectivity-agent`, or named `konnectivity-agent-*`,
  `tunnelfront-*`, `aks-link-*`; never `konnectivity-agent-autoscaler-*`.
- skipped: API Server VNet Integration (no tunnel is required), or no kube-system pods collected.
- fail: no tunnel pod, none Ready, or every Ready one runs on a node at >= node_usage_percent of
  allocatable CPU or memory, or NotReady.
- warn: some not Ready, CrashLoopBackOff or >= restarts, some hosting node overloaded or NotReady,
  or a tunnel pod on a user-mode pool (`kubernetes.azure.com/mode=user`).
- pass otherwise (says what could not be judged without nodes or metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.check import Check, Verdict
from checks.tunnel import tunnel_pods
from model.finding import Severity, Status
from model.snapshot import ClusterSnapshot, Node, NodeUsage, Pod, Source

DOCS = "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/tunnel-connectivity-issues"


@dataclass(frozen=True)
class Limits:
    restarts: int = 5
    """restarts of one tunnel pod that make it suspect (warn)"""
    node_usage_percent: float = 90.0
    """CPU or memory use, in % of allocatable, that makes a tunnel pod's node overloaded"""


def evaluate(snapshot: ClusterSnapshot, limits: Limits) -> Verdict:
    cluster = snapshot.cluster
    if cluster.vnet_integration:
        return Verdict(
            Status.SKIPPED,
            "API Server VNet Integration: no tunnel is required",
            detail="With API Server VNet Integration nodes reach the API server through an internal load balancer; "
            "konnectivity-agent does not carry kubectl exec/logs traffic.",
        )
    pods = tunnel_pods(snapshot)
    rg, name = cluster.resource_group, cluster.name
    if not pods:
        return Verdict(
            Status.FAIL,
            "No tunnel pod (konnectivity-agent) in kube-system",
            detail=f"{len(snapshot.pods or ())} kube-system pods collected, none is konnectivity-agent, tunnelfront "
            "or aks-link: kubectl logs/exec/port-forward and webhooks cannot reach the nodes.",
            remediation=f"kubectl -n kube-system get deploy konnectivity-agent; if it is missing, reconcile the "
            f"cluster: az aks update -g {rg} -n {name}",
        )
    nodes = {node.name: node for node in snapshot.nodes or ()}
    usage = {metric.node: metric for metric in snapshot.node_metrics or ()}
    problems: list[str] = []
    bad_node_pods: list[str] = []
    ready = [pod for pod in pods if pod.ready]
    for pod in pods:
        problems += _pod_problems(pod, limits)
        node_problem = _node_problem(nodes.get(pod.node_name or ""), usage.get(pod.node_name or ""), limits)
        if node_problem:
            problems.append(f"{pod.name} runs on {pod.node_name}: {node_problem}")
            bad_node_pods.append(pod.name)
        node = nodes.get(pod.node_name or "")
        if node is not None and node.mode == "user":
            problems.append(f"{pod.name} runs on user-mode node {node.name}")
    evidence = {
        "pods": [
            {
                "name": p.name,
                "node": p.node_name,
                "ready": p.ready,
                "restarts": p.restarts,
                "waiting": list(p.waiting_reasons),
            }
            for p in pods
        ],
        "nodeUsage": {
            n: {"cpuMillicores": u.cpu_millicores, "memoryBytes": u.memory_bytes}
            for n, u in usage.items()
            if n in {p.node_name for p in pods}
        },
    }
    first = pods[0].name
    fix = (
        f"kubectl -n kube-system describe pod {first}; kubectl -n kube-system logs {first} --tail 50; "
        "kubectl top node; keep tunnel pods on a system pool: "
        f"az aks nodepool add -g {rg} --cluster-name {name} -n sysextra --mode System"
    )
    if not ready or all(pod.name in bad_node_pods for pod in ready):
        why = "none is Ready" if not ready else "every Ready one runs on an overloaded or NotReady node"
        return Verdict(Status.FAIL, f"Tunnel pods unhealthy: {why}", "; ".join(problems) or why, fix, evidence)
    if problems:
        return Verdict(Status.WARN, f"{len(problems)} tunnel pod problem(s)", "; ".join(problems), fix, evidence)
    unjudged = [
        what for what, have in (("nodes", snapshot.nodes), ("node metrics", snapshot.node_metrics)) if have is None
    ]
    note = f" ({' and '.join(unjudged)} not collected: node load not judged)" if unjudged else ""
    return Verdict(
        Status.PASS, f"{len(ready)} tunnel pod(s) Ready", f"{', '.join(p.name for p in ready)}{note}", "", evidence
    )


def _pod_problems(pod: Pod, limits: Limits) -> list[str]:
    problems = []
    if not pod.ready:
        problems.append(f"{pod.name} is not Ready (phase {pod.phase or 'unknown'})")
    if "CrashLoopBackOff" in pod.waiting_reasons:
        problems.append(f"{pod.name} is in CrashLoopBackOff")
    if pod.restarts >= limits.restarts:
        problems.append(f"{pod.name} restarted {pod.restarts} times")
    return problems


def _node_problem(node: Node | None, usage: NodeUsage | None, limits: Limits) -> str | None:
    if node is None:
        return None
    if not node.ready:
        return "node NotReady"
    if usage is None:
        return None
    loads = []
    if node.allocatable_cpu_millicores:
        loads.append(("CPU", 100 * usage.cpu_millicores / node.allocatable_cpu_millicores))
    if node.allocatable_memory_bytes:
        loads.append(("memory", 100 * usage.memory_bytes / node.allocatable_memory_bytes))
    over = [
        f"{what} at {percent:.0f}% of allocatable" for what, percent in loads if percent >= limits.node_usage_percent
    ]
    return ", ".join(over) or None


CHECK = Check(
    id="konnectivity-agent",
    title="API server tunnel pods",
    severity=Severity.HIGH,
    docs=DOCS,
    evaluate=evaluate,
    requires=(Source.PODS,),
    limits=Limits,
)
