"""Where things live on a machine; one place so configs, units and roles agree."""

ETC = "/etc/kubeprov"
PKI = f"{ETC}/pki"
KUBECONFIGS = f"{ETC}/kubeconfigs"
DATA = "/var/lib/kubeprov"
UNITS = "/etc/systemd/system"
#: the installed kubeprov (the software role points ``current`` at the version in use)
PYTHON = "/opt/kubeprov/current/venv/bin/python"
ETCD_BINARY = "/usr/bin/etcd"
HAPROXY_BINARY = "/usr/sbin/haproxy"
REGISTRY_BINARY = "/usr/bin/docker-registry"

#: the node-local cluster DNS answers pods on this link-local address of every node (as NodeLocal DNSCache)
NODE_DNS_ADDRESS = "169.254.20.10"
REGISTRY_PORT = 5000
#: how pods name images of the cluster's own registry (the kubelet maps it to the registry's address)
REGISTRY_NAME = "registry.local"
