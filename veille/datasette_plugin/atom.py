"""Atom feeds of any selection of the archive (written in the next commits)."""
