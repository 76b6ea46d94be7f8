"""`veille backup` and `veille restore` (pipeline/backups.py, veille/backup.py), through the real CLI in
subprocesses, on real SQLite files: a backup taken while a crawl writes is consistent; only the last N
are kept; a restoration replaces the data and keeps what it replaced; a running job or a damaged backup
refuses it, with nothing changed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from pipeline.backups import MANIFEST, list_backups
from pipeline.learning import model_path
from tests.conftest import ROOT, hold_job_lock, run_veille, write_sources
from veille.locks import BUSY_EXIT_CODE


def settings_update(config_dir: Path, **sections) -> None:
    path = config_dir / "settings.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, values in sections.items():
        settings.setdefault(name, {}).update(values)
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")


def data_dir(config_dir: Path) -> Path:
    return config_dir.parent / "data"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def count(path: Path, sql: str) -> int:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql).fetchone()[0]
    finally:
        connection.close()


def integrity(path: Path) -> str:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def backup_folder(result) -> Path:
    match = re.search(r"^Sauvegarde terminée : (.+) \(\d+ fichier", result.stdout, re.M)
    assert match, result.stdout
    return Path(match[1])


def answering(answer: str, *args: str):
    """The real CLI in a subprocess, `answer` on its standard input (run_veille gives it none)."""
    return subprocess.run([sys.executable, "-m", "veille", *args], input=answer, capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=dict(os.environ))


@pytest.fixture
def archive(config_dir, mockserver) -> Path:
    """An archive with the items of a small feed, and a subscriber."""
    write_sources(config_dir, [{"id": "plie-test", "name": "PLIE", "type": "rss",
                                "url": f"{mockserver}/plie-test/feed.xml"}])
    run_veille("crawl", "--config", str(config_dir))
    run_veille("subscribers", "add", "avant@example.org", "--config", str(config_dir))
    db_path = data_dir(config_dir) / "veille.db"
    assert count(db_path, "SELECT COUNT(*) FROM items") > 0
    return db_path


# ------------------------------------------------------------------ backup


class GatedSite:
    """A loopback news site (html listing of 12 articles) that serves the first `served` article pages
    at once and holds every later one until `release()`: a crawl of it is certainly in progress, with
    exactly `served` items committed, for as long as the test needs, whatever the machine's load."""

    def __init__(self, served: int = 3, articles: int = 12):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.gate = threading.Event()
        self.count = 0
        lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/":
                    links = "".join(f'<article><h2><a href="/a{i}.html">Article {i}</a></h2></article>'
                                    for i in range(articles))
                    return self._send(200, f"<!doctype html><html><body>{links}</body></html>")
                match = re.fullmatch(r"/a(\d+)\.html", self.path)
                if not match:
                    return self._send(404, "introuvable")
                with lock:
                    site.count += 1
                    wait = site.count > served
                if wait and not site.gate.wait(60):
                    return self._send(503, "trop tard")
                number = match[1]
                body = " ".join(f"Le chantier d'insertion numéro {number} à Limoges accueille {number}{k} salariés."
                                for k in range(12))
                return self._send(200, f'<!doctype html><html lang="fr"><head><meta charset="utf-8">'
                                       f"<title>Article {number}</title></head><body><article><h1>Article {number}"
                                       f"</h1><p>{body}</p></article></body></html>")

            def _send(self, status, text):
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def release(self) -> None:
        self.gate.set()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_backup_taken_during_a_crawl_opens_and_holds_the_items_committed_so_far(config_dir, tmp_path):
    site = GatedSite(served=3)
    # Held pages must not time out: the crawl waits for them as for a slow site.
    settings_update(config_dir, crawl={"timeout": 90})
    write_sources(config_dir, [{"id": "lent", "name": "Lent", "type": "html", "url": site.url,
                                "links": "article h2 a"}])
    db_path = data_dir(config_dir) / "veille.db"
    dest = tmp_path / "sauvegardes"
    crawl = subprocess.Popen([sys.executable, "-m", "veille", "crawl", "--config", str(config_dir)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        committed = 0
        while time.monotonic() < deadline and committed < 3 and crawl.poll() is None:
            time.sleep(0.1)
            try:
                committed = count(db_path, "SELECT COUNT(*) FROM items") if db_path.exists() else 0
            except sqlite3.OperationalError:
                committed = 0  # the crawl is still creating the schema
        assert committed == 3, f"the crawl stored {committed} item(s) before its held pages"
        result = run_veille("backup", str(dest), "--config", str(config_dir))
        crawl_was_running = crawl.poll() is None
        site.release()
        out, err = crawl.communicate(timeout=120)
    finally:
        site.close()
        if crawl.poll() is None:
            os.killpg(crawl.pid, signal.SIGKILL)
            crawl.wait()
    assert crawl_was_running, "the crawl ended before the backup: nothing shows the backup ran during it"
    assert crawl.returncode == 0, err  # the backup did not disturb the crawl
    folder = backup_folder(result)
    assert folder.parent == dest and folder.name.startswith("veille-") and list_backups(dest) == [folder]
    assert "archive (" in result.stdout and "intégrité ok" in result.stdout

    copy = folder / "veille.db"
    assert integrity(copy) == "ok"
    backed_up = count(copy, "SELECT COUNT(*) FROM items")
    assert backed_up == committed < 12  # exactly what was committed when the backup ran, not the end of the crawl
    assert count(copy, "SELECT COUNT(*) FROM source_runs WHERE status = 'running'") == 1  # taken mid-crawl
    assert not Path(f"{copy}-wal").exists()  # one self-contained file
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    entry = next(f for f in manifest["files"] if f["role"] == "archive")
    assert entry["size"] == copy.stat().st_size and entry["sha256"] == sha256(copy)
    assert entry["integrity_check"] == "ok" and entry["rows"] == backed_up
    assert entry["migrations"]["veille"][0] == "m001_tables" and entry["source"] == str(db_path)
    # The copy is a usable archive: Veille opens it (on a duplicate: opening writes to it).
    usable = shutil.copy(copy, tmp_path / "copie.db")
    listed = run_veille("sources", "--db", str(usable), "--config", str(config_dir)).stdout
    assert "lent" in listed
    # The archive itself got every article, and is intact.
    assert count(db_path, "SELECT COUNT(*) FROM items") == 12 and integrity(db_path) == "ok"


def test_only_the_last_n_backups_are_kept_and_nothing_else_is_touched(config_dir):
    settings_update(config_dir, backup={"keep": 2})
    run_veille("tag", "--config", str(config_dir))  # creates the archive; no subscriber, no operations yet
    dest = data_dir(config_dir) / "backups"  # paths.backups: the default DEST_DIR
    dest.mkdir(parents=True)
    (dest / "notes.txt").write_text("à garder", encoding="utf-8")
    foreign = dest / "veille-2020-01-01T000000Z"  # no manifest: not a backup of Veille, never deleted
    foreign.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = dest / f".tmp-veille-2020-01-01T000000Z-{dead.pid}"  # left by a backup that crashed
    stale.mkdir()
    (stale / "veille.db").write_bytes(b"half a copy")

    results = [run_veille("backup", "--config", str(config_dir)) for _ in range(3)]
    made = [backup_folder(r) for r in results]
    assert len(set(made)) == 3
    assert list_backups(dest) == made[1:]
    assert not made[0].exists()
    assert f"supprimée(s) : {made[0].name}" in results[2].stdout
    assert "2 sauvegarde(s) gardée(s)" in results[2].stdout
    assert (dest / "notes.txt").read_text(encoding="utf-8") == "à garder" and foreign.is_dir()
    assert not stale.exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".tmp-")]

    # A database that does not exist yet is reported and skipped, not an error.
    subscribers = data_dir(config_dir) / "subscribers.db"
    assert f"base des abonné·es ({subscribers}) : fichier absent, ignoré" in results[0].stdout
    manifest = json.loads((made[2] / MANIFEST).read_text(encoding="utf-8"))
    assert [f["role"] for f in manifest["files"]] == ["archive"]
    assert {s["role"] for s in manifest["skipped"]} == {"subscribers", "operations", "model"}

    # --keep overrides the setting; a keep below 1 is refused and makes nothing.
    one = run_veille("backup", "--keep", "1", "--config", str(config_dir))
    assert list_backups(dest) == [backup_folder(one)]
    refused = run_veille("backup", "--keep", "0", "--config", str(config_dir), check=False)
    assert refused.returncode == 1 and refused.stderr.startswith("Erreur : --keep : au moins 1")
    assert list_backups(dest) == [backup_folder(one)]


def test_a_file_that_is_not_a_database_fails_the_backup_and_leaves_nothing(config_dir, tmp_path):
    db_path = data_dir(config_dir) / "veille.db"
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"ceci n'est pas une base SQLite" * 100)
    dest = tmp_path / "sauvegardes"
    result = run_veille("backup", str(dest), "--config", str(config_dir), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"Erreur : archive ({db_path}) : pas une base SQLite lisible" in result.stderr
    assert list(dest.iterdir()) == []  # no half backup, no temporary folder


def test_nothing_to_back_up_is_an_error(config_dir, tmp_path):
    result = run_veille("backup", str(tmp_path / "sauvegardes"), "--config", str(config_dir), check=False)
    assert result.returncode == 1 and result.stderr.startswith("Erreur : rien à sauvegarder : aucune des bases")


# ------------------------------------------------------------------ restore


def test_restore_round_trip_replaces_the_data_and_keeps_the_replaced_files(config_dir, archive, tmp_path):
    data = data_dir(config_dir)
    model = model_path(archive)
    model.write_bytes(b"model of the backup")
    dest = tmp_path / "sauvegardes"
    folder = backup_folder(run_veille("backup", str(dest), "--config", str(config_dir)))
    items = count(archive, "SELECT COUNT(*) FROM items")

    # Written after the backup: a subscriber, a curator's note, a retrained model.
    run_veille("subscribers", "add", "apres@example.org", "--config", str(config_dir))
    item_id = count(archive, "SELECT MIN(id) FROM items")
    run_veille("curate", str(item_id), "--note", "écrit après la sauvegarde", "--by", "test",
               "--config", str(config_dir))
    model.write_bytes(b"model retrained after the backup")
    after = {path: sha256(path) for path in (archive, data / "subscribers.db", model)}

    # Without --yes it asks; anything but « o » cancels, nothing changed.
    cancelled = answering("n\n", "restore", str(folder), "--config", str(config_dir))
    assert cancelled.returncode == 1 and "Erreur : restauration annulée : rien n'a été modifié" in cancelled.stderr
    assert "Remplacer les données actuelles par cette sauvegarde ?" in cancelled.stdout
    assert {path: sha256(path) for path in after} == after
    assert not list(data.glob("*.avant-restauration-*"))

    result = answering("o\n", "restore", str(folder), "--config", str(config_dir))
    assert result.returncode == 0, result.stderr
    assert "vérifiée : 3 fichier(s), sommes de contrôle et intégrité ok" in result.stdout
    assert f"archive : copie remise en place dans {archive}, {items} article(s)" in result.stdout
    assert "base des opérations : pas dans la sauvegarde" in result.stdout
    assert "Restauration terminée." in result.stdout

    # The data written after the backup is gone…
    listed = run_veille("subscribers", "list", "--config", str(config_dir)).stdout
    assert "avant@example.org" in listed and "apres@example.org" not in listed
    assert count(archive, "SELECT COUNT(*) FROM curation WHERE note IS NOT NULL") == 0
    assert count(archive, "SELECT COUNT(*) FROM items") == items and integrity(archive) == "ok"
    assert model.read_bytes() == b"model of the backup"
    # …and kept beside, whole.
    kept_archive, = data.glob("veille.db.avant-restauration-*")
    assert integrity(kept_archive) == "ok"
    assert count(kept_archive, "SELECT COUNT(*) FROM curation WHERE note = 'écrit après la sauvegarde'") == 1
    kept_subscribers, = data.glob("subscribers.db.avant-restauration-*")
    assert count(kept_subscribers, "SELECT COUNT(*) FROM subscribers WHERE email = 'apres@example.org'") == 1
    kept_model, = data.glob(f"{model.name}.avant-restauration-*")
    assert kept_model.read_bytes() == b"model retrained after the backup"
    assert f"l'ancien fichier est gardé : {kept_archive}" in result.stdout
    # The restored archive works with the commands.
    assert run_veille("bulletin", "plan", "--week", "2026-W48", "--config", str(config_dir)).returncode == 0


def test_restore_is_refused_while_a_crawl_a_tagging_or_a_send_runs(config_dir, archive, tmp_path):
    folder = backup_folder(run_veille("backup", str(tmp_path / "sauvegardes"), "--config", str(config_dir)))
    run_veille("subscribers", "add", "apres@example.org", "--config", str(config_dir))
    data = data_dir(config_dir)
    before = {path: sha256(path) for path in (archive, data / "subscribers.db")}
    for kind, holder_says in (("crawl", "Une collecte est déjà en cours (veille crawl (test), processus "),
                              ("tag", "Un étiquetage ou un apprentissage est déjà en cours (veille tag (test)"),
                              ("send", "Un envoi du bulletin est déjà en cours (veille send (test)")):
        holder = hold_job_lock(archive, kind)
        try:
            result = run_veille("restore", str(folder), "--yes", "--config", str(config_dir), check=False)
        finally:
            holder.kill()
            holder.wait()
        assert result.returncode == BUSY_EXIT_CODE, (kind, result.stderr)
        assert result.stderr.startswith("Erreur : restauration refusée, rien n'a été modifié. "), result.stderr
        assert holder_says in result.stderr and "Traceback" not in result.stderr
        assert {path: sha256(path) for path in before} == before
        assert not list(data.glob("*.avant-restauration-*"))
    # Once nobody holds a lock, the same restoration goes through.
    assert run_veille("restore", str(folder), "--yes", "--config", str(config_dir)).returncode == 0
    assert "apres@example.org" not in run_veille("subscribers", "list", "--config", str(config_dir)).stdout


def _damage_integrity(folder: Path) -> None:
    """Break an index of the archive's copy (two indexes sharing one b-tree), then rewrite the manifest's
    size and sum, as if the copy had been damaged before being hashed: only the integrity check sees it."""
    copy = folder / "veille.db"
    connection = sqlite3.connect(copy)
    connection.execute("PRAGMA writable_schema = ON")
    connection.execute("UPDATE sqlite_master SET rootpage = (SELECT rootpage FROM sqlite_master WHERE "
                       "name = 'sqlite_autoindex_sources_1') WHERE name = 'idx__sqlite_migrations_migration_set_name'")
    connection.commit()
    connection.close()
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        if entry["name"] == "veille.db":
            entry["size"], entry["sha256"] = copy.stat().st_size, sha256(copy)
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def _flip_a_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))


DAMAGES = {
    "no manifest (an interrupted backup)": (lambda f: (f / MANIFEST).unlink(), "manifest.json absent"),
    "unreadable manifest": (lambda f: (f / MANIFEST).write_text("{pas du json", encoding="utf-8"),
                            "manifeste illisible"),
    "truncated copy": (lambda f: (f / "veille.db").write_bytes((f / "veille.db").read_bytes()[:4096]),
                       "veille.db : 4096 octets au lieu de"),
    "a byte changed": (lambda f: _flip_a_byte(f / "subscribers.db"),
                       "subscribers.db : somme de contrôle différente du manifeste"),
    "missing copy": (lambda f: (f / "veille.db").unlink(), "veille.db : fichier absent"),
    "damaged database": (_damage_integrity, "veille.db : contrôle d'intégrité en échec (*** in database main ***"),
}


def test_a_corrupt_or_incomplete_backup_is_refused_with_nothing_changed(config_dir, archive, tmp_path):
    good = backup_folder(run_veille("backup", str(tmp_path / "sauvegardes"), "--config", str(config_dir)))
    data = data_dir(config_dir)
    before = {path: sha256(path) for path in (archive, data / "subscribers.db")}
    for name, (damage, message) in DAMAGES.items():
        folder = tmp_path / "abîmées" / name.replace(" ", "-")
        shutil.copytree(good, folder)
        damage(folder)
        result = run_veille("restore", str(folder), "--yes", "--config", str(config_dir), check=False)
        assert result.returncode == 1, (name, result.stdout, result.stderr)
        assert result.stderr.startswith("Erreur : ") and message in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr
        assert {path: sha256(path) for path in before} == before, name
        assert not list(data.glob("*.avant-restauration-*")), name
    not_a_folder = run_veille("restore", str(good / MANIFEST), "--yes", "--config", str(config_dir), check=False)
    assert not_a_folder.returncode == 1 and "ce n'est pas un dossier de sauvegarde" in not_a_folder.stderr
    missing = run_veille("restore", str(tmp_path / "nulle-part"), "--yes", "--config", str(config_dir), check=False)
    assert missing.returncode == 1 and "dossier introuvable" in missing.stderr
    # The good one still restores.
    assert run_veille("restore", str(good), "--yes", "--config", str(config_dir)).returncode == 0


def test_backup_and_restore_have_help_with_an_example():
    for command in ("backup", "restore"):
        result = run_veille(command, "--help")
        assert "Example: veille " + command in result.stdout
