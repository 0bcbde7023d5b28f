"""The kubelet's streaming endpoints: exec, attach and port-forward over websocket (channel.k8s.io) and SPDY/3.1."""
