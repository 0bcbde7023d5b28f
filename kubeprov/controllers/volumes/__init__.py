"""Volume controllers: the PersistentVolume binder and the hostPath provisioner."""
