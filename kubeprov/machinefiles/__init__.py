"""What every machine of a cluster gets: config files, certificates, kubeconfigs and systemd units,
rendered on the operator's host into one tree per machine that the install roles copy as is.

The contract with the roles (kubeprov/install): ``<rendered>/<machine>/files/`` mirrors the machine's
filesystem from ``/``, file modes are the wanted ones; ``<rendered>/<machine>/services.json`` lists the
machine's systemd units in start order with their group (etcd, control-plane, load-balancer, node,
registry), the files whose change restarts them and how to tell they are healthy.
"""

from kubeprov.machinefiles.plan import ClusterPlan, NodePlan, plan_cluster
from kubeprov.machinefiles.render import RenderReport, render_machines

__all__ = ["ClusterPlan", "NodePlan", "RenderReport", "plan_cluster", "render_machines"]
