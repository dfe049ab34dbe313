"""A bounded, safe YAML reader for spec files.

PyYAML's ``SafeLoader`` with four changes: duplicate mapping keys are refused (a later
value silently overwriting an earlier one is a classic spec typo); merge keys
(``<<: *base``) are accepted and may be overridden by the mapping's own keys; YAML 1.2
floats such as ``1e9`` are numbers, not strings; and the document's size *after alias
expansion* is capped, so an alias bomb ("billion laughs": a few hundred bytes that
expand to 10^9 nodes) is refused while parsing instead of exhausting memory when the
value is later walked or printed. The top-level keys' line numbers are returned for
error messages.

Example:
    >>> load_yaml("base: &b {x: 1}\\nkey: 2\\n")[1]
    {'base': 1, 'key': 2}
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from lepton_codesign.hw_models.schema import SpecError, short

# A spec file is a flat mapping of ~30 keys; these caps are far above any real spec and
# far below what makes parsing slow (the caps are this project's choice [A]).
MAX_SPEC_BYTES = 1 << 20  # 1 MiB
MAX_EXPANDED_NODES = 10_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """Safe loader that rejects duplicate keys and records top-level key lines."""

    def __init__(self, text: str):
        super().__init__(text)
        self.root = None
        self.key_lines: dict[Any, int] = {}


def _construct_mapping(loader: _Loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue  # merged keys may be overridden by the mapping's own keys
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str | int | float | bool | None):  # e.g. a list key
            raise SpecError(f"key {short(key)}: not a plain key (line {line}); "
                            "allowed: a field name")
        if key in seen:
            raise SpecError(f"key {key!r}: duplicate (line {line}); "
                            "allowed: each key at most once")
        seen.add(key)
    loader.flatten_mapping(node)  # resolves ``<<`` (own keys win)
    if node is loader.root:
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool | None):
                loader.key_lines.setdefault(key, key_node.start_mark.line + 1)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


# YAML 1.1 (PyYAML) reads "1e9" or "200.0e6" as strings; accept YAML 1.2 floats.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)$"),
    list("-+0123456789"),
)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _expanded_nodes(root) -> int:
    """Nodes of the document with every alias expanded (shared nodes counted each
    time), stopping as soon as the count passes ``MAX_EXPANDED_NODES``."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def count(node) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            raise SpecError(f"recursive alias (line {node.start_mark.line + 1}); "
                            "allowed: a flat mapping of keys to values")
        active.add(key)
        n = 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [x for pair in node.value for x in pair]
        else:
            children = []
        for child in children:
            n += count(child)
            if n > MAX_EXPANDED_NODES:
                break
        active.discard(key)
        memo[key] = n
        return n

    return count(root)


def load_yaml(text: str) -> tuple[Any, dict[Any, int]]:
    """Parse a YAML spec safely.

    Returns:
        ``(data, key_lines)``: the document and the 1-based line of each top-level key.

    Raises:
        SpecError: duplicate or non-scalar keys, a recursive alias, or a document that
            expands to more than ``MAX_EXPANDED_NODES`` nodes.
        yaml.YAMLError: malformed YAML.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        if _expanded_nodes(node) > MAX_EXPANDED_NODES:
            raise SpecError(f"the document expands to more than {MAX_EXPANDED_NODES} values "
                            "through aliases (a YAML alias bomb?); allowed: a flat mapping "
                            "of keys to values")
        loader.root = node
        return loader.construct_document(node), loader.key_lines
    except RecursionError:
        raise SpecError("nested too deeply; allowed: a flat mapping of keys to values") from None
    finally:
        loader.dispose()
