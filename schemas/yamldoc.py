"""YAML documents with line numbers, so that configuration errors can point at the line."""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from schemas.errors import ConfigError

#: A path of keys/indices inside the document -> 1-based line number.
Locations = Mapping[tuple[str | int, ...], int]


def _plain(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: dict[tuple[str | int, ...], int],
    constructor: yaml.constructor.SafeConstructor,
) -> object:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[object, object] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            result[key] = _plain(value_node, (*path, str(key)), lines, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, (*path, i), lines, constructor) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)


def parse_yaml_with_lines(text: str, *, source: str) -> tuple[object, Locations]:
    """Parse YAML safely into plain data plus the line of every key path.

    Raises `ConfigError` naming the file and line for invalid YAML or an empty document.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError(f"{where}: not valid YAML: {exc}") from exc
    if node is None:
        raise ConfigError(f"{source}: the file is empty")
    lines: dict[tuple[str | int, ...], int] = {}
    data = _plain(node, (), lines, yaml.constructor.SafeConstructor())
    return data, lines
