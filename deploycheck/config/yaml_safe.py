"""Read a YAML file that may be hostile or broken, quickly and with little memory, or say exactly what is wrong.

Refused: files over `MAX_FILE_BYTES`, text that is not UTF-8, a value over `MAX_SCALAR_CHARS`, documents that grow
beyond `MAX_NODES` once aliases are expanded (an "alias bomb" of a few lines expands to billions of nodes), nesting
deeper than `MAX_DEPTH`, duplicate keys (YAML would silently keep the last) and keys that are not text (`1:`, `on:`).
Besides the data, every key and list item gets its `line:column`, so later errors can point at them.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from deploycheck.config.errors import ConfigError, KeyPath, dotted

MAX_FILE_BYTES = 1_000_000
MAX_SCALAR_CHARS = 65_536
MAX_NODES = 100_000
MAX_DEPTH = 50

Position = tuple[int, int]  # line, column; both from 1

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: faster, nesting capped at 1000


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    positions: Mapping[KeyPath, Position]  # of each key (for mapping entries) and item (for list entries)


def read_yaml(path: Path) -> YamlDocument:
    """The file's data and positions; a `ConfigError` (with line and column when known) if it cannot be used."""
    with path.open("rb") as file:
        raw = file.read(MAX_FILE_BYTES + 1)  # never more, however large the file is
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(
            path, "", f"the file is larger than {MAX_FILE_BYTES:,} bytes, the limit for an environment file"
        )
    text = _decode(path, raw)
    try:
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        context = f" ({error.context})" if error.problem and error.context else ""
        reason = f"invalid YAML: {error.problem or error.context}{context}"
        raise ConfigError(path, "", reason, *(_position(mark) if mark else (None, None))) from None
    except yaml.YAMLError as error:
        raise ConfigError(path, "", f"invalid YAML: {str(error).splitlines()[0]}") from None
    except RecursionError:
        raise ConfigError(path, "", f"invalid YAML: nested more than {MAX_DEPTH} levels deep") from None
    builder = _Builder(path)
    try:
        data = builder.value(root, ()) if root is not None else None
    except RecursionError:
        raise ConfigError(path, "", f"invalid YAML: nested more than {MAX_DEPTH} levels deep") from None
    if builder.problems:
        raise ConfigError.several(builder.problems)
    return YamlDocument(data, builder.positions)


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig" if raw.startswith(codecs.BOM_UTF8) else "utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        reason = f"not UTF-8 text (byte 0x{raw[error.start]:02x} cannot be decoded): save the file as UTF-8"
        raise ConfigError(path, "", reason, line, column) from None


def _position(mark: Any) -> Position:
    return (mark.line + 1, mark.column + 1)


class _Builder:
    """Turns composed YAML nodes into plain data, expanding aliases and merge keys against a budget of nodes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.positions: dict[KeyPath, Position] = {(): (1, 1)}
        self.problems: list[ConfigError] = []
        self.nodes = 0
        self.scalars = SafeConstructor()

    def fatal(self, node: Node, reason: str) -> ConfigError:
        return ConfigError(self.path, "", reason, *_position(node.start_mark))

    def value(self, node: Node, path: KeyPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fatal(node, f"the document expands to more than {MAX_NODES:,} values (aliases repeated?)")
        if len(path) > MAX_DEPTH:
            raise self.fatal(node, f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ScalarNode):
            if len(node.value) > MAX_SCALAR_CHARS:
                raise self.fatal(node, f"a value longer than {MAX_SCALAR_CHARS:,} characters")
            try:
                return self.scalars.construct_object(node)
            except (yaml.YAMLError, ValueError) as error:  # an unknown !tag, 2024-13-45, an int of 5,000 digits
                problem = getattr(error, "problem", None) or str(error).splitlines()[0]
                raise self.fatal(node, f"a value that cannot be read: {problem}") from None
        if isinstance(node, SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.positions[(*path, index)] = _position(item.start_mark)
                items.append(self.value(item, (*path, index)))
            return items
        if isinstance(node, MappingNode):
            return self.mapping(node, path)
        raise self.fatal(node, "unsupported YAML node")

    def mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        merged: dict[str, Any] = {}  # from `<<: *anchor`: explicit keys win over them
        explicit: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged = {**self.merge_sources(value_node, path), **merged}
                continue
            key = self.key(key_node, path)
            if key is None:
                continue
            if key in explicit:
                first = self.positions[(*path, key)]
                self.problems.append(
                    ConfigError(
                        self.path,
                        dotted((*path, key)),
                        f"duplicate key (first at line {first[0]}); YAML would silently keep the last: remove one",
                        *_position(key_node.start_mark),
                    )
                )
                continue
            self.positions[(*path, key)] = _position(key_node.start_mark)
            explicit[key] = self.value(value_node, (*path, key))
        return {**merged, **explicit}

    def merge_sources(self, node: Node, path: KeyPath) -> dict[str, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):  # the first mapping listed wins
            value = self.value(source, path)
            if not isinstance(value, dict):
                raise self.fatal(source, "`<<` merges only mappings")
            merged.update(value)
        return merged

    def key(self, node: Node, path: KeyPath) -> str | None:
        if isinstance(node, ScalarNode) and node.tag == _STR_TAG:
            if len(node.value) > MAX_SCALAR_CHARS:
                raise self.fatal(node, f"a key longer than {MAX_SCALAR_CHARS:,} characters")
            return str(node.value)
        if isinstance(node, ScalarNode):
            kind = node.tag.rsplit(":", 1)[-1]
            reason = f"keys must be text, but {node.value[:40]} is read as {kind}: quote it ('{node.value[:40]}':)"
        else:
            reason = "keys must be text, not a list or mapping"
        self.problems.append(ConfigError(self.path, dotted(path), reason, *_position(node.start_mark)))
        return None
