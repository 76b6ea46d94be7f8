"""Shared fixtures: a real loopback HTTP server, a config folder per test, the CLI as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def cache_home(tmp_path_factory):
    """The user's cache folder (the built gazetteer, pipeline/places.py) in a temporary folder, for
    this process and the commands it runs: tests leave nothing in ~/.cache."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


@pytest.fixture(scope="session")
def mockserver():
    """Base URL of tests/mockserver.py, run in a subprocess on a free loopback port."""
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "mockserver.py")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    yield url
    process.stdin.close()
    process.wait(timeout=10)


@pytest.fixture
def config_dir(tmp_path) -> Path:
    """A config folder with the project's taxonomy, settings fit for loopback tests and no sources."""
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy(ROOT / "config" / "taxonomy.yaml", folder / "taxonomy.yaml")
    settings = {
        "paths": {"db": "data/veille.db", "subscribers_db": "data/subscribers.db", "bulletins": "data/bulletins",
                  "gazetteer": str(ROOT / "config" / "gazetteer.json")},
        "public_url": "https://veille.example.org",
        "secret": "test-secret",
        "crawl": {"timeout": 1.5, "retry_times": 0, "download_delay": 0, "autothrottle": False,
                  "concurrent_requests_per_domain": 4},
    }
    (folder / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (folder / "sources.yaml").write_text("sources: []\n", encoding="utf-8")
    return folder


def write_sources(config_dir: Path, sources: list[dict]) -> Path:
    path = config_dir / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": sources}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def run_veille(*args: str, check: bool = True, timeout: float = 120, env: dict | None = None):
    """Run the real CLI in a subprocess (Twisted's reactor starts once per process)."""
    result = subprocess.run([sys.executable, "-m", "veille", *args], capture_output=True, text=True,
                            timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(f"veille {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def hold_job_lock(db_path, kind: str, command: str | None = None) -> subprocess.Popen:
    """Another process holding the job lock of `kind` (veille/locks.py), as a crawl, a tagging or a
    send would; the caller kills it."""
    import textwrap

    code = textwrap.dedent(f"""
        import time
        from zoneinfo import ZoneInfo
        from veille.locks import job_lock
        with job_lock({str(db_path)!r}, {kind!r}, ZoneInfo("Europe/Paris"), command={command or f"veille {kind} (test)"!r}):
            print("held", flush=True)
            time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def free_port() -> int:
    """A free TCP port on loopback, for a server started by a test."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, seconds: float = 15) -> None:
    """Return once a server listens on 127.0.0.1:`port`; fail the test after `seconds`."""
    import socket
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")
