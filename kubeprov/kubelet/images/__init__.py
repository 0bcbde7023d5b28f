"""OCI images for the kubelet: references, registry pulls, the content store, layer snapshots."""
