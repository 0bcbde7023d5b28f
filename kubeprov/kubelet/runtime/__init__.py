"""The container runtime: OCI specs, overlay root filesystems, runc driven through our own shim."""
