"""Pod networking for the kubelet: network namespaces, the CNI plugin chain, /etc/hosts, resolv.conf, service env."""
