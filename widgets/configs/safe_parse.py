"""Untrusted config text into a mapping, safely: nothing in it is ever evaluated or executed.

YAML (and JSON, which YAML reads) goes through the safe loader; a Python dict literal through
`ast.literal_eval`. The text is capped before parsing (length, bracket nesting) and the result
after (depth, number of entries, aliases walked), so a small text cannot cost much. Every
refusal is a ConfigError whose message is written for the learner.
"""
from __future__ import annotations

import ast
import json
from typing import Any

import yaml

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the same safe loader, in C when built
MAX_CHARS = 20_000  # also the widget's text limit
MAX_DEPTH = 8  # nesting of mappings/lists in the parsed config
MAX_ENTRIES = 400  # keys and list items visited in total
MAX_BRACKETS = 32  # bracket nesting seen in the raw text, checked before parsing


class ConfigError(ValueError):
    """Text that cannot be read as a config: the message says why, for the learner."""


def parse_text(text: str) -> tuple[dict, str]:
    """(mapping, format) or ConfigError. YAML or JSON, or a Python dict literal starting with '{'."""
    if len(text) > MAX_CHARS:
        raise ConfigError(f"The config is {len(text):,} characters long; at most {MAX_CHARS:,} are read.")
    if not text.strip():
        raise ConfigError("The config is empty: paste a YAML mapping or a Python dict.")
    if _bracket_depth(text) > MAX_BRACKETS:
        raise ConfigError(f"The config nests brackets more than {MAX_BRACKETS} deep; a training config "
                          "never needs that.")
    body = text.strip()
    if body.startswith("{") and not _looks_like_json(body):
        fmt = "Python dict"
        try:
            parsed = ast.literal_eval(body)  # literals only: no names, calls or attribute access
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as error:
            raise ConfigError(_literal_message(error)) from None
    else:
        fmt = "YAML"
        try:
            parsed = yaml.load(body, Loader=_SAFE_LOADER)  # safe_load's loader: no !!python tags
        except yaml.YAMLError as error:
            raise ConfigError(_yaml_message(error)) from None
        except (RecursionError, MemoryError, ValueError, OverflowError) as error:
            raise ConfigError(f"The YAML could not be read safely ({type(error).__name__}).") from None
    if not isinstance(parsed, dict):
        raise ConfigError(f"The config must be a mapping of knob names to values (key: value), "
                          f"but this text is a {type(parsed).__name__}.")
    _check_size(parsed)
    return parsed, fmt


def _bracket_depth(text: str) -> int:
    """Deepest nesting of brackets in the raw text (quoted strings skipped)."""
    depth = deepest = 0
    quote = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]})":
            depth = max(0, depth - 1)
    return deepest


def _looks_like_json(body: str) -> bool:
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True


def _literal_message(error: Exception) -> str:
    if isinstance(error, SyntaxError):
        where = f" (line {error.lineno}, column {error.offset})" if error.lineno else ""
        return f"The Python dict does not parse{where}: {error.msg}."
    if isinstance(error, ValueError) and "malformed" in str(error):
        return ("The Python dict may only hold literals (numbers, strings, lists, tuples, dicts, "
                "True/False/None); names, calls and expressions such as __import__(...) are not evaluated.")
    return f"The Python dict could not be read ({type(error).__name__}: {error})."


def _yaml_message(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if "python/" in str(error) or "could not determine a constructor" in str(error):
        return (f"The YAML uses a tag that could run code{where} (for example !!python/object); "
                "only plain YAML values are read.")
    return f"The text is not valid YAML{where}: {problem}."


def _check_size(parsed: dict) -> None:
    """Walk the parsed config with a budget: caps depth and entries, and stops YAML alias bombs."""
    budget = [MAX_ENTRIES]

    def walk(node: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ConfigError(f"The config nests more than {MAX_DEPTH} levels deep; a training config "
                              "never needs that.")
        if isinstance(node, dict):
            items = list(node.values())
        elif isinstance(node, (list, tuple)):
            items = list(node)
        else:
            return
        budget[0] -= len(items)
        if budget[0] < 0:
            raise ConfigError(f"The config has more than {MAX_ENTRIES} entries; paste only the "
                              "training section.")
        for item in items:
            walk(item, depth + 1)

    walk(parsed, 1)
