"""Scheduling plugins, one module each, in the default profile's order."""
