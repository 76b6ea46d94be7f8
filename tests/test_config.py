"""Config validation: every kind of invalid input is refused as a whole, with file, line and reason."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from tests.conftest import ROOT, run_veille
from config.loading import load_config, load_settings, load_sources, load_taxonomy
from config.errors import ConfigError


def write(tmp_path, text, name="sources.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(call, *args, **kwargs):
    with pytest.raises(ConfigError) as info:
        call(*args, **kwargs)
    return info.value.problems, str(info.value)


def test_project_config_is_valid():
    config = load_config(ROOT / "config")
    assert set(config.taxonomy.themes) == {"animation-locale", "gouvernance", "diagnostic-strategie", "publics",
                                           "entreprises", "rse"}
    assert "france-travail" in config.taxonomy.dispositifs
    sources = load_sources(ROOT / "config" / "sources.yaml")
    assert sources and all(s.type in ("rss", "html", "sitemap") for s in sources)


GOOD = """\
sources:
  - id: ville-actus
    name: "Ville — actualités"
    type: html
    url: https://example.org/actualites
    links: "article h2 a"
    next: "a.next"
    max_pages: 3
"""


def test_valid_sources_file(tmp_path):
    (source,) = load_sources(write(tmp_path, GOOD))
    assert (source.id, source.type, source.max_pages, source.enabled, source.topical) == (
        "ville-actus", "html", 3, True, False)


@pytest.mark.parametrize("replace, line, key, reason", [
    (("type: html", "type: atom"), 4, "sources[0].type", "non permise"),
    (("https://example.org/actualites", "ftp://example.org/x"), 5, "sources[0].url", "http(s)"),
    (("id: ville-actus", "id: Ville_Actus"), 2, "sources[0].id", "minuscules"),
    (("max_pages: 3", "max_pages: trois"), 8, "sources[0].max_pages", "entier"),
    (("max_pages: 3", "max_pages: 0"), 8, "sources[0].max_pages", "au moins 1"),
    (("max_pages: 3", "max_page: 3"), 8, "sources[0].max_page", "clé inconnue"),
    (('links: "article h2 a"', 'links: "article >> h2"'), 6, "sources[0].links", "sélecteur CSS invalide"),
    (('    links: "article h2 a"\n', ""), 2, "sources[0]", "doit donner « links »"),
    (('name: "Ville — actualités"', "name:"), 3, "sources[0].name", "texte attendu"),
])
def test_each_invalid_source_field_is_named(tmp_path, replace, line, key, reason):
    problems, message = problems_of(load_sources, write(tmp_path, GOOD.replace(*replace)))
    assert (line, key) == problems[0][:2], problems
    assert reason in problems[0][2]
    assert "sources.yaml" in message and f"ligne {line}" in message


def test_missing_required_key(tmp_path):
    problems, _ = problems_of(load_sources, write(tmp_path, GOOD.replace("    url: https://example.org/actualites\n", "")))
    assert problems == [(2, "sources[0].url", "valeur obligatoire absente")]


def test_duplicate_source_ids(tmp_path):
    text = GOOD + GOOD.split("\n", 1)[1]
    problems, _ = problems_of(load_sources, write(tmp_path, text))
    assert "en double" in problems[0][2] and "ville-actus" in problems[0][2]


def test_duplicate_yaml_key_is_refused(tmp_path):
    problems, _ = problems_of(load_sources, write(tmp_path, GOOD + "    max_pages: 4\n"))
    assert problems[0][0] == 9 and "clé en double" in problems[0][2]


def test_broken_yaml_syntax_gives_its_line(tmp_path):
    problems, _ = problems_of(load_sources, write(tmp_path, GOOD.replace('name: "Ville', 'name: [Ville')))
    assert problems[0][0] is not None and "YAML invalide" in problems[0][2]


def test_not_a_mapping_and_missing_file(tmp_path):
    problems, _ = problems_of(load_sources, write(tmp_path, "- just\n- a list\n"))
    assert "dictionnaire" in problems[0][2]
    problems, _ = problems_of(load_sources, tmp_path / "nowhere.yaml")
    assert problems[0][2] == "fichier introuvable"


def test_wrong_encoding_is_refused(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_bytes(GOOD.replace("—", "-").replace("Ville", "Ville é").encode("latin-1"))
    problems, _ = problems_of(load_sources, path)
    assert "UTF-8" in problems[0][2]


def test_every_problem_of_a_file_is_listed(tmp_path):
    problems, _ = problems_of(load_sources, write(tmp_path, GOOD.replace("type: html", "type: atom")
                                                  .replace("max_pages: 3", "max_pages: -1")))
    assert {p[1] for p in problems} == {"sources[0].type", "sources[0].max_pages"}


# ------------------------------------------------------------------ taxonomy


@pytest.fixture
def taxonomy_file(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    shutil.copy(ROOT / "config" / "taxonomy.yaml", path)
    return path


def test_taxonomy_unknown_slug(taxonomy_file):
    text = taxonomy_file.read_text(encoding="utf-8").replace("  geiq:\n", "  geik:\n")
    taxonomy_file.write_text(text, encoding="utf-8")
    problems, _ = problems_of(load_taxonomy, taxonomy_file)
    assert "slug inconnu « geik »" in problems[0][2]


def test_taxonomy_missing_slug(taxonomy_file):
    text = taxonomy_file.read_text(encoding="utf-8")
    start = text.index("  rse:\n")
    end = text.index("\ndispositifs:")
    taxonomy_file.write_text(text[:start] + text[end:], encoding="utf-8")
    problems, _ = problems_of(load_taxonomy, taxonomy_file)
    assert "slug manquant « rse »" in problems[0][2]


def test_taxonomy_invalid_pattern_gives_line(taxonomy_file):
    text = taxonomy_file.read_text(encoding="utf-8").replace(
        '    label: "GEIQ"\n', '    label: "GEIQ"\n    patterns: ["(groupement"]\n')
    taxonomy_file.write_text(text, encoding="utf-8")
    problems, _ = problems_of(load_taxonomy, taxonomy_file)
    line = text.splitlines().index('    patterns: ["(groupement"]') + 1
    assert problems[0][0] == line and problems[0][1] == "dispositifs.geiq.patterns"
    assert "motif invalide" in problems[0][2]


def test_taxonomy_exclude_is_keywords_not_a_pattern(taxonomy_file):
    # « exclude » takes the keywords' notation: a bracket there is a letter, not an unclosed group.
    text = taxonomy_file.read_text(encoding="utf-8").replace(
        '    label: "GEIQ"\n', '    label: "GEIQ"\n    exclude: ["GEIQ (projet"]\n')
    taxonomy_file.write_text(text, encoding="utf-8")
    taxonomy = load_taxonomy(taxonomy_file)
    assert taxonomy.dispositifs["geiq"].exclude == ["GEIQ (projet"]


def test_taxonomy_empty_label(taxonomy_file):
    text = taxonomy_file.read_text(encoding="utf-8").replace('label: "GEIQ"', 'label: ""')
    taxonomy_file.write_text(text, encoding="utf-8")
    problems, _ = problems_of(load_taxonomy, taxonomy_file)
    assert problems[0][1] == "dispositifs.geiq.label" and "vide" in problems[0][2]


# ------------------------------------------------------------------ settings


def test_settings_defaults_and_env_overrides(tmp_path):
    path = write(tmp_path, "smtp:\n  host: mail.example.org\n", "settings.yaml")
    settings = load_settings(path, {"VEILLE_SMTP_PORT": "2525", "VEILLE_SMTP_TLS": "starttls",
                                    "VEILLE_SMTP_FROM": "Veille <v@example.org>", "VEILLE_SECRET": "s3cret",
                                    "VEILLE_PUBLIC_URL": "https://veille.example.org",
                                    "VEILLE_SMTP_USER": "u", "VEILLE_SMTP_PASSWORD": "p",
                                    "VEILLE_SMTP_HOST": "smtp.example.org"})
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.tls) == ("smtp.example.org", 2525, "starttls")
    assert (settings.smtp.user, settings.smtp.password.get_secret_value(), settings.smtp.from_) == (
        "u", "p", "Veille <v@example.org>")
    assert (settings.secret.get_secret_value(), settings.public_url) == ("s3cret", "https://veille.example.org")
    # Secrets never show in a repr, a log line or a traceback's locals.
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings) and "'p'" not in repr(settings.smtp)
    assert settings.crawl.timeout == 30 and settings.crawl.max_size_mb == 10 and settings.crawl.obey_robots


def test_settings_bad_env_value_names_the_variable(tmp_path):
    problems, message = problems_of(load_settings, None, {"VEILLE_SMTP_PORT": "vingt-cinq", "VEILLE_SMTP_TLS": "tls"})
    keys = {p[1] for p in problems}
    assert keys == {"variable d'environnement VEILLE_SMTP_PORT", "variable d'environnement VEILLE_SMTP_TLS"}
    assert "nombre entier" in message


def test_settings_bad_value_in_file(tmp_path):
    path = write(tmp_path, "crawl:\n  timeout: -3\npublic_url: localhost\n", "settings.yaml")
    problems, _ = problems_of(load_settings, path, {})
    assert {(p[0], p[1]) for p in problems} == {(2, "crawl.timeout"), (3, "public_url")}


def test_cli_refuses_invalid_sources_and_runs_nothing(tmp_path, config_dir):
    bad = write(tmp_path, GOOD.replace("type: html", "type: atom"))
    result = run_veille("crawl", "--config", str(config_dir), "--sources", str(bad), check=False)
    assert result.returncode == 1
    assert "ligne 4 (sources[0].type)" in result.stderr and "Traceback" not in result.stderr
    assert not (config_dir.parent / "data" / "veille.db").exists()


def test_settings_bad_schedule(tmp_path):
    path = write(tmp_path, "timezone: Europe/Pariss\nschedule:\n  crawl: '0 25 * * *'\n", "settings.yaml")
    problems, _ = problems_of(load_settings, path, {})
    assert [(p[0], p[1]) for p in problems] == [(1, "timezone"), (3, "schedule.crawl")]
    assert "fuseau horaire inconnu" in problems[0][2] and "cron invalide" in problems[1][2]


def test_bulletin_requires_approval_by_default_and_can_be_told_not_to(tmp_path):
    assert load_settings(None, {}).bulletin.require_approval is True
    assert load_config(ROOT / "config").settings.bulletin.require_approval is True  # written in settings.yaml
    path = write(tmp_path, "bulletin:\n  require_approval: false\n", "settings.yaml")
    assert load_settings(path, {}).bulletin.require_approval is False
    problems, _ = problems_of(load_settings, write(tmp_path, "bulletin:\n  require_approval: peut-être\n",
                                                   "settings.yaml"), {})
    assert problems == [(2, "bulletin.require_approval", "true ou false attendu")]


def test_the_shared_curator_password_is_gone(tmp_path):
    # The empty line of an older settings.yaml is harmless; a password set there protected nothing.
    assert not hasattr(load_settings(write(tmp_path, 'curator_password: ""\n', "settings.yaml"), {}),
                       "curator_password")
    _, message = problems_of(load_settings, write(tmp_path, "curator_password: s3cret\n", "settings.yaml"), {})
    assert "« curator_password » n'est plus utilisé" in message and "veille curators add" in message
    assert "s3cret" not in message
    settings = load_settings(None, {"VEILLE_CURATOR_PASSWORD": "s3cret"})  # no longer an override
    assert "s3cret" not in repr(settings)
    assert "curator_password" not in (ROOT / "config" / "settings.yaml").read_text(encoding="utf-8")
