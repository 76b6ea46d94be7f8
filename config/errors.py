"""Veille's errors: their messages are meant for the user, in French."""

from __future__ import annotations

from pathlib import Path


class VeilleError(Exception):
    """An error the CLI reports as a clear message and a non-zero exit, without a traceback."""


class ConfigError(VeilleError):
    """An invalid configuration file, refused as a whole."""

    def __init__(self, file: Path | str, problems: list[tuple[int | None, str, str]]):
        self.file = str(file)
        self.problems = problems  # (line, key path, reason)
        lines = [f"{self.file} : fichier refusé, rien n'a été exécuté."]
        for line, key, reason in problems:
            where = " ".join(filter(None, [f"ligne {line}" if line else "", f"({key})" if key else ""]))
            lines.append(f"  {where or 'fichier'} : {reason}")
        super().__init__("\n".join(lines))
