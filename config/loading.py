"""Loading the configuration folder: each file read, validated against `config.schema`, and
refused as a whole with the file, the line, the key and the reason (in French) when invalid.
`settings.yaml` may be absent (defaults); `VEILLE_*` environment variables override it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from config.errors import ConfigError, VeilleError
from config.schema import ENV_OVERRIDES, Settings, Source, SourcesFile, Taxonomy
from config.yamlfile import YamlDocument, read_yaml

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

    @property
    def gazetteer_path(self) -> Path:
        return self.path(self.settings.paths.gazetteer)

    @property
    def operations_db_path(self) -> Path:
        return self.path(self.settings.paths.operations_db)

    @property
    def logs_dir(self) -> Path:
        return self.path(self.settings.paths.logs)

    @property
    def backups_dir(self) -> Path:
        return self.path(self.settings.paths.backups)


def check_separate_databases(archive: Path | str, subscribers: Path | str) -> None:
    """Refuse one file for both databases: the archive is served, so the addresses would be too."""
    if Path(archive).resolve() == Path(subscribers).resolve():
        raise VeilleError(f"la base des abonné·es doit être un autre fichier que l'archive ({archive}) : "
                          "l'archive est publiée, les adresses le seraient aussi")


def load_config(config_dir: Path | str, environ: Mapping[str, str] | None = None) -> Config:
    config_dir = Path(config_dir)
    if not config_dir.is_dir():
        raise ConfigError(config_dir, [(None, "", "dossier de configuration introuvable")])
    config = Config(
        dir=config_dir,
        settings=load_settings(config_dir / "settings.yaml", environ),
        taxonomy=load_taxonomy(config_dir / "taxonomy.yaml"),
    )
    if config.db_path.resolve() == config.subscribers_db_path.resolve():
        raise ConfigError(config_dir / "settings.yaml", [(None, "paths.subscribers_db",
                          "doit être un autre fichier que paths.db : l'archive est publiée, les adresses le seraient aussi")])
    return config
