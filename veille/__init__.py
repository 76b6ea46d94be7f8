"""Veille: a curated news watch on employment and territorial development in Nouvelle-Aquitaine."""

__version__ = "0.1.0"
