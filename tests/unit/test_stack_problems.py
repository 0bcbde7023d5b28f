"""Broken stack files: each problem is reported at its line, with the field path and a fix.

Every case goes through the real CLI (`kubeprov stack validate`), which must exit with 2 and
print the problem line, never a traceback.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeprov.cli.main import main


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    line: int
    path: str
    what: str  # part of the message
    fix: str  # part of the text after "Fix:"

    def write(self, folder: Path) -> Path:
        file = folder / f"{self.id}.yaml"
        file.write_text(textwrap.dedent(self.text).lstrip("\n"), encoding="utf-8")
        return file


CASES = [
    Case(
        "unknown-top-key",
        """
        name: demo
        controlplane:
          count: 3
        """,
        2,
        "controlplane",
        "unknown key 'controlplane'; did you mean 'controlPlane'?",
        "rename it to 'controlPlane'",
    ),
    Case(
        "misspelt-workers",
        """
        name: demo
        wokers:
          - name: web
        """,
        2,
        "wokers",
        "did you mean 'workers'?",
        "rename it to 'workers'",
    ),
    Case(
        "misspelt-key-in-pool",
        """
        name: demo
        workers:
          - name: web
            count: 1
            lables:
              tier: web
        """,
        5,
        "workers[0].lables",
        "did you mean 'labels'?",
        "rename it to 'labels'",
    ),
    Case(
        "count-is-a-word",
        """
        name: demo
        workers:
          - name: web
          - name: db
            count: three
        """,
        5,
        "workers[1].count",
        "expected a whole number, got 'three'",
        "write a whole number",
    ),
    Case(
        "labels-as-list",
        """
        name: demo
        workers:
          - name: web
            labels: [a]
        """,
        4,
        "workers[0].labels",
        "expected a mapping of 'key: value' lines, got a list",
        "write 'key: value' lines indented under 'labels'",
    ),
    Case(
        "control-plane-of-two",
        """
        name: demo
        controlPlane:
          count: 2
        """,
        3,
        "controlPlane.count",
        "etcd needs an odd number of members to keep quorum",
        "set count to 1 or 3",
    ),
    Case(
        "control-plane-of-four",
        """
        name: demo
        controlPlane:
          count: 4
        """,
        3,
        "controlPlane.count",
        "odd number of members",
        "set count to 3 or 5",
    ),
    Case(
        "external-etcd-even",
        """
        name: demo
        controlPlane:
          count: 3
          etcd:
            mode: external
            count: 4
        """,
        6,
        "controlPlane.etcd.count",
        "4 etcd members is not allowed",
        "set count to 3 or 5",
    ),
    Case(
        "stacked-etcd-with-count",
        """
        name: demo
        controlPlane:
          count: 3
          etcd:
            mode: stacked
            count: 3
        """,
        6,
        "controlPlane.etcd.count",
        "etcd count only applies to external etcd",
        "remove count, or set mode: external",
    ),
    Case(
        "pod-overlaps-service",
        """
        name: demo
        network:
          podCIDR: 10.96.0.0/16
          serviceCIDR: 10.96.0.0/12
        """,
        3,
        "network.podCIDR",
        "podCIDR 10.96.0.0/16 overlaps serviceCIDR 10.96.0.0/12",
        "choose ranges that do not overlap",
    ),
    Case(
        "machine-subnet-inside-pods",
        """
        name: demo
        network:
          podCIDR: 10.244.0.0/16
          machineSubnet: 10.244.7.0/24
        """,
        4,
        "network.machineSubnet",
        "machineSubnet 10.244.7.0/24 overlaps podCIDR 10.244.0.0/16",
        "choose a machineSubnet outside 10.244.0.0/16",
    ),
    Case(
        "service-overlaps-machine-subnet",
        """
        name: demo
        network:
          serviceCIDR: 10.208.0.0/12
        """,
        3,  # machineSubnet is not written: the network mapping that holds its default
        "network.machineSubnet",
        "overlaps serviceCIDR 10.208.0.0/12",
        "choose a machineSubnet outside",
    ),
    Case(
        "cidr-not-a-network",
        """
        name: demo
        network:
          serviceCIDR: 10.96.0.0/33
        """,
        3,
        "network.serviceCIDR",
        "'10.96.0.0/33' has an invalid prefix length",
        "write it as ADDRESS/PREFIX",
    ),
    Case(
        "cidr-host-bits",
        """
        name: demo
        network:
          podCIDR: 10.244.1.0/16
        """,
        3,
        "network.podCIDR",
        "has host bits set",
        "use the network address: 10.244.0.0/16",
    ),
    Case(
        "dns-outside-services",
        """
        name: demo
        network:
          serviceCIDR: 10.96.0.0/12
          dnsAddress: 10.200.0.10
        """,
        4,
        "network.dnsAddress",
        "dnsAddress 10.200.0.10 is outside serviceCIDR 10.96.0.0/12",
        "use an address inside 10.96.0.0/12, e.g. 10.96.0.10",
    ),
    Case(
        "dns-first-address",
        """
        name: demo
        network:
          dnsAddress: 10.96.0.0
        """,
        3,
        "network.dnsAddress",
        "dnsAddress 10.96.0.0 is reserved",
        "use another address",
    ),
    Case(
        "public-machine-subnet",
        """
        name: demo
        network:
          machineSubnet: 8.8.8.0/24
        """,
        3,
        "network.machineSubnet",
        "8.8.8.0/24 is not a private IPv4 range",
        "use a range inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
    ),
    Case(
        "cluster-name-not-dns",
        """
        # a comment first, so the line is not 1
        name: My_Cluster
        """,
        2,
        "name",
        "'My_Cluster' is not a DNS-1123 label",
        "use a name such as 'my-cluster'",
    ),
    Case(
        "cluster-name-too-long",
        """
        name: a-very-long-cluster-name-that-goes-past-forty
        """,
        1,
        "name",
        "the limit is 40",
        "use a name such as",
    ),
    Case(
        "pool-name-not-dns",
        """
        name: demo
        workers:
          - name: Web.Pool
        """,
        3,
        "workers[0].name",
        "'Web.Pool' is not a DNS-1123 label",
        "use a name such as 'web-pool'",
    ),
    Case(
        "duplicate-pool-names",
        """
        name: demo
        workers:
          - name: web
            count: 1
          - name: web
            count: 2
        """,
        5,
        "workers[1].name",
        "pool name 'web' is already used by workers[0]",
        "give every pool its own name",
    ),
    Case(
        "bad-label-key",
        """
        name: demo
        workers:
          - name: web
            labels:
              tier: web
              "-bad key": x
        """,
        6,
        'workers[0].labels["-bad key"]',
        "is not a valid label key",
        "use a key such as 'tier'",
    ),
    Case(
        "bad-label-value",
        """
        name: demo
        workers:
          - name: web
            labels:
              tier: web tier
        """,
        5,
        "workers[0].labels.tier",
        "'web tier' is not a valid label value",
        "replace the other characters with '-'",
    ),
    Case(
        "number-as-label-value",
        """
        name: demo
        workers:
          - name: web
            labels:
              version: 1.5
        """,
        5,
        "workers[0].labels.version",
        "expected text, got 1.5",
        "put the value in quotes: '1.5'",
    ),
    Case(
        "bad-taint-effect",
        """
        name: demo
        workers:
          - name: web
            taints:
              - key: dedicated
                effect: NoScheduel
        """,
        6,
        "workers[0].taints[0].effect",
        "'NoScheduel' is not allowed; did you mean 'NoSchedule'?",
        "use one of: NoSchedule, PreferNoSchedule, NoExecute",
    ),
    Case(
        "validity-longer-than-ca",
        """
        name: demo
        certificates:
          caValidityDays: 365
          validityDays: 400
        """,
        4,
        "certificates.validityDays",
        "would outlive their CA",
        "make validityDays smaller than caValidityDays",
    ),
    Case(
        "unknown-provider-type",
        """
        name: demo
        provider:
          type: sshh
        """,
        3,
        "provider",
        "'sshh' is not allowed; did you mean 'ssh'?",
        "use one of: local, ssh, aws, gcp",
    ),
    Case(
        "missing-required-field",
        """
        name: demo
        provider:
          type: aws
          zone: eu-west-1a
        """,
        3,
        "provider.region",
        "'region' is required",
        "add 'region:'",
    ),
    Case(
        "ssh-bad-address-has-no-tag-in-path",
        """
        name: metal
        provider:
          type: ssh
          hosts:
            - {address: 192.0.2.10, role: control-plane}
            - {address: 192.0.2.11, role: worker, pool: web}
            - {address: "not an address", role: worker, pool: web}
        workers:
          - {name: web, count: 2}
        """,
        7,
        "provider.hosts[2].address",
        "'not an address' is neither an IP address nor a DNS name",
        "use an address such as 192.0.2.10",
    ),
    Case(
        "ssh-control-plane-count",
        """
        name: metal
        provider:
          type: ssh
          hosts:
            - {address: 192.0.2.10, role: control-plane}
            - {address: 192.0.2.11, role: control-plane}
            - {address: 192.0.2.5, role: load-balancer}
        controlPlane:
          count: 3
        """,
        9,
        "controlPlane.count",
        "controlPlane.count is 3 but provider.hosts lists 2 control-plane host(s)",
        "list exactly 3 host(s) with role: control-plane",
    ),
    Case(
        "ssh-pool-count",
        """
        name: metal
        provider:
          type: ssh
          hosts:
            - {address: 192.0.2.10, role: control-plane}
            - {address: 192.0.2.21, role: worker, pool: web}
        workers:
          - name: web
            count: 2
        """,
        9,
        "workers[0].count",
        "pool 'web' has count 2 but provider.hosts lists 1 worker host(s) in it",
        "set count to 1",
    ),
    Case(
        "ssh-external-etcd-count",
        """
        name: metal
        provider:
          type: ssh
          hosts:
            - {address: 192.0.2.10, role: control-plane}
            - {address: 192.0.2.31, role: etcd}
        controlPlane:
          etcd:
            mode: external
            count: 3
        """,
        10,
        "controlPlane.etcd.count",
        "external etcd has 3 member(s) but provider.hosts lists 1 etcd host(s)",
        "list exactly 3 host(s) with role: etcd",
    ),
    Case(
        "ssh-worker-without-pool",
        """
        name: metal
        provider:
          type: ssh
          hosts:
            - {address: 192.0.2.10, role: control-plane}
            - address: 192.0.2.21
              role: worker
        workers:
          - {name: web, count: 1}
        """,
        6,
        "provider.hosts[1].pool",
        "a worker host needs a pool",
        "add pool: one of: web",
    ),
    Case(
        "ssh-worker-unknown-pool",
        """
        name: metal
        provider:
          type: ssh
          hosts:
            - {address: 192.0.2.10, role: control-plane}
            - address: 192.0.2.21
              role: worker
              pool: wbe
        workers:
          - {name: web, count: 0}
        """,
        8,
        "provider.hosts[1].pool",
        "there is no worker pool named 'wbe'; did you mean 'web'?",
        "use one of: web",
    ),
    Case(
        "ssh-duplicate-host-name",
        """
        name: metal
        provider:
          type: ssh
          hosts:
            - {name: node1, address: 192.0.2.10, role: control-plane}
            - {name: node1, address: 192.0.2.11, role: worker, pool: web}
        workers:
          - {name: web, count: 1}
        """,
        6,
        "provider.hosts[1].name",
        "machine name 'node1' is already used by provider.hosts[0]",
        "give every host its own name",
    ),
    Case(
        "ssh-duplicate-address",
        """
        name: metal
        provider:
          type: ssh
          hosts:
            - {address: 192.0.2.10, role: control-plane}
            - {address: 192.0.2.10, role: worker, pool: web}
        workers:
          - {name: web, count: 1}
        """,
        6,
        "provider.hosts[1].address",
        "address '192.0.2.10' is already used by provider.hosts[0]",
        "list each machine once",
    ),
    Case(
        "duplicate-key",
        """
        name: demo
        controlPlane:
          count: 3
          count: 1
        """,
        4,
        "controlPlane.count",
        "key 'count' is written twice (lines 3 and 4)",
        "keep one of the two 'count' lines",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validate_reports_the_problem_at_its_line_with_a_fix(case: Case, tmp_path, capsys):
    file = case.write(tmp_path)

    rc = main(["stack", "validate", str(file)])

    out, err = capsys.readouterr()
    assert rc == 2
    assert "Traceback" not in out + err
    at_line = [line for line in err.splitlines() if line.startswith(f"{file}:{case.line}:")]
    matching = [
        line
        for line in at_line
        if f": {case.path}: " in line
        and case.what in line.partition(" Fix: ")[0]
        and case.fix in line.partition(" Fix: ")[2]
    ]
    assert matching, f"no problem at line {case.line} for {case.path} in:\n{err}"
