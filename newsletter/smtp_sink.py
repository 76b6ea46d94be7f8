"""A real local SMTP server (aiosmtpd) that saves every message it receives as an .eml file.

Used by the offline demo and by the tests: it speaks SMTP on loopback like any server.
"""

from __future__ import annotations

import re
import socket
import threading
from pathlib import Path

from aiosmtpd.controller import Controller


def free_port(host: str = "127.0.0.1") -> int:
    # aiosmtpd's Controller does not take port 0: ask the OS for a free port first.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmlSaver:
    """aiosmtpd handler: one .eml file per accepted recipient, numbered in arrival order."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.count = len(list(self.folder.glob("*.eml")))

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        for recipient in envelope.rcpt_tos:
            with self._lock:
                self.count += 1
                name = f"{self.count:04d}-{re.sub(r'[^A-Za-z0-9@._-]', '_', recipient)}.eml"
            (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def start_smtp_sink(folder: Path | str, host: str = "127.0.0.1") -> Controller:
    """Start the server in a thread; `controller.port` is its port, `controller.stop()` ends it."""
    controller = Controller(EmlSaver(folder), hostname=host, port=free_port(host))
    controller.start()
    return controller
