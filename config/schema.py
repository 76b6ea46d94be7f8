"""The schema of Veille's configuration: fixed slugs and facets, and the models of the three files.

- `sources.yaml`: what to collect (`SourcesFile`, `Source`);
- `taxonomy.yaml`: the curator's vocabulary (`Taxonomy`: fixed slugs, editable labels and keywords);
- `settings.yaml`: paths, crawl politeness, SMTP, schedule, bulletin (`Settings`).

Messages of validation errors are in French: the curator edits these files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cssselect import GenericTranslator, SelectorError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

SLUG = r"^[a-z0-9][a-z0-9-]*$"
DEFAULT_TIMEZONE = "Europe/Paris"

# The fixed slugs (README, « Taxonomy »): labels and keywords are editable, these are not.
NATURES = ("politique", "initiative", "appel", "evenement", "etude")
THEMES = ("animation-locale", "gouvernance", "diagnostic-strategie", "publics", "entreprises", "rse")
DISPOSITIFS = (
    "plie", "tzcld", "cite-emploi", "iae", "mission-locale", "france-travail", "cej", "fse",
    "politique-ville", "geiq", "clause-sociale",
)
TAXONOMY_FACETS = {"nature": NATURES, "themes": THEMES, "dispositifs": DISPOSITIFS}
PLACE_FACETS = ("departements", "communes", "epci")  # INSEE codes, SIREN for EPCI
# Every facet of the `tags` table; `region` holds the flags "na" (region_na) and "outside".
TAG_FACETS = (*TAXONOMY_FACETS, *PLACE_FACETS, "region")
# The facets an item may have several values of (lists in exports and the tag output).
LIST_FACETS = ("themes", "dispositifs", *PLACE_FACETS)
# How the curator reads the name of each facet.
FACET_LABELS = {"nature": "Nature", "themes": "Thèmes", "dispositifs": "Dispositifs", "departements": "Départements",
                "communes": "Communes", "epci": "Intercommunalités (EPCI)", "region": "Région"}
PLACE_CODE_FORMATS = {"departements": r"\d[\dAB]", "communes": r"\d[\dAB]\d{3}", "epci": r"\d{9}"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"« {value} » n'est pas une adresse http(s) complète")
    if "@" in parts.netloc:
        # user:password@host would be sent to the site and stored in the public archive with every URL.
        raise ValueError("l'adresse ne doit pas contenir d'identifiants (utilisateur:mot de passe@) : "
                         "ils seraient publiés dans l'archive")
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

    @field_validator("patterns")
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
    gazetteer: str = "config/gazetteer.json"
    operations_db: str = "data/operations.db"  # the scheduler's jobs, their runs, the alerts sent
    logs: str = "data/logs"                    # veille.log, rotated
    backups: str = "data/backups"              # `veille backup` without DEST_DIR


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
    password: SecretStr = SecretStr("")  # masked in every repr, log and error page
    tls: Literal["none", "starttls", "ssl"] = "none"
    from_: Annotated[str, Field(alias="from")] = "Veille <veille@localhost>"
    rate_per_second: Annotated[float, Field(gt=0)] = 5
    timeout: Annotated[float, Field(gt=0)] = 30
    attempts: Annotated[int, Field(ge=1, le=10)] = 3        # per message and run, on temporary refusals
    retry_pause: Annotated[float, Field(ge=0)] = 1.0        # seconds, times the attempt number (back-off)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class JobTimeouts(_Strict):
    """Minutes a scheduled run may take before it is killed and reported."""

    crawl: Annotated[float, Field(gt=0)] = 120
    tag: Annotated[float, Field(gt=0)] = 60
    learn: Annotated[float, Field(gt=0)] = 60
    bulletin: Annotated[float, Field(gt=0)] = 60


class ScheduleSettings(_Strict):
    crawl: str = "0 6,12,18 * * *"   # each crawl is followed by tagging
    bulletin: str = "0 8 * * mon"
    learn: str = "0 5 * * mon"  # retrain on the curator's decisions before the week's tagging
    misfire_grace_hours: Annotated[float, Field(gt=0)] = 12  # a run missed while down is caught up once, within this delay
    approval_retry_minutes: Annotated[float, Field(gt=0)] = 60  # an unapproved week: check again this often until approved
    timeouts: JobTimeouts = JobTimeouts()

    @model_validator(mode="before")
    @classmethod
    def _no_tag_time(cls, data: Any) -> Any:
        # `tag` of earlier versions: tagging now follows each crawl, so a fixed time is dropped.
        if isinstance(data, Mapping) and "tag" in data:
            data = {k: v for k, v in data.items() if k != "tag"}
        return data

    @field_validator("crawl", "bulletin", "learn")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger  # a quarter of a second to import: only with a schedule

        try:
            CronTrigger.from_crontab(value)
        except ValueError as e:
            raise ValueError(f"expression cron invalide « {value} » ({e})") from None
        return value


class AlertSettings(_Strict):
    to: str = ""                   # the mission officer's address; empty: no e-mail (`veille status` still tells)
    failing_runs: Annotated[int, Field(ge=1)] = 3   # a source failing this many crawls in a row is a problem

    @field_validator("to")
    @classmethod
    def _check_address(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", value):
            raise ValueError(f"adresse e-mail invalide « {value} »")
        return value


class BackupSettings(_Strict):
    keep: Annotated[int, Field(ge=1)] = 7   # `veille backup` keeps this many copies, deleting the oldest


class BulletinSettings(_Strict):
    title: str = "Veille emploi et territoires — Nouvelle-Aquitaine"
    max_age_days: Annotated[int, Field(ge=1)] = 30           # older articles stay out, even if new to us
    section_cap: Annotated[int, Field(ge=1)] = 8              # items a section shows in an e-mail
    agenda_lookback_weeks: Annotated[int, Field(ge=0)] = 6    # calls and events of earlier bulletins kept until their date
    inspiring_window_days: Annotated[int, Field(ge=1)] = 365  # « pratiques inspirantes »: similar initiatives of the last N days
    require_approval: bool = True  # `bulletin send` refuses a week the curator has not approved (--force overrides)


class Settings(_Strict):
    paths: Paths = Paths()
    timezone: str = DEFAULT_TIMEZONE  # weeks, dates in the bulletin and of the sources, the schedule
    public_url: str = "http://localhost:8001"
    secret: SecretStr = SecretStr("")  # signs unsubscribe links; masked in every repr and log
    crawl: CrawlSettings = CrawlSettings()
    smtp: SmtpSettings = SmtpSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    bulletin: BulletinSettings = BulletinSettings()
    alerts: AlertSettings = AlertSettings()
    backup: BackupSettings = BackupSettings()

    @model_validator(mode="before")
    @classmethod
    def _no_shared_password(cls, data: Any) -> Any:
        # `curator_password` of earlier versions: an empty one (the line of the old settings.yaml) is
        # dropped; a password set there protects nothing any more, which the curator must know.
        if isinstance(data, Mapping) and "curator_password" in data:
            data = dict(data)
            if data.pop("curator_password") not in (None, ""):
                raise ValueError("« curator_password » n'est plus utilisé et ne protège rien : supprimez cette "
                                 "ligne et créez un compte par personne (veille curators add NOM)")
        return data

    @field_validator("public_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"fuseau horaire inconnu « {value} »") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


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
    "VEILLE_ALERTS_TO": ("alerts", "to"),
}


