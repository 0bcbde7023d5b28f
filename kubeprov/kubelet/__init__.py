"""The node agent: syncs the pods bound to this node into real containers (images, runc, CNI, probes)."""
