"""The REST verbs on resources: get, list, watch, create, update, patch, delete, subresources."""
