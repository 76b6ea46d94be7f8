"""Read a YAML file and keep the line of every value, so that errors can point at it.

PyYAML's `safe_load` forgets where values came from and silently keeps the last of
two duplicate keys; here the node tree is kept beside the data, duplicate keys are
refused, and `line_of(loc)` finds the line of any path such as ("sources", 3, "url").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from config.errors import ConfigError

# libyaml's safe loader when PyYAML was built with it: the same data and marks, ten times faster (the
# taxonomy is read by every command, and the CLI must start in under a second).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class YamlDocument:
    path: Path
    data: Any
    root: yaml.Node | None

    def line_of(self, loc: tuple) -> int | None:
        """1-based line of the deepest node reachable along `loc`."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for part in loc:
            child = _child(node, part)
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return line


def _child(node: yaml.Node | None, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == str(part):
                return value_node
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        if 0 <= part < len(node.value):
            return node.value[part]
    return None


def read_yaml(path: Path | str) -> YamlDocument:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [(None, "", "fichier introuvable")]) from None
    except UnicodeDecodeError as e:
        raise ConfigError(path, [(None, "", f"le fichier n'est pas en UTF-8 ({e.reason})")]) from e
    try:
        root = yaml.compose(text, Loader=_LOADER)
        _refuse_duplicate_keys(path, root)
        data = yaml.load(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(path, [(line, "", f"YAML invalide : {e.problem or e.context}")]) from e
    except yaml.YAMLError as e:
        raise ConfigError(path, [(None, "", f"YAML invalide : {e}")]) from e
    return YamlDocument(path, data, root)


def _refuse_duplicate_keys(path: Path, node: yaml.Node | None) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(
                    path,
                    [(key_node.start_mark.line + 1, key,
                      f"clé en double (déjà définie ligne {seen[key]})")],
                )
            seen[key] = key_node.start_mark.line + 1
            _refuse_duplicate_keys(path, value_node)
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            _refuse_duplicate_keys(path, child)
