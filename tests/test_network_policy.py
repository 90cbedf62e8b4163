"""The NetworkPolicies of each rendered overlay, evaluated as Kubernetes does (a pod
selected by any policy of a type is denied that traffic except what one of them
allows): every pod of the platform reaches exactly what it needs, nothing private it
does not, and only the scheduler reaches the API server. The CIDRs agree with
deploy/terraform."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import hcl2
import pytest

from dataops import check, project
from dataops.check.base import sync_pod
from dataops.render import KubernetesTree

TREE = KubernetesTree()
KUBE_DNS = {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}}


@dataclass(frozen=True)
class Peer:
    """The other end of a connection: a pod (namespace and labels) or an address."""

    ip: str | None = None
    namespace: str = "meltano"
    labels: tuple[tuple[str, str], ...] = ()

    @classmethod
    def pod(cls, labels: dict[str, str], namespace: str = "meltano") -> Peer:
        return cls(None, namespace, tuple(sorted(labels.items())))


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"teach this test {sorted(selector)}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def peer_matches(rule_peer: dict[str, Any], peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        if peer.ip is None:
            return False
        address = ipaddress.ip_address(peer.ip)
        block = rule_peer["ipBlock"]
        excepted = any(address in ipaddress.ip_network(e) for e in block.get("except", []))
        return address in ipaddress.ip_network(block["cidr"]) and not excepted
    if peer.ip is not None:
        return False
    namespace_ok = (
        selects(rule_peer["namespaceSelector"], {"kubernetes.io/metadata.name": peer.namespace})
        if "namespaceSelector" in rule_peer
        else peer.namespace == "meltano"
    )
    return namespace_ok and selects(rule_peer.get("podSelector", {}), dict(peer.labels))


def port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(
        p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports
    )


def allowed(
    policies: list[dict[str, Any]],
    direction: str,
    pod: dict[str, str],
    peer: Peer,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether `pod` may connect to `peer` (Egress) or `peer` to `pod` (Ingress)."""
    kind, side = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    applying = [
        p["spec"]
        for p in policies
        if direction in p["spec"].get("policyTypes", []) and selects(p["spec"]["podSelector"], pod)
    ]
    if not applying:
        return True
    return any(
        port_matches(rule, port, protocol)
        and any(peer_matches(other, peer) for other in rule.get(side, []))
        for spec in applying
        for rule in spec.get(kind, [])
    )


def terraform_default(name: str) -> str:
    parsed = hcl2.loads((project.root() / "deploy" / "terraform" / "variables.tf").read_text())
    for variable in parsed["variable"]:
        declared = variable.get(f'"{name}"')  # python-hcl2 keeps the quotes
        if declared is not None:
            return str(declared["default"]).strip('"')
    raise AssertionError(f"deploy/terraform/variables.tf declares no {name}")


@pytest.fixture(scope="module", params=["staging", "production"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return check.base.kustomize(TREE.overlay(request.param))


def pods(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The labels of each kind of pod the platform runs."""
    found = {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
        for o in objects
        if o["kind"] == "Deployment"
    }
    found["sync"] = sync_pod(objects)["metadata"]["labels"]
    return found


def policies_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "NetworkPolicy"]


def test_every_pod_is_under_default_deny_both_ways(rendered: list[dict[str, Any]]) -> None:
    policies = policies_of(rendered)
    stranger = Peer("203.0.113.9")
    for name, labels in pods(rendered).items():
        assert not allowed(policies, "Egress", labels, stranger, 22), name
        assert not allowed(policies, "Ingress", labels, stranger, 8080), name
        assert not allowed(policies, "Ingress", labels, Peer.pod({"app": "other"}), 8080), name


def test_every_pod_reaches_dns_metadata_cloud_sql_and_public_https(
    rendered: list[dict[str, Any]],
) -> None:
    policies = policies_of(rendered)
    cloud_sql = ipaddress.ip_network(terraform_default("private_services_cidr"))
    dns = Peer.pod(KUBE_DNS["labels"], KUBE_DNS["namespace"])
    for name, labels in pods(rendered).items():
        assert allowed(policies, "Egress", labels, dns, 53, "UDP"), name
        assert allowed(policies, "Egress", labels, Peer("169.254.169.254"), 80), name
        assert allowed(policies, "Egress", labels, Peer(str(cloud_sql[5])), 3307), name
        assert allowed(policies, "Egress", labels, Peer("34.120.1.2"), 443), name  # a vendor
        assert not allowed(policies, "Egress", labels, Peer("8.8.8.8"), 53, "UDP"), name
        assert not allowed(policies, "Egress", labels, Peer(str(cloud_sql[5])), 5432), name


@pytest.mark.parametrize(
    "private",
    ["10.10.0.2", "10.20.3.4", "192.168.1.1", "172.31.0.1", "100.64.0.1", "169.254.1.1"],
)
def test_no_pod_reaches_private_or_link_local_addresses(
    rendered: list[dict[str, Any]], private: str
) -> None:
    """Nodes, kubelets, other pods by address, the VPC: not even on 443."""
    policies = policies_of(rendered)
    for name, labels in pods(rendered).items():
        for port in (443, 10250, 80):
            assert not allowed(policies, "Egress", labels, Peer(private), port), (name, port)


def test_only_the_scheduler_reaches_the_control_plane_and_the_api_server(
    rendered: list[dict[str, Any]],
) -> None:
    policies = policies_of(rendered)
    found = pods(rendered)
    control_plane = ipaddress.ip_network(terraform_default("master_ipv4_cidr_block"))
    api_server = found["airflow-api-server"]
    for name, labels in found.items():
        scheduler = name == "meltano-scheduler"
        to_control_plane = allowed(policies, "Egress", labels, Peer(str(control_plane[2])), 443)
        assert to_control_plane == scheduler, name
        to_api = allowed(policies, "Egress", labels, Peer.pod(api_server), 8080)
        assert to_api == scheduler, name
        from_pod = allowed(policies, "Ingress", api_server, Peer.pod(labels), 8080)
        assert from_pod == scheduler, name
    # The UI's view of a running task's log: the API server asks the scheduler.
    scheduler = found["meltano-scheduler"]
    assert allowed(policies, "Egress", api_server, Peer.pod(scheduler), 8793)
    assert allowed(policies, "Ingress", scheduler, Peer.pod(api_server), 8793)
    assert not allowed(policies, "Ingress", scheduler, Peer.pod(found["sync"]), 8793)
