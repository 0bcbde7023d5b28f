"""kubeprov.cli."""
