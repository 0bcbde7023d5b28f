"""Pod volumes on the node: emptyDir, hostPath, configMap, secret, downwardAPI, projected, persistentVolumeClaim."""
