"""Writing sources.yaml from the command line (`veille sources add`, `veille sources repair`).

ruamel.yaml's round trip keeps the curator's comments, blank lines, quotes and layout; the new text
is validated like any config change (`config.loading.load_sources`) before it replaces the file,
atomically; nothing is written when anything is wrong.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from config.errors import VeilleError
from config.loading import load_sources
from pipeline.urls import canonical_url


class SourceFileError(VeilleError):
    """A refused change of sources.yaml (message in French)."""


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _load(path: Path):
    yaml = _yaml()
    data = yaml.load(path.read_text(encoding="utf-8"))
    if data is None or not isinstance(data.get("sources"), list):
        raise SourceFileError(f"{path} : pas de liste « sources: »")
    return yaml, data


def _same_url(a: str, b: str) -> bool:
    try:
        return canonical_url(a).rstrip("/") == canonical_url(b).rstrip("/")
    except ValueError:
        return a == b


def _write(path: Path, yaml: YAML, data) -> None:
    out = io.StringIO()
    yaml.dump(data, out)
    text = out.getvalue()
    fd, temp = tempfile.mkstemp(prefix=".sources-", suffix=".yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        load_sources(temp)  # validated like any config change: ConfigError, nothing written
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def add_source(path: Path | str, entry: dict) -> None:
    """Append `entry` to the sources of `path`; refuses a duplicate id or URL."""
    path = Path(path)
    yaml, data = _load(path)
    sources = data["sources"]
    for existing in sources:
        if existing.get("id") == entry["id"]:
            raise SourceFileError(f"une source a déjà l'identifiant « {entry['id']} » : choisissez-en un autre "
                                  "(--id). Rien n'a été écrit.")
        if existing.get("url") and _same_url(str(existing["url"]), entry["url"]):
            raise SourceFileError(f"la source « {existing.get('id')} » a déjà l'adresse {entry['url']}. "
                                  "Rien n'a été écrit.")
    if not isinstance(sources, CommentedSeq):  # `sources: []`: a block list from now on
        data["sources"] = sources = CommentedSeq(sources)
        data.fa.set_block_style()
    item = CommentedMap(entry)
    sources.append(item)
    if len(sources) > 1:  # a blank line before the new entry, like the others
        sources.yaml_set_comment_before_after_key(len(sources) - 1, before="\n", indent=2)
    _write(path, yaml, data)


def replace_source(path: Path | str, source_id: str, changes: dict, drop: tuple[str, ...] = ()) -> None:
    """Change the fields of one source in place (its comments kept); `drop` removes fields."""
    path = Path(path)
    yaml, data = _load(path)
    for existing in data["sources"]:
        if existing.get("id") == source_id:
            for key in drop:
                existing.pop(key, None)
            for key, value in changes.items():
                existing[key] = value
            break
    else:
        raise SourceFileError(f"source inconnue : « {source_id} »")
    _write(path, yaml, data)
