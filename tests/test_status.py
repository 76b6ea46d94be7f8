"""`veille status` (veille/status.py), through the real CLI: its report, its JSON and its exit code in
each case — all well, a source failing N crawls in a row (real crawls of a loopback fault), a send
with permanent failures (a real SMTP server refusing a recipient), a job that crashed, a job that
has not run for twice its period — on real SQLite files, never created by a read."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from aiosmtpd.controller import Controller

from config.loading import load_config
from config.schema import SmtpSettings
from newsletter.send import Letter, send_bulletin
from newsletter.smtp_sink import EmlSaver, free_port
from newsletter.subscribers import add_subscriber, open_subscribers_db
from pipeline.archive import open_db
from pipeline.operations import FAILED, INTERRUPTED, OK, REFUSED, TIMEOUT, finish_run, open_operations_db, start_run
from tests.conftest import run_veille, write_sources
from veille.status import cron_period, gather_status

PARIS_CRON_CRAWL = "0 6,12,18 * * *"


def set_settings(config_dir, **sections) -> None:
    """Merge `sections` into the test config's settings.yaml."""
    path = config_dir / "settings.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, values in sections.items():
        settings[name] = {**settings.get(name, {}), **values} if isinstance(values, dict) else values
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")


def data(config_dir):
    return config_dir.parent / "data"


def status(config_dir, *args):
    return run_veille("status", "--config", str(config_dir), *args, check=False, timeout=60)


def status_json(config_dir, *args) -> tuple[int, dict]:
    result = status(config_dir, "--json", *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def ago(**delta) -> str:
    return (datetime.now(timezone.utc) - timedelta(**delta)).isoformat(timespec="seconds")


def record_run(ops, job: str, status: str, started: str, exit_code: int | None = 0) -> int:
    """A job run as the scheduler records it (pipeline/operations.py), started at `started`."""
    run_id = start_run(ops, job)
    finish_run(ops, run_id, status, exit_code, "sortie")
    ops["job_runs"].update(run_id, {"started_at": started, "finished_at": started})
    return run_id


def healthy_operations(config_dir):
    """The scheduler ran every job lately, and well."""
    ops = open_operations_db(data(config_dir) / "operations.db")
    for job in ("crawl", "tag", "learn", "bulletin"):
        record_run(ops, job, OK, ago(hours=2))
    return ops


@pytest.fixture
def archive(config_dir):
    """An empty, migrated archive (no source to watch)."""
    db = open_db(data(config_dir) / "veille.db")
    db.close()
    return data(config_dir) / "veille.db"


# ----------------------------------------------------------------- exit codes


def test_all_well_then_a_job_fails_then_recovers(config_dir, archive):
    ops = healthy_operations(config_dir)
    code, report = status_json(config_dir)
    assert code == 0 and report["ok"] is True and report["problems"] == []
    assert report["scheduler"]["set_up"] is True
    assert report["jobs"]["crawl"]["last_run"]["status"] == OK
    result = status(config_dir)
    assert result.returncode == 0 and result.stdout.rstrip().endswith("Tout va bien."), result.stdout

    record_run(ops, "crawl", FAILED, ago(hours=1), exit_code=1)
    record_run(ops, "tag", TIMEOUT, ago(minutes=30), exit_code=None)
    code, report = status_json(config_dir)
    assert code == 1 and not report["ok"]
    assert [p["key"] for p in report["problems"]] == ["job-failed:crawl", "job-failed:tag"]
    tag = report["problems"][1]
    assert tag["kind"] == "job-failed" and TIMEOUT in tag["subject"] and tag["since"]
    result = status(config_dir)
    assert result.returncode == 1 and "À traiter (2) :" in result.stdout
    assert "La tâche « collecte » (crawl) a échoué : échec" in result.stdout and "Que faire :" in result.stdout

    # A refusal (lock held, week not approved) says nothing of the job's health; a success fixes it.
    record_run(ops, "crawl", REFUSED, ago(minutes=20), exit_code=75)
    record_run(ops, "tag", OK, ago(minutes=10))
    code, report = status_json(config_dir)
    assert code == 1 and [p["key"] for p in report["problems"]] == ["job-failed:crawl"]
    assert report["jobs"]["crawl"]["last_run"]["status"] == REFUSED
    record_run(ops, "crawl", OK, ago(minutes=5))
    assert status(config_dir).returncode == 0


def test_a_run_cut_short_by_the_schedulers_stop_is_not_a_failure(config_dir, archive):
    from pipeline.operations import close_stale_runs
    from veille.schedule import STOPPED_NOTE

    ops = healthy_operations(config_dir)
    run_id = start_run(ops, "crawl")
    finish_run(ops, run_id, INTERRUPTED, -15, f"collecte en cours\n{STOPPED_NOTE}")  # systemctl restart
    start_run(ops, "learn")                                                     # the machine went off
    close_stale_runs(ops, "interrompu : le planificateur s'est arrêté sans finir cette exécution")
    code, report = status_json(config_dir)
    assert code == 0, report["problems"]
    assert report["jobs"]["crawl"]["last_run"]["status"] == INTERRUPTED  # shown as it was recorded
    # A real crash is one.
    record_run(ops, "crawl", FAILED, ago(minutes=1), exit_code=1)
    assert [p["key"] for p in status_json(config_dir)[1]["problems"]] == ["job-failed:crawl"]


def test_a_job_not_run_for_twice_its_period(config_dir, archive):
    ops = healthy_operations(config_dir)
    # The crawl fires at 6, 12 and 18 h: its longest gap is the night (12 h); late after 24 h.
    record_run(ops, "crawl", OK, ago(hours=30))
    ops["job_runs"].delete_where("job = 'crawl' AND started_at > ?", [ago(hours=3)])
    code, report = status_json(config_dir)
    assert code == 1
    assert [p["key"] for p in report["problems"]] == ["job-late:crawl"]
    assert report["jobs"]["crawl"]["period_hours"] == 12
    result = status(config_dir)
    assert result.returncode == 1 and "ne s'exécute plus" in result.stdout and "toutes les 12 h" in result.stdout

    # Within twice its period it is not late.
    record_run(ops, "crawl", OK, ago(hours=20))
    assert status(config_dir).returncode == 0


def test_a_job_that_never_ran_is_late_from_the_schedulers_first_run(config_dir, archive):
    ops = open_operations_db(data(config_dir) / "operations.db")
    record_run(ops, "crawl", OK, ago(days=16))   # the scheduler's first run, 16 days ago
    for job in ("crawl", "tag", "bulletin"):
        record_run(ops, job, OK, ago(hours=1))
    code, report = status_json(config_dir)
    assert code == 1 and [p["key"] for p in report["problems"]] == ["job-late:learn"]  # weekly: 14 days
    assert report["jobs"]["learn"]["last_run"] is None


def test_a_source_failing_n_crawls_in_a_row(mockserver, config_dir):
    set_settings(config_dir, alerts={"failing_runs": 2})
    write_sources(config_dir, [
        {"id": "plie-test", "name": "PLIE", "type": "rss", "url": f"{mockserver}/plie-test/feed.xml"},
        {"id": "erreur-500", "name": "Serveur en panne", "type": "rss", "url": f"{mockserver}/faults/500.xml"},
    ])
    run_veille("crawl", "--config", str(config_dir))
    code, report = status_json(config_dir)
    assert code == 0, report["problems"]  # one failure: not yet N in a row
    (failing,) = report["sources"]["failing"]
    assert failing | {"since": None, "last_error": None} == {
        "id": "erreur-500", "name": "Serveur en panne", "failed_in_row": 1, "since": None, "last_error": None,
        "repair": None, "proposal": None}  # a server error is not mended by discovery
    assert "500" in failing["last_error"] and failing["since"]
    assert report["last_crawl"]["sources"] == 2 and report["last_crawl"]["sources_failed"] == 1
    assert report["scheduler"]["set_up"] is False  # crawls by hand: no job is late

    run_veille("crawl", "--config", str(config_dir))
    code, report = status_json(config_dir)
    assert code == 1
    (problem,) = report["problems"]
    assert problem["key"] == "source-failing:erreur-500" and problem["kind"] == "source-failing"
    assert problem["since"] == report["sources"]["failing"][0]["since"]
    result = status(config_dir)
    assert result.returncode == 1
    assert "La source « Serveur en panne » (erreur-500) échoue depuis 2 collectes" in result.stdout
    assert "en échec     erreur-500 : 2 collecte(s) de suite" in result.stdout

    # Disabled (the site is gone): no longer a problem.
    write_sources(config_dir, [
        {"id": "plie-test", "name": "PLIE", "type": "rss", "url": f"{mockserver}/plie-test/feed.xml"},
        {"id": "erreur-500", "name": "Serveur en panne", "type": "rss", "url": f"{mockserver}/faults/500.xml",
         "enabled": False},
    ])
    assert status(config_dir).returncode == 0


class RefusingServer:
    """A real SMTP server (aiosmtpd) that refuses some recipients for good (5xx)."""

    def __init__(self, folder, refuse):
        self.saver, self.refuse = EmlSaver(folder), refuse
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 mailbox unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        return await self.saver.handle_DATA(server, session, envelope)


def test_a_send_with_permanent_failures(tmp_path, config_dir, archive):
    subscribers = open_subscribers_db(data(config_dir) / "subscribers.db")
    for address in ("a@example.org", "b@example.org", "c@example.org"):
        add_subscriber(subscribers, address)
    server = RefusingServer(tmp_path / "mail", refuse={"b@example.org"})
    server.controller.start()
    try:
        smtp = SmtpSettings(host="127.0.0.1", port=server.controller.port, rate_per_second=1000, retry_pause=0.01,
                            **{"from": "Veille <veille@example.org>"})
        report = send_bulletin(subscribers, "2026-W48", lambda s: Letter("Bulletin", "<p>B</p>", "B"), smtp)
    finally:
        server.controller.stop()
    assert len(report.sent) == 2 and [e for e, _ in report.failed] == ["b@example.org"]

    code, status_report = status_json(config_dir)
    assert code == 1
    assert status_report["last_bulletin"] | {"last_send_at": None, "failures_to_handle": None} == {
        "week": "2026-W48", "approved_by": None, "approved_at": None, "sent": 2, "failed": 1, "deferred": 0,
        "last_send_at": None, "failures_to_handle": None}
    (problem,) = status_report["problems"]
    assert problem["key"] == "send-failures:2026-W48"
    assert "b@example.org (550 5.1.1 mailbox unknown)" in problem["detail"]
    result = status(config_dir)
    assert ("Dernier bulletin : semaine 2026-W48, sans validation, envoyé à 2 abonné·e(s) ; "
            "1 échec(s) définitif(s)") in result.stdout

    # The address removed, the failure is dealt with (it stays in the figures).
    run_veille("subscribers", "remove", "b@example.org", "--config", str(config_dir))
    code, status_report = status_json(config_dir)
    assert code == 0 and status_report["last_bulletin"]["failed"] == 1


# ------------------------------------------------------------- what it reads


def test_json_keys_and_a_read_creates_nothing(config_dir, archive):
    before = sorted(p.name for p in data(config_dir).iterdir())
    code, report = status_json(config_dir)
    assert code == 0
    assert sorted(p.name for p in data(config_dir).iterdir()) == before  # no operations or subscribers db
    assert set(report) == {"ok", "generated_at", "archive", "scheduler", "jobs", "last_crawl", "sources",
                           "last_bulletin", "next_bulletin", "disk", "alerts_to", "problems"}
    assert set(report["jobs"]) == {"crawl", "tag", "learn", "bulletin"}
    for job in report["jobs"].values():
        assert set(job) == {"label", "last_run", "next_run", "next_run_from", "period_hours"}
        assert job["last_run"] is None
    assert report["jobs"]["crawl"]["next_run_from"] == "calculée"
    assert report["jobs"]["tag"]["next_run_from"] == "après la collecte"
    assert report["jobs"]["tag"]["next_run"] == report["jobs"]["crawl"]["next_run"]
    assert set(report["sources"]) == {"enabled", "failing_runs", "failing", "silent"}
    assert set(report["next_bulletin"]) == {"week", "items_in", "require_approval", "approved", "approved_by",
                                            "approved_at", "changed", "ready", "sent"}
    assert report["disk"]["archive"] > 0 and report["disk"]["subscribers"] is None
    assert report["disk"]["operations"] is None and report["disk"]["free"] > 0
    assert report["last_crawl"] is None and report["last_bulletin"] is None
    result = status(config_dir)
    assert "Planificateur : aucune exécution enregistrée" in result.stdout
    assert "(calculée)" in result.stdout and "opérations absente" in result.stdout


def test_next_runs_come_from_the_schedulers_job_store(config_dir, archive):
    ops = healthy_operations(config_dir)
    ops.execute("CREATE TABLE apscheduler_jobs (id VARCHAR(191) PRIMARY KEY, next_run_time FLOAT, "
                "job_state BLOB NOT NULL)")
    soon = datetime(2030, 1, 7, 7, 0, tzinfo=timezone.utc)
    ops["apscheduler_jobs"].insert({"id": "crawl", "next_run_time": soon.timestamp(), "job_state": b"x"})
    ops.conn.commit()
    code, report = status_json(config_dir)
    assert code == 0
    assert report["jobs"]["crawl"]["next_run"] == "2030-01-07T07:00:00+00:00"
    assert report["jobs"]["crawl"]["next_run_from"] == "planificateur"
    assert report["jobs"]["learn"]["next_run_from"] == "calculée"
    assert "07/01/2030 08:00" in status(config_dir).stdout  # in the settings' time zone


def test_missing_archive_and_bad_files_are_clear_errors(config_dir, tmp_path):
    result = status(config_dir)
    assert result.returncode == 1 and result.stderr.startswith("Erreur : archive introuvable : ")
    assert not data(config_dir).exists()
    bad = tmp_path / "pas-une-base.db"
    bad.write_text("bonjour", encoding="utf-8")
    result = status(config_dir, "--db", str(bad))
    assert result.returncode == 1 and "n'est pas une base SQLite utilisable" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_demo_archive(tmp_path):
    """The demo's archive, which the scheduler never handled: all well."""
    from tests.conftest import ROOT

    out = tmp_path / "demo"
    run_veille("demo", "--out", str(out), timeout=180)
    result = run_veille("status", "--db", str(out / "veille.db"), "--subscribers-db", str(out / "subscribers.db"),
                        "--operations-db", str(out / "operations.db"), "--sources", str(out / "sources.yaml"),
                        "--config", str(ROOT / "config"), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validé par demo" in result.stdout and "envoyé à 3 abonné·e(s)" in result.stdout
    assert not (out / "operations.db").exists()


# ---------------------------------------------------------------- the period


def test_a_crons_period_is_its_longest_gap():
    paris = load_config(config_dir_of_project()).settings.tz
    now = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)
    assert cron_period(PARIS_CRON_CRAWL, paris, now) == timedelta(hours=12)
    assert cron_period("0 8 * * mon", paris, now) == timedelta(days=7)
    assert cron_period("*/10 * * * *", paris, now) == timedelta(minutes=10)


def config_dir_of_project():
    from tests.conftest import ROOT

    return ROOT / "config"


def test_gather_status_is_usable_from_python(config_dir, archive):
    ops = healthy_operations(config_dir)
    record_run(ops, "bulletin", FAILED, ago(hours=1), exit_code=1)
    config = load_config(config_dir)
    current = gather_status(config, now=datetime.now(timezone.utc))
    assert not current.ok and [p.key for p in current.problems] == ["job-failed:bulletin"]
    assert current.jobs["bulletin"].failing_since == current.problems[0].since
