"""kubeprov.lifecycle."""
