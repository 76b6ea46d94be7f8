"""The article page and the sources page (written in the next commits)."""

ROUTES: list = []
