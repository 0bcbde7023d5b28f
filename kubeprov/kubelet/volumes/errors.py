"""The one error type volume set-up raises; its message is what goes into the pod's FailedMount event."""


class VolumeError(RuntimeError):
    """A volume cannot be set up (missing object or key, failed hostPath type check, unbound claim...)."""
