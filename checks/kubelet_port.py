"""kubelet-port: traffic to kubelet TCP 10250 flows between nodes (and from the API server subnet
with VNet Integration); `kubectl logs/exec` fail with "dial tcp <node-ip>:10250: i/o timeout" otherwise.

fail: the effective NSG rules deny TCP 10250 between node subnets (outbound at the source or
inbound at the destination), or a kubelet probe failed, or events / tunnel logs show
`dial tcp <ip>:10250: i/o timeout`. pass when a source held data and shows no such sign, naming only the sources that held data (an
empty logs folder, or a network export without the node subnets, is not evidence). skipped with
nothing to judge from.
Follows https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/tcp-timeouts-dial-tcp-nodeip-10250
and tunnel-connectivity-issues (cause 1: an NSG blocking port 10250).
"""

from __future__ import annotations

import re

from checks.check import Check, Verdict
from checks.netrules.nsg import Flow, allow_rule_command, effective_decision, first_denial, nic_nsgs_of_subnet
from checks.tunnel import LOG_LINE_CHARS, tunnel_logs
from model.arm_ids import last_segment
from model.finding import Severity, Status
from model.root_cause import CauseKind, RootCause
from model.snapshot import ClusterSnapshot
from model.text import shorten

DOCS = "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/tcp-timeouts-dial-tcp-nodeip-10250"
KUBELET_PORT = 10250
DIAL_TIMEOUT = re.compile(r"dial tcp ([0-9a-fA-F.:]+):10250: i/o timeout")


def evaluate(snapshot: ClusterSnapshot, limits: object) -> Verdict:
    causes: list[str] = []
    fixes: list[str] = []
    evidence: dict[str, object] = {}
    root_causes: dict[str, RootCause] = {}
    if snapshot.network is not None:
        _nsg_causes(snapshot, causes, fixes, evidence, root_causes)
    failed = [probe for probe in snapshot.kubelet_probes or () if not probe.ok]
    causes += [f"kubelet probe of {probe.node} failed: {probe.error or 'no answer'}" for probe in failed]
    texts = [f"event {e.involved_object}: {e.message}" for e in snapshot.events or ()]
    texts += [f"{pod} logs: {line}" for pod, text in tunnel_logs(snapshot).items() for line in text.splitlines()]
    timeouts = [shorten(text.strip(), LOG_LINE_CHARS) for text in texts if DIAL_TIMEOUT.search(text)]
    causes += timeouts[:5]
    # Only sources that held something count: an empty logs folder or a network export without the node
    # subnets judged nothing.
    judged = [
        what
        for what, held in (
            ("NSGs", bool(evidence.get("flowsChecked"))),
            ("kubelet probes", bool(snapshot.kubelet_probes)),
            ("events", bool(snapshot.events)),
            ("tunnel logs", bool(tunnel_logs(snapshot))),
        )
        if held
    ]
    evidence["judgedFrom"] = judged
    if not judged:
        return Verdict(
            Status.SKIPPED,
            "Nothing to judge kubelet reachability from",
            "No node subnet NSGs, kubelet probes, events or tunnel pod logs held data.",
            "Collect the node subnets' VNet and NSGs, or `kubectl get events -n kube-system --field-selector type=Warning -o json`, or run the sweep live "
            "(it reads one log line per node, which crosses kubelet TCP 10250).",
        )
    if causes:
        if not fixes:
            fixes.append(
                "Allow TCP 10250 between the node subnets in every NSG and firewall on the path; test with: kubectl logs -n kube-system <pod on that node>"
            )
        return Verdict(
            Status.FAIL,
            "Traffic to kubelet TCP 10250 is blocked",
            "; ".join(causes),
            "; ".join(dict.fromkeys(fixes)),
            evidence,
            tuple(root_causes.values()),
        )
    return Verdict(
        Status.PASS, "Kubelet TCP 10250 reachable between nodes", f"Judged from: {', '.join(judged)}.", "", evidence
    )


def _nsg_causes(
    snapshot: ClusterSnapshot,
    causes: list[str],
    fixes: list[str],
    evidence: dict[str, object],
    root_causes: dict[str, RootCause],
) -> None:
    network = snapshot.network
    assert network is not None
    cluster = snapshot.cluster
    sources = list(cluster.node_subnet_ids)
    if cluster.vnet_integration and cluster.apiserver_subnet_id:
        sources.append(cluster.apiserver_subnet_id)
    checked = []
    for source_id in sources:
        source = network.subnet(source_id)
        for target_id in cluster.node_subnet_ids:
            target = network.subnet(target_id)
            if not source or not target or not source.address_prefixes or not target.address_prefixes:
                continue
            for direction, subnet_id in (("Outbound", source_id), ("Inbound", target_id)):
                flow = Flow(direction, "Tcp", source.address_prefixes[0], target.address_prefixes[0], KUBELET_PORT)
                denial = first_denial(
                    effective_decision(network, subnet_id, flow, nic_nsgs_of_subnet(network, subnet_id))
                )
                checked.append(f"{last_segment(source_id)} -> {last_segment(target_id)} {direction}")
                if denial:
                    causes.append(
                        f"TCP 10250 {last_segment(source_id)} ({flow.source}) -> {last_segment(target_id)} ({flow.destination}) {direction.lower()}: denied by {denial.describe()}"
                    )
                    fix = allow_rule_command(denial, flow, "allow-kubelet-10250")
                    fixes.append(fix)
                    cause = RootCause.of(
                        CauseKind.NSG_RULE,
                        denial.nsg.id,
                        denial.rule.name,
                        summary=f"{denial.describe()} denies TCP 10250 between node subnets",
                        fixes=(fix,),
                        items=(f"TCP 10250 {direction.lower()}",),
                    )
                    known = root_causes.get(cause.key)
                    root_causes[cause.key] = known.joined(cause) if known else cause
    evidence["flowsChecked"] = checked


CHECK = Check(
    id="kubelet-port",
    title="Kubelet port 10250 between nodes",
    severity=Severity.HIGH,
    docs=DOCS,
    evaluate=evaluate,
)
