"""The kubelet's HTTPS server (port 10250): authentication and authorization through the API server,
container logs, pods, health and metrics (``app.KubeletServer``)."""
