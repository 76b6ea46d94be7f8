"""The deployment files (deploy/): the systemd units pass `systemd-analyze verify` and its offline
security check, agree on one layout (/opt/veille, /var/lib/veille, /etc/veille/veille.env), start
commands the CLI accepts; the environment example sets every override with valid values; veille-admin
runs a command on an instance; the README's « Mise en production » names every file.

`systemd-analyze` comes with Debian's `systemd` package, which `make test` installs when missing
(Makefile target `systemd`); the units are verified with their ExecStart rewritten to this checkout's
.venv (verify checks that the binary exists), not started: there is no systemd running here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from config.loading import load_settings
from config.schema import ENV_OVERRIDES
from pipeline.backups import list_backups
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
CODE, INSTANCE, ENV_FILE = "/opt/veille", "/var/lib/veille", "/etc/veille/veille.env"
BINARY = f"{CODE}/.venv/bin/veille"
SERVICES = ("veille-schedule.service", "veille-serve.service", "veille-backup.service")
UNITS = (*SERVICES, "veille-backup.timer")


def analyze(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    if not Path(SYSTEMD_ANALYZE).exists():
        pytest.fail("systemd-analyze is missing: `make systemd` installs Debian's systemd package (make test does)")
    return subprocess.run([SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file, each a list of (key, value) in order (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
        else:
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict, section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit: dict, section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, (section, key, found)
    return found[0]


@pytest.fixture
def local_units(tmp_path) -> Path:
    """The units with their ExecStart pointing at this checkout's veille (verify checks it exists)."""
    folder = tmp_path / "units"
    folder.mkdir()
    local = str(ROOT / ".venv" / "bin" / "veille")
    for name in UNITS:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        (folder / name).write_text(text.replace(BINARY, local), encoding="utf-8")
    return folder


def test_the_units_pass_systemd_analyze_verify(local_units):
    result = analyze("verify", *(str(local_units / name) for name in UNITS), cwd=local_units)
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result.stdout + result.stderr
    # The same check fails on a unit that starts a missing program or has a mistyped key: it is not a no-op.
    broken = local_units / "veille-serve.service"
    broken.write_text(broken.read_text(encoding="utf-8").replace(str(ROOT / ".venv" / "bin" / "veille"),
                                                                "/nonexistent/veille")
                      .replace("ProtectSystem=strict", "ProtectSytem=strict"), encoding="utf-8")
    result = analyze("verify", str(broken), cwd=local_units)
    assert result.returncode != 0 and "/nonexistent/veille" in result.stderr
    assert "Unknown key 'ProtectSytem'" in result.stderr


def test_the_services_are_hardened(local_units):
    for name in SERVICES:
        # Exposure 0 (locked down) … 10 (none): at most 2.0 (« OK ») for each.
        result = analyze("security", "--offline=yes", "--threshold=20", str(local_units / name), cwd=local_units)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr
        unit = parse_unit(DEPLOY / name)
        for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                           ("ProtectHome", "yes"), ("ReadWritePaths", INSTANCE), ("CapabilityBoundingSet", "")):
            assert one(unit, "Service", key) == value, (name, key)


def test_the_units_agree_on_one_layout_and_restart_policy():
    for name in SERVICES:
        unit = parse_unit(DEPLOY / name)
        assert one(unit, "Service", "User") == "veille" and one(unit, "Service", "Group") == "veille"
        assert one(unit, "Service", "WorkingDirectory") == INSTANCE
        assert f"VEILLE_CONFIG={INSTANCE}/config" in values(unit, "Service", "Environment")
        assert one(unit, "Service", "EnvironmentFile") == ENV_FILE
        assert one(unit, "Service", "ExecStart").startswith(BINARY + " ")
        assert one(unit, "Unit", "Documentation").endswith("#mise-en-production")
    for name in ("veille-schedule.service", "veille-serve.service"):
        unit = parse_unit(DEPLOY / name)
        assert one(unit, "Service", "Restart") == "on-failure"
        assert one(unit, "Install", "WantedBy") == "multi-user.target"
    assert one(parse_unit(DEPLOY / "veille-schedule.service"), "Service", "ExecStart") == f"{BINARY} schedule"
    assert one(parse_unit(DEPLOY / "veille-serve.service"), "Service", "ExecStart") == \
        f"{BINARY} serve --host 127.0.0.1 --port 8001"
    backup = parse_unit(DEPLOY / "veille-backup.service")
    assert one(backup, "Service", "Type") == "oneshot" and one(backup, "Service", "ExecStart") == f"{BINARY} backup"
    timer = parse_unit(DEPLOY / "veille-backup.timer")
    assert one(timer, "Timer", "Unit") == "veille-backup.service" and one(timer, "Timer", "Persistent") == "true"
    assert one(timer, "Install", "WantedBy") == "timers.target"
    calendar = analyze("calendar", one(timer, "Timer", "OnCalendar"))
    assert calendar.returncode == 0 and "Next elapse:" in calendar.stdout, calendar.stderr


def test_each_unit_starts_a_command_the_cli_accepts():
    for name in SERVICES:
        command = one(parse_unit(DEPLOY / name), "Service", "ExecStart").split()
        args = command[1:]
        result = subprocess.run([str(ROOT / ".venv" / "bin" / "veille"), *args, "--help"], capture_output=True,
                                text=True, timeout=60, cwd=ROOT)
        assert result.returncode == 0 and result.stdout.startswith(f"Usage: veille {args[0]}"), (name, result.stderr)


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of an environment file as sh reads it (veille-admin); systemd's EnvironmentFile=
    takes the same NAME=value lines and the same double quotes."""
    result = subprocess.run(["sh", "-c", 'set -a; . "$1"; set +a; env -0', "sh", str(path)], env={},
                            capture_output=True, text=True, timeout=30, check=True)
    pairs = (entry.partition("=") for entry in result.stdout.split("\0") if entry)
    return {name: value for name, _, value in pairs if name.startswith("VEILLE_")}


def test_the_environment_example_sets_every_override_with_valid_values():
    environ = read_env_file(DEPLOY / "veille.env.example")
    assert set(environ) == set(ENV_OVERRIDES)
    settings = load_settings(None, environ=environ)
    assert settings.smtp.from_ == "Veille emploi et territoires <veille@example.org>"
    assert settings.smtp.tls == "starttls" and settings.public_url.startswith("https://")
    assert settings.alerts.to and settings.secret.get_secret_value()
    for line in (DEPLOY / "veille.env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r'VEILLE_[A-Z_]+=("[^"]*"|[^"\s]*)', line), line  # one syntax for systemd and sh


def test_veille_admin_runs_a_command_on_the_instance(config_dir, tmp_path):
    home = config_dir.parent  # an instance: config/ and, once a command ran, data/
    env_file = tmp_path / "veille.env"
    shutil.copy(DEPLOY / "veille.env.example", env_file)
    admin_env = {**os.environ, "VEILLE_USER": subprocess.run(["id", "-un"], capture_output=True, text=True).stdout
                 .strip(), "VEILLE_HOME": str(home), "VEILLE_ENV_FILE": str(env_file),
                 "VEILLE_BIN": str(ROOT / ".venv" / "bin" / "veille")}
    admin_env.pop("VEILLE_CONFIG", None)

    def admin(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(DEPLOY / "veille-admin"), *args], capture_output=True, text=True, timeout=120,
                              cwd="/", env=admin_env)

    assert admin("tag").returncode == 0  # creates the archive, in the instance's data/
    result = admin("backup")
    assert result.returncode == 0, result.stderr
    assert len(list_backups(home / "data" / "backups")) == 1  # paths.backups of the instance, from any folder
    # The secrets file is read: a bad value in it is reported by its variable.
    env_file.write_text(env_file.read_text(encoding="utf-8").replace("VEILLE_SMTP_PORT=587", "VEILLE_SMTP_PORT=abc"),
                        encoding="utf-8")
    result = admin("backup")
    assert result.returncode == 1 and "variable d'environnement VEILLE_SMTP_PORT" in result.stderr
    env_file.unlink()
    result = admin("status")
    assert result.returncode == 1 and f"Erreur : {env_file} illisible" in result.stderr


def readme_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Mise en production\n(.*?)(?=^## )", readme, re.S | re.M)
    assert match, "README.md has no « Mise en production » section followed by another section"
    assert readme.index("## Mise en production") < readme.index("## Development")
    return match[1]


def test_the_readme_documents_every_deployment_file_and_the_monitoring_contract():
    section = readme_section()
    for path in DEPLOY.iterdir():
        assert path.name in section, path.name
    for needed in ("veille status", "veille backup", "veille restore", "make install", "useradd", "git pull",
                   "X-Forwarded-For", "systemctl enable --now"):
        assert needed in section, needed
