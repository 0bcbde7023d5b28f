"""The cluster's API server: Kubernetes 1.32 REST API on real etcd."""
