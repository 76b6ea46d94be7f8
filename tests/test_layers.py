"""The architecture holds: ground, stages, top, with imports going down only."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

STAGES = ("crawlers", "pipeline", "newsletter")


def test_import_linter_contracts_are_kept():
    # import-linter's console script, installed beside this Python by the `dev` extra.
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_no_stage_and_not_the_ground_imports_the_top():
    pattern = re.compile(r"^\s*(from|import) veille\b", re.M)
    offenders = [str(path.relative_to(ROOT)) for folder in (*STAGES, "config")
                 for path in (ROOT / folder).rglob("*.py") if pattern.search(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_ground_imports_nothing_else_of_the_project():
    pattern = re.compile(r"^\s*(from|import) (crawlers|pipeline|newsletter|veille)\b", re.M)
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "config").rglob("*.py")
                 if pattern.search(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_scikit_learn_is_imported_only_where_a_model_is_trained_or_used():
    code = ("import sys, pipeline.curation, pipeline.tagging, newsletter.bulletin, veille.datasette_plugin;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy', 'joblib')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_veille_help_imports_neither_the_archive_nor_the_config_models():
    # `veille --help` lists every command group, so imports their modules: those must stay light
    # (sqlite-utils brings NumPy; the config's models pydantic; Babel its locale data).
    code = ("import sys\nfrom click.testing import CliRunner\nfrom veille.cli import cli\n"
            "result = CliRunner().invoke(cli, ['--help'])\nassert result.exit_code == 0 and 'status' in result.output\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'sqlite_utils', 'numpy', 'pydantic', 'babel', 'filelock', 'sklearn'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"
