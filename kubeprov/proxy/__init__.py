"""The service proxy: Services and EndpointSlices programmed as one nftables table per node."""
