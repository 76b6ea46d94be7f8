"""One crawl, one tagging, one send at a time (veille/locks.py): the real CLI refuses at once while
another process holds the lock, says who and since when, and a killed holder blocks nothing."""

from __future__ import annotations

import os
import signal
import time
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import hold_job_lock, run_veille, write_sources
from veille.locks import BUSY_EXIT_CODE, JobBusy, holder, job_lock, lock_path

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def archive(config_dir, mockserver):
    write_sources(config_dir, [{"id": "plie-test", "name": "PLIE", "type": "rss",
                                "url": f"{mockserver}/plie-test/feed.xml"}])
    return config_dir.parent / "data" / "veille.db"


def test_a_second_crawl_is_refused_at_once_with_who_holds_the_lock(config_dir, archive):
    db_path = archive
    holder_process = hold_job_lock(db_path, "crawl")
    try:
        started = time.monotonic()
        result = run_veille("crawl", "--config", str(config_dir), check=False)
        assert time.monotonic() - started < 30  # refused at once, not after the other crawl
        assert result.returncode == BUSY_EXIT_CODE, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("Erreur : Une collecte est déjà en cours (veille crawl (test), processus "
                                        f"{holder_process.pid} de ")
        assert " depuis le " in result.stderr and "Un processus arrêté ne garde pas le verrou." in result.stderr
        # Another kind of job is not blocked by it.
        assert run_veille("tag", "--config", str(config_dir), check=False).returncode == 0
    finally:
        holder_process.kill()
        holder_process.wait()


def test_a_killed_holder_leaves_no_lock_that_blocks(config_dir, archive, tmp_path):
    db_path = archive
    for kind in ("crawl", "tag", "send"):
        process = hold_job_lock(db_path, kind)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert holder(db_path, kind) is not None  # its note is left behind…
    result = run_veille("crawl", "--config", str(config_dir), check=False)
    assert result.returncode == 0, result.stderr  # …and blocks nothing
    assert "plie-test" in result.stdout
    assert holder(db_path, "crawl") is None  # the crawl wrote its own note, and removed it when done
    with job_lock(db_path, "send", PARIS), job_lock(db_path, "tag", PARIS):
        assert holder(db_path, "send")["pid"] == os.getpid()


def test_tag_learn_and_send_take_their_locks(config_dir, archive):
    db_path = archive
    run_veille("crawl", "--config", str(config_dir))
    with job_lock(db_path, "tag", PARIS, command="veille learn"):
        for args in (["tag"], ["learn"]):
            result = run_veille(*args, "--config", str(config_dir), check=False)
            assert result.returncode == BUSY_EXIT_CODE and "Un étiquetage ou un apprentissage est déjà en cours " \
                "(veille learn, processus" in result.stderr, args
        # Tagging documents from a file touches no archive: not locked.
        assert run_veille("tag", "--jsonl", os.devnull, "--config", str(config_dir), check=False).returncode == 0
    with job_lock(db_path, "send", PARIS, command="veille bulletin send"):
        result = run_veille("bulletin", "send", "--week", "2026-W48", "--force", "--config", str(config_dir),
                            check=False)
        assert result.returncode == BUSY_EXIT_CODE and "Un envoi du bulletin est déjà en cours" in result.stderr
        dry = run_veille("bulletin", "send", "--week", "2026-W48", "--dry-run", "--config", str(config_dir),
                         check=False)
        assert dry.returncode == 0, dry.stderr  # a dry run sends nothing: not locked


def test_the_same_process_cannot_take_a_lock_twice(tmp_path):
    db_path = tmp_path / "veille.db"
    with job_lock(db_path, "crawl", PARIS):
        with pytest.raises(JobBusy):
            with job_lock(db_path, "crawl", PARIS):
                pass
    assert not lock_path(db_path, "crawl").with_suffix(".lock.json").exists()
