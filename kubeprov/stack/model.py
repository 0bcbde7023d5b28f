"""The stack file as typed objects: what the user declares about one cluster.

YAML keys are camelCase (aliases); Python attributes are snake_case. Models are strict because YAML
already gives typed values: ``count: "3"`` is more likely a mistake than a wish. Rules that relate
several fields live in :mod:`kubeprov.stack.rules` so that every broken rule is reported at once.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from kubeprov import __version__
from kubeprov.stack import fields
from kubeprov.stack.errors import Issue, format_path, invalid
from kubeprov.stack.fields import (
    ClusterName,
    DnsLabel,
    DnsSubdomain,
    Endpoint,
    FilePath,
    IfName,
    LabelKey,
    LabelValue,
    PodCidr,
    PortRange,
    PrivateSubnet,
    ServiceCidr,
    Version,
    Word,
)
from kubeprov.stack.machines import MachineRole, plan_machines
from kubeprov.stack.rules import check_stack

API_VERSION = "kubeprov.dev/v1alpha1"
Role = MachineRole

# Validation context keys: the loader collects rule issues instead of failing on the first one.
CONTEXT_ISSUES = "issues"
CONTEXT_BROKEN = "broken"
DEFAULT_EXTERNAL_ETCD = 3


class StackModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        strict=True,
    )


def _control_plane_count(count: int) -> int:
    if count in (1, 3, 5):
        return count
    if count in (2, 4):
        raise invalid(
            f"a control plane of {count} machines is not allowed: etcd needs an odd number of members "
            "to keep quorum",
            f"set count to {count - 1} or {count + 1}",
        )
    raise invalid(f"control plane count {count} is not supported", "set count to 1, 3 or 5")


def _etcd_count(count: int) -> int:
    if count in (1, 3, 5, 7):
        return count
    if count % 2 == 0 and 0 < count < 8:
        raise invalid(
            f"{count} etcd members is not allowed: etcd needs an odd number of members to keep quorum",
            f"set count to {count - 1} or {count + 1}",
        )
    raise invalid(f"etcd count {count} is not supported", "set count to 1, 3, 5 or 7")


# --- providers ----------------------------------------------------------------------------------


class LocalProvider(StackModel):
    """Machines started on this computer, attached to one Linux bridge."""

    type: Literal["local"] = "local"
    bridge: IfName | None = Field(
        None,
        description="Host bridge the machines attach to (at most 15 characters); default 'kp-' + stack name.",
    )


class SshHost(StackModel):
    """An existing machine reached over SSH."""

    name: DnsLabel | None = Field(
        None,
        description="Machine name; default <stack>-cp-N, <stack>-etcd-N, <stack>-<pool>-N or <stack>-lb.",
    )
    address: fields.HostAddress = Field(description="IP address or DNS name used to reach the machine.")
    port: int = Field(22, ge=1, le=65535, description="SSH port.")
    user: Word = Field("root", description="SSH user.")
    key: FilePath = Field(Path("~/.ssh/id_ed25519"), description="Private key used to log in.")
    become: bool = Field(False, description="Use sudo for commands that need root (when user is not root).")
    role: Role = Field(description="What the machine runs.")
    pool: DnsLabel | None = Field(None, description="Worker pool of a worker host (a name under workers).")


class SshProvider(StackModel):
    """Machines that already exist (bare metal or VMs), listed one by one."""

    type: Literal["ssh"]
    hosts: list[SshHost] = Field(description="Every machine of the cluster and its role.")


AwsRegion = fields.matching(r"^[a-z]{2}(-[a-z]+)+-\d+$", "an AWS region", "eu-west-1")
GcpRegion = fields.matching(r"^[a-z]+-[a-z]+\d+$", "a GCP region", "europe-west1")
GcpZone = fields.matching(r"^[a-z]+-[a-z]+\d+-[a-z]$", "a GCP zone", "europe-west1-b")
GcpProject = fields.matching(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$", "a GCP project id", "my-project-123")


class AwsInstanceTypes(StackModel):
    """EC2 instance type per role."""

    control_plane: Word = Field("t3.medium", description="Instance type of control-plane machines.")
    etcd: Word = Field("t3.medium", description="Instance type of external etcd machines.")
    worker: Word = Field("t3.large", description="Instance type of workers.")


class AwsProvider(StackModel):
    """Machines created in Amazon EC2."""

    type: Literal["aws"]
    region: AwsRegion = Field(description="AWS region, e.g. eu-west-1.")
    zone: Word | None = Field(
        None, description="Availability zone inside the region; default: chosen by AWS."
    )
    instance_types: AwsInstanceTypes = Field(
        default_factory=AwsInstanceTypes, description="Instance type per role."
    )
    image: Word = Field("debian-12", description="Operating system image.")
    vpc_cidr: PrivateSubnet = Field(
        ipaddress.IPv4Network("10.0.0.0/16"), description="Address range of the VPC."
    )
    ssh_key: FilePath = Field(
        Path("~/.ssh/id_ed25519.pub"), description="Public key installed on the machines."
    )


class GcpMachineTypes(StackModel):
    """Compute Engine machine type per role."""

    control_plane: Word = Field("e2-medium", description="Machine type of control-plane machines.")
    etcd: Word = Field("e2-medium", description="Machine type of external etcd machines.")
    worker: Word = Field("e2-standard-2", description="Machine type of workers.")


class GcpProvider(StackModel):
    """Machines created in Google Compute Engine."""

    type: Literal["gcp"]
    project: GcpProject = Field(description="GCP project id.")
    region: GcpRegion = Field(description="GCP region, e.g. europe-west1.")
    zone: GcpZone = Field(description="Zone inside the region, e.g. europe-west1-b.")
    machine_types: GcpMachineTypes = Field(
        default_factory=GcpMachineTypes, description="Machine type per role."
    )
    image: Word = Field("debian-cloud/debian-12", description="Operating system image (project/family).")
    subnet_cidr: PrivateSubnet = Field(
        ipaddress.IPv4Network("10.10.0.0/24"), description="Address range of the machines' subnet."
    )
    ssh_key: FilePath = Field(
        Path("~/.ssh/id_ed25519.pub"), description="Public key installed on the machines."
    )


Provider = Annotated[LocalProvider | SshProvider | AwsProvider | GcpProvider, Field(discriminator="type")]
PROVIDER_TYPES = ("local", "ssh", "aws", "gcp")


# --- cluster shape ------------------------------------------------------------------------------


class Etcd(StackModel):
    """Where etcd runs: on the control-plane machines (stacked) or on machines of its own."""

    mode: Literal["stacked", "external"] = Field("stacked", description="stacked or external.")
    count: Annotated[int, AfterValidator(_etcd_count)] | None = Field(
        None,
        description="Number of external etcd machines (1, 3, 5 or 7; default 3). Only with mode external.",
        json_schema_extra={"enum": [1, 3, 5, 7]},
    )

    @model_validator(mode="after")
    def _external_default_count(self) -> Etcd:
        if self.mode == "external" and self.count is None:
            self.count = DEFAULT_EXTERNAL_ETCD
        return self


class ControlPlane(StackModel):
    """Machines running the API server, scheduler and controller manager."""

    count: Annotated[int, AfterValidator(_control_plane_count)] = Field(
        1, description="Number of control-plane machines: 1, 3 or 5.", json_schema_extra={"enum": [1, 3, 5]}
    )
    endpoint: Endpoint | None = Field(
        None, description="HOST or HOST:PORT of an API load balancer you provide; default: kubeprov's own."
    )
    etcd: Etcd = Field(default_factory=Etcd, description="Where etcd runs.")

    @property
    def external_etcd(self) -> bool:
        return self.etcd.mode == "external"

    @property
    def etcd_members(self) -> int:
        """Number of etcd members: the control plane when stacked, the etcd machines when external."""
        if self.external_etcd:
            return self.etcd.count or DEFAULT_EXTERNAL_ETCD
        return self.count


class Taint(StackModel):
    """A Kubernetes taint put on every machine of a pool."""

    key: LabelKey = Field(description="Taint key (label key rules).")
    value: LabelValue = Field("", description="Taint value (label value rules).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(description="What the taint does.")


class WorkerPool(StackModel):
    """Identical workers sharing labels and taints."""

    name: DnsLabel = Field(description="Pool name, unique in the stack; part of machine names.")
    count: int = Field(1, ge=0, le=100, description="Number of machines (0 to 100).")
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, description="Kubernetes labels of the nodes."
    )
    taints: list[Taint] = Field(default_factory=list, description="Kubernetes taints of the nodes.")


class Network(StackModel):
    """Address ranges and ports of the cluster."""

    pod_cidr: PodCidr = Field(
        ipaddress.IPv4Network("10.244.0.0/16"), alias="podCIDR", description="Pod addresses (a /24 per node)."
    )
    service_cidr: ServiceCidr = Field(
        ipaddress.IPv4Network("10.96.0.0/12"),
        alias="serviceCIDR",
        description="Service (cluster IP) addresses.",
    )
    cluster_domain: DnsSubdomain = Field("cluster.local", description="DNS domain of services.")
    dns_address: fields.IPv4 | None = Field(
        None, description="Cluster DNS service address; default: the 10th address of serviceCIDR."
    )
    machine_subnet: PrivateSubnet = Field(
        ipaddress.IPv4Network("10.214.0.0/24"),
        description="Private /16 to /28 range of local machines (local provider only).",
    )
    node_port_range: PortRange = Field("30000-32767", description="FIRST-LAST ports of NodePort services.")
    api_server_port: int = Field(6443, ge=1, le=65535, description="Port of the Kubernetes API.")

    @property
    def dns_ip(self) -> ipaddress.IPv4Address:
        """The cluster DNS service address, given or the 10th address of the service range."""
        return self.dns_address or self.service_cidr.network_address + 10

    @property
    def first_service_ip(self) -> ipaddress.IPv4Address:
        """The address of the ``kubernetes`` service: the first host address of the service range."""
        return self.service_cidr.network_address + 1

    @property
    def node_ports(self) -> tuple[int, int]:
        first, _, last = self.node_port_range.partition("-")
        return int(first), int(last)


class Certificates(StackModel):
    """How long certificates stay valid."""

    ca_validity_days: int = Field(
        3650, ge=1, le=36500, description="Lifetime of the certificate authorities."
    )
    validity_days: int = Field(365, ge=1, le=36500, description="Lifetime of the other certificates.")


class Federation(StackModel):
    """Membership of this cluster in a federation of clusters."""

    name: DnsLabel = Field(description="Federation name.")
    role: Literal["host", "member"] = Field("member", description="host runs the federation control plane.")
    region: LabelValue | None = Field(None, description="Region label of the cluster.")
    zone: LabelValue | None = Field(None, description="Zone label of the cluster.")
    weight: int = Field(1, ge=0, description="Share of federated workloads placed here.")
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, description="Labels of the member cluster."
    )


class Stack(StackModel):
    """One cluster: where its machines come from, how many, and how it is configured."""

    model_config = ConfigDict(title="kubeprov stack")

    api_version: Literal["kubeprov.dev/v1alpha1"] = Field(
        API_VERSION, description="Format version of the file."
    )
    kind: Literal["Stack"] = Field("Stack", description="Always Stack.")
    name: ClusterName = Field(description="Cluster name (DNS-1123 label, at most 40 characters).")
    version: Version = Field(__version__, description="Version of the kubeprov components to install.")
    provider: Provider = Field(default_factory=LocalProvider, description="Where machines come from.")
    control_plane: ControlPlane = Field(default_factory=ControlPlane, description="Control-plane machines.")
    workers: list[WorkerPool] = Field(default_factory=list, description="Worker pools.")
    network: Network = Field(default_factory=Network, description="Address ranges and ports.")
    certificates: Certificates = Field(default_factory=Certificates, description="Certificate lifetimes.")
    federation: Federation | None = Field(None, description="Federation membership; omit for a lone cluster.")

    @field_validator("provider", "control_plane", "workers", "network", "certificates", mode="before")
    @classmethod
    def _empty_section_means_defaults(cls, value: Any, info: ValidationInfo) -> Any:
        # `network:` with every line commented out is None in YAML; treat it like a missing section
        if value is None and info.field_name is not None:
            return cls.model_fields[info.field_name].get_default(call_default_factory=True)
        return value

    @model_validator(mode="after")
    def _check_rules(self, info: ValidationInfo) -> Stack:
        if isinstance(self.provider, LocalProvider) and self.provider.bridge is None:
            self.provider.bridge = f"kp-{self.name}"
        context = info.context if isinstance(info.context, dict) else {}
        issues = check_stack(self, frozenset(context.get(CONTEXT_BROKEN, ())))
        collected: list[Issue] | None = context.get(CONTEXT_ISSUES)
        if collected is not None:
            collected.extend(issues)
        elif issues:
            raise ValueError("; ".join(f"{format_path(i.loc)}: {i.message}" for i in issues))
        return self

    def api_endpoint(self) -> tuple[str | None, int]:
        """Host and port written into kubeconfigs; the host is None until cloud machines exist."""
        port = self.network.api_server_port
        if self.control_plane.endpoint:
            host, given = fields.split_endpoint(self.control_plane.endpoint)
            return host, given or port
        machines = plan_machines(self)
        balancers = [m for m in machines if m.role == "load-balancer"]
        if balancers:
            return balancers[0].address, port
        control = [m for m in machines if m.role == "control-plane"]
        return (control[0].address if control else None), port
