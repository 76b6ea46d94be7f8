"""The one base exception of Veille: its message is meant for the user, in French."""


class VeilleError(Exception):
    """An error the CLI reports as a clear message and a non-zero exit, without a traceback."""
