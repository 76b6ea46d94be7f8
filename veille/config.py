"""Veille's three configuration files, validated on load.

- `sources.yaml`: what to collect (format in DESIGN.md);
- `taxonomy.yaml`: the curator's vocabulary (fixed slugs, editable labels and keywords);
- `settings.yaml`: paths, crawl politeness, SMTP, schedule, with `VEILLE_*` environment overrides.

An invalid file raises `ConfigError` naming the file, the line, the key and the reason
(in French: the curator edits these files); nothing is used from a refused file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from cssselect import GenericTranslator, SelectorError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from veille.yamlfile import ConfigError, YamlDocument, read_yaml

SLUG = r"^[a-z0-9][a-z0-9-]*$"

# The fixed slugs of DESIGN.md: labels and keywords are editable, these are not.
NATURES = ("politique", "initiative", "appel", "evenement", "etude")
THEMES = ("animation-locale", "gouvernance", "diagnostic-strategie", "publics", "entreprises", "rse")
DISPOSITIFS = (
    "plie", "tzcld", "cite-emploi", "iae", "mission-locale", "france-travail", "cej", "fse",
    "politique-ville", "geiq", "clause-sociale",
)
TAXONOMY_FACETS = {"nature": NATURES, "themes": THEMES, "dispositifs": DISPOSITIFS}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"« {value} » n'est pas une adresse http(s) complète")
    return value


def _css_selector(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        GenericTranslator().css_to_xpath(value)
    except SelectorError as e:
        raise ValueError(f"sélecteur CSS invalide « {value} » ({e})") from None
    return value


# ---------------------------------------------------------------- sources.yaml


class Source(_Strict):
    id: Annotated[str, Field(pattern=SLUG)]
    name: Annotated[str, Field(min_length=1)]
    type: Literal["rss", "html", "sitemap"]
    url: str
    fetch_full: bool = False
    links: str | None = None
    next: str | None = None
    max_pages: Annotated[int, Field(ge=1, le=100)] = 1
    url_filter: str | None = None
    max_age_days: Annotated[int, Field(ge=1)] | None = None
    enabled: bool = True
    topical: bool = False

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("links", "next")
    @classmethod
    def _check_selectors(cls, value: str | None) -> str | None:
        return _css_selector(value)

    @field_validator("url_filter")
    @classmethod
    def _check_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as e:
                raise ValueError(f"expression régulière invalide « {value} » ({e})") from None
        return value

    @model_validator(mode="after")
    def _html_needs_links(self) -> Source:
        if self.type == "html" and not self.links:
            raise ValueError("une source de type html doit donner « links » (sélecteur CSS des liens)")
        return self


class SourcesFile(_Strict):
    sources: list[Source]

    @field_validator("sources")
    @classmethod
    def _unique_ids(cls, sources: list[Source]) -> list[Source]:
        seen: set[str] = set()
        for source in sources:
            if source.id in seen:
                raise ValueError(f"identifiant de source en double : « {source.id} »")
            seen.add(source.id)
        return sources


# --------------------------------------------------------------- taxonomy.yaml


class TaxonomyEntry(_Strict):
    label: Annotated[str, Field(min_length=1)]
    description: str = ""
    keywords: list[Annotated[str, Field(min_length=1)]] = []
    strong_keywords: list[Annotated[str, Field(min_length=1)]] = []  # count double
    patterns: list[str] = []
    exclude: list[Annotated[str, Field(min_length=1)]] = []
    min_score: Annotated[float, Field(gt=0)] | None = None  # default: 1 (nature, dispositifs), 2 (themes)

    @field_validator("keywords", "strong_keywords", "exclude")
    @classmethod
    def _check_keywords(cls, keywords: list[str]) -> list[str]:
        for keyword in keywords:
            if keyword.count("[") != keyword.count("]") or "*" in keyword.rstrip("*"):
                raise ValueError(f"mot-clé mal écrit « {keyword} » : [lettres facultatives], * seulement à la fin")
        return keywords

    @field_validator("patterns", "exclude")
    @classmethod
    def _check_patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"motif invalide « {pattern} » ({e})") from None
        return patterns


class Taxonomy(_Strict):
    nature: dict[str, TaxonomyEntry]
    themes: dict[str, TaxonomyEntry]
    dispositifs: dict[str, TaxonomyEntry]

    @model_validator(mode="before")
    @classmethod
    def _fixed_slugs(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        for facet, slugs in TAXONOMY_FACETS.items():
            entries = data.get(facet)
            if not isinstance(entries, Mapping):
                continue
            unknown = [s for s in entries if s not in slugs]
            missing = [s for s in slugs if s not in entries]
            if unknown:
                raise ValueError(
                    f"{facet} : slug inconnu « {unknown[0]} » (slugs permis : {', '.join(slugs)})"
                )
            if missing:
                raise ValueError(f"{facet} : slug manquant « {missing[0]} »")
        return data

    def facet_of(self, slug: str) -> str | None:
        for facet in TAXONOMY_FACETS:
            if slug in getattr(self, facet):
                return facet
        return None

    def label(self, facet: str, slug: str) -> str:
        entries = getattr(self, facet, None) or {}
        return entries[slug].label if slug in entries else slug


# --------------------------------------------------------------- settings.yaml


class Paths(_Strict):
    db: str = "data/veille.db"
    subscribers_db: str = "data/subscribers.db"
    bulletins: str = "data/bulletins"


class CrawlSettings(_Strict):
    user_agent: str = "Veille/0.1 (veille emploi et territoires)"
    contact_url: str = "https://github.com/veille-na/veille"  # sent in the User-Agent: who to ask
    timeout: Annotated[float, Field(gt=0)] = 30
    max_size_mb: Annotated[float, Field(gt=0)] = 10
    concurrent_requests_per_domain: Annotated[int, Field(ge=1)] = 2
    download_delay: Annotated[float, Field(ge=0)] = 1.0
    autothrottle: bool = True
    retry_times: Annotated[int, Field(ge=0)] = 2
    obey_robots: bool = True

    @field_validator("contact_url")
    @classmethod
    def _check_contact(cls, value: str) -> str:
        return _http_url(value)

    @property
    def full_user_agent(self) -> str:
        return f"{self.user_agent} (+{self.contact_url})"


class SmtpSettings(_Strict):
    host: str = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    user: str = ""
    password: str = ""
    tls: Literal["none", "starttls", "ssl"] = "none"
    from_: Annotated[str, Field(alias="from")] = "Veille <veille@localhost>"
    rate_per_second: Annotated[float, Field(gt=0)] = 5
    timeout: Annotated[float, Field(gt=0)] = 30

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ScheduleSettings(_Strict):
    timezone: str = "Europe/Paris"
    crawl: str = "0 6,12,18 * * *"
    tag: str = "30 6,12,18 * * *"
    bulletin: str = "0 8 * * mon"
    learn: str = "0 5 * * mon"  # retrain on the curator's decisions before the week's tagging

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"fuseau horaire inconnu « {value} »") from None
        return value

    @field_validator("crawl", "tag", "bulletin", "learn")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(value)
        except ValueError as e:
            raise ValueError(f"expression cron invalide « {value} » ({e})") from None
        return value


class BulletinSettings(_Strict):
    title: str = "Veille emploi et territoires — Nouvelle-Aquitaine"
    max_age_days: Annotated[int, Field(ge=1)] = 30


class Settings(_Strict):
    paths: Paths = Paths()
    public_url: str = "http://localhost:8001"
    secret: str = ""
    curator_password: str = ""  # opens the curation pages of `veille serve`; empty: they stay closed
    crawl: CrawlSettings = CrawlSettings()
    smtp: SmtpSettings = SmtpSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    bulletin: BulletinSettings = BulletinSettings()

    @field_validator("public_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)


# Environment variables that override settings.yaml: name -> path in the file.
ENV_OVERRIDES = {
    "VEILLE_SMTP_HOST": ("smtp", "host"),
    "VEILLE_SMTP_PORT": ("smtp", "port"),
    "VEILLE_SMTP_USER": ("smtp", "user"),
    "VEILLE_SMTP_PASSWORD": ("smtp", "password"),
    "VEILLE_SMTP_TLS": ("smtp", "tls"),
    "VEILLE_SMTP_FROM": ("smtp", "from"),
    "VEILLE_PUBLIC_URL": ("public_url",),
    "VEILLE_SECRET": ("secret",),
    "VEILLE_CURATOR_PASSWORD": ("curator_password",),
}


# ------------------------------------------------------------------- loading

_MESSAGES = {
    "missing": "valeur obligatoire absente",
    "extra_forbidden": "clé inconnue",
    "string_type": "texte attendu",
    "int_type": "nombre entier attendu",
    "int_parsing": "nombre entier attendu",
    "int_from_float": "nombre entier attendu",
    "float_type": "nombre attendu",
    "float_parsing": "nombre attendu",
    "bool_type": "true ou false attendu",
    "bool_parsing": "true ou false attendu",
    "list_type": "liste attendue",
    "dict_type": "dictionnaire (clé: valeur) attendu",
    "model_type": "dictionnaire (clé: valeur) attendu",
    "model_attributes_type": "dictionnaire (clé: valeur) attendu",
}


def _french(error: dict) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        return f"valeur « {error.get('input')} » non permise (attendu : {str(ctx.get('expected', '')).replace(' or ', ' ou ')})"
    if kind == "string_pattern_mismatch":
        return f"« {error.get('input')} » : lettres minuscules, chiffres et tirets seulement"
    if kind in ("string_too_short", "too_short"):
        return "ne doit pas être vide"
    if kind in ("greater_than", "greater_than_equal"):
        return f"doit être au moins {ctx.get('gt', ctx.get('ge'))}"
    if kind in ("less_than", "less_than_equal"):
        return f"doit être au plus {ctx.get('lt', ctx.get('le'))}"
    return _MESSAGES.get(kind, error["msg"])


def _validate(model: type[BaseModel], doc: YamlDocument, data: Any = None) -> Any:
    data = doc.data if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(doc.path, [(None, "", "le fichier doit contenir un dictionnaire (clé: valeur)")])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = []
        for error in e.errors():
            loc = tuple(p for p in error["loc"] if p not in ("function-after", "function-before"))
            key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
            problems.append((doc.line_of(loc), key, _french(error)))
        raise ConfigError(doc.path, problems) from None


def load_sources(path: Path | str) -> list[Source]:
    doc = read_yaml(path)
    return _validate(SourcesFile, doc).sources


def load_taxonomy(path: Path | str) -> Taxonomy:
    return _validate(Taxonomy, read_yaml(path))


def load_settings(path: Path | str | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the file (all keys optional; no file means defaults), then the environment."""
    environ = os.environ if environ is None else environ
    if path is not None and Path(path).exists():
        doc = read_yaml(path)
        data = doc.data if doc.data is not None else {}
    else:
        doc = YamlDocument(Path(path or "settings.yaml"), {}, None)
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(doc.path, [(None, "", "le fichier doit contenir un dictionnaire (clé: valeur)")])
    data = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    for name, keys in ENV_OVERRIDES.items():
        if name in environ:
            section = data
            for key in keys[:-1]:
                section = section.setdefault(key, {})
                if not isinstance(section, dict):
                    break
            else:
                section[keys[-1]] = environ[name]
    try:
        return _validate(Settings, doc, data)
    except ConfigError as e:
        # A bad value that came from the environment is named by its variable.
        by_path = {".".join(keys): name for name, keys in ENV_OVERRIDES.items() if name in environ}
        problems = [
            (None, f"variable d'environnement {by_path[key]}", reason) if key in by_path else (line, key, reason)
            for line, key, reason in e.problems
        ]
        raise ConfigError(e.file, problems) from None


@dataclass
class Config:
    """Everything loaded from one config directory."""

    dir: Path
    settings: Settings
    taxonomy: Taxonomy

    @property
    def root(self) -> Path:
        """Relative paths in settings are relative to the project folder that holds config/."""
        return self.dir.resolve().parent

    def path(self, value: str | Path) -> Path:
        value = Path(value)
        return value if value.is_absolute() else self.root / value

    @property
    def sources_file(self) -> Path:
        return self.dir / "sources.yaml"

    @property
    def db_path(self) -> Path:
        return self.path(self.settings.paths.db)

    @property
    def subscribers_db_path(self) -> Path:
        return self.path(self.settings.paths.subscribers_db)

    @property
    def bulletins_dir(self) -> Path:
        return self.path(self.settings.paths.bulletins)


def load_config(config_dir: Path | str, environ: Mapping[str, str] | None = None) -> Config:
    config_dir = Path(config_dir)
    if not config_dir.is_dir():
        raise ConfigError(config_dir, [(None, "", "dossier de configuration introuvable")])
    return Config(
        dir=config_dir,
        settings=load_settings(config_dir / "settings.yaml", environ),
        taxonomy=load_taxonomy(config_dir / "taxonomy.yaml"),
    )
