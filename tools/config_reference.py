#!/usr/bin/env python3
"""Write docs/configuration.md from the config schema's descriptions.

python tools/config_reference.py           # rewrite docs/configuration.md
python tools/config_reference.py --check   # exit 1 if out of date or a key lacks a description

Every key of workflow/schemas/config.schema.yaml carries a ``description``; this page
lists them section by section with their type, allowed values and default, so the
reference and the checks the workflow makes at start are one source.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
PAGE = REPO / "docs" / "configuration.md"

# Settings blocks used in several places: listed once, at the end, and linked.
SHARED = {
    "training": "Training settings (a model's or a stage's `training`)",
    "plans_overrides": "Network overrides (`plans_overrides`)",
    "linear_registration": "Linear registration levels (`preprocess.rigid`, `registration.affine`)",
    "classic_method": "A classic method (`classic.methods.<name>`)",
}

HEADER = """# Configuration reference

*Part of the [wmhmap documentation](../README.md#documentation).*

Every key of `config/config.yaml`, generated from the descriptions in
[`workflow/schemas/config.schema.yaml`](../workflow/schemas/config.schema.yaml) by
`python tools/config_reference.py` (a test keeps the two in step). The workflow checks
the config against the same schema at start and fills in the defaults below; a second
`--configfile` is merged into `config/config.yaml` key by key. *unset* keys take
their value from elsewhere (a model's `training` from `nnunet`, a stage's from its
model's).
"""


def resolve(node: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A schema node with its ``$ref`` (to ``#/definitions/...``) merged in."""
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref:
        target = schema["definitions"][ref.split("/")[-1]]
        node = {**resolve(target, schema), **node}
    return node


def kind(node: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    types = node.get("type", "")
    names = types if isinstance(types, list) else [types]
    words = []
    for name in names:
        if name == "array":
            item = resolve(node.get("items", {}), schema)
            words.append(f"list of {kind(item, schema) or 'values'}")
        elif name == "null":
            words.append("null")
        elif name:
            words.append(str(name))
    return " or ".join(words)


def allowed(node: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    if "enum" in node:
        return ", ".join(f"`{v}`" for v in node["enum"])
    if node.get("type") == "array" and "items" in node:
        inner = allowed(resolve(node["items"], schema), schema)
        return f"each {inner}" if inner else ""
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum")
    low_op = ">" if "exclusiveMinimum" in node else "≥"
    if low is not None and high is not None:
        return f"{low}{' (excl.)' if low_op == '>' else ''} to {high}"
    if low is not None:
        return f"{low_op} {low}"
    if high is not None:
        return f"≤ {high}"
    if "pattern" in node:
        return f"matches `{node['pattern']}`"
    return ""


def default_text(value: Any) -> str:
    if value is None:
        return "`null`"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def shared_block(node: Mapping[str, Any]) -> str | None:
    ref = str(node.get("$ref", ""))
    name = ref.split("/")[-1]
    return name if name in SHARED else None


def anchor(name: str) -> str:
    """The page anchor of a shared block's section."""
    title = SHARED[name].lower()
    return "#" + "".join(c for c in title if c.isalnum() or c in " -_").replace(" ", "-")


def rows(
    name: str,
    node: Mapping[str, Any],
    schema: Mapping[str, Any],
    default: Any = None,
    has_default: bool = False,
    required: bool = False,
    expand: bool = False,
) -> Iterator[tuple[str, str, str, str, str]]:
    """(key, type, allowed, default, description) of every leaf under ``name``; shared
    blocks are one row linking to their section unless ``expand``."""
    block = None if expand else shared_block(node)
    if block:
        text = description(resolve(node, schema))
        type_ = f"[{SHARED[block].split(' (')[0].lower()}]({anchor(block)})"
        yield (name, type_, "", default_text(default) if has_default else "unset", text)
        return
    node = resolve(node, schema)
    props = node.get("properties")
    if props:
        given = default if isinstance(default, dict) else {}
        needed = set(node.get("required", []))
        for key, child in props.items():
            resolved = resolve(child, schema)
            known = key in given or "default" in resolved
            value = given[key] if key in given else resolved.get("default")
            yield from rows(f"{name}.{key}", child, schema, value, known, key in needed)
        return
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and shared_block(extra):
        block = shared_block(extra)
        assert block is not None
        type_ = f"mapping of [{SHARED[block].split(' (')[0].lower()}]({anchor(block)})"
        yield (name, type_, "", default_text(default) if has_default else "", description(node))
        return
    fallback = "required" if required else "unset"
    yield (
        name,
        kind(node, schema) or "mapping",
        allowed(node, schema),
        default_text(default) if has_default else fallback,
        description(node),
    )


def description(node: Mapping[str, Any]) -> str:
    return str(node.get("description", "")).replace("|", "\\|")


def missing_descriptions(schema: Mapping[str, Any]) -> list[str]:
    """Keys of the schema (sections, their keys, definitions' keys) without a description."""
    missing = []

    def walk(prefix: str, node: Mapping[str, Any]) -> None:
        for key, child in node.get("properties", {}).items():
            path = f"{prefix}{key}"
            if "description" not in child and "description" not in resolve(child, schema):
                missing.append(path)
            walk(f"{path}.", child)

    walk("", schema)
    for name, definition in schema.get("definitions", {}).items():
        walk(f"definitions.{name}.", definition)
    return missing


def render(schema: Mapping[str, Any]) -> str:
    parts = [HEADER]
    for section, node in schema["properties"].items():
        resolved = resolve(node, schema)
        parts.append(f"## `{section}`\n")
        if resolved.get("description"):
            parts.append(f"{resolved['description']}\n")
        table = list(rows(section, node, schema, resolved.get("default"), "default" in resolved))
        if len(table) == 1 and table[0][0] == section:
            key, type_, allowed_, default, _ = table[0]
            facts = [f"type: {type_}"] + ([f"allowed: {allowed_}"] if allowed_ else [])
            parts.append(f"{'; '.join(facts)}; default: {default}\n")
            continue
        parts.append("| key | type | allowed | default | description |\n|---|---|---|---|---|")
        for key, type_, allowed_, default, text in table:
            parts.append(f"| `{key}` | {type_} | {allowed_} | {default} | {text} |")
        parts.append("")
    for block, title in SHARED.items():
        parts.append(f"## {title}\n")
        node = schema["definitions"][block]
        if node.get("description"):
            parts.append(f"{node['description']}\n")
        parts.append("| key | type | allowed | default | description |\n|---|---|---|---|---|")
        for key, type_, allowed_, default, text in rows("", node, schema, expand=True):
            parts.append(f"| `{key.lstrip('.')}` | {type_} | {allowed_} | {default} | {text} |")
        parts.append("")
    return "\n".join(parts).rstrip("\n") + "\n"


def main() -> int:
    schema = yaml.safe_load(SCHEMA.read_text())
    missing = missing_descriptions(schema)
    if missing:
        print("keys without a description in the schema: " + ", ".join(missing))
        return 1
    page = render(schema)
    if "--check" in sys.argv:
        if not PAGE.is_file() or PAGE.read_text() != page:
            print("docs/configuration.md is out of date: run python tools/config_reference.py")
            return 1
        return 0
    PAGE.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
