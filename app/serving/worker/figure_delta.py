"""What a growing figure sends: only the points added since the last report.

A partial figure is diffed against the last one sent, trace by trace. A trace that keeps its
settings and whose arrays only grew at the end sends its new tails (the browser appends them
with Plotly.extendTraces); a trace rewritten in place (a summary whose few points move as
the runs go on) is sent whole; a changed layout is sent whole. Only when traces are added or
removed does the whole figure go. So a stream's bytes grow with its points, not their square.

    delta = diff(last_sent, figure)   # None when nothing changed
    apply(last_sent, delta) == figure # what the browser does, and the tests check
"""
from __future__ import annotations

import copy
import math
from typing import Any

Path = tuple[str, ...]


def _arrays(trace: dict, prefix: Path = ()) -> dict[Path, list]:
    """Every list-valued attribute of a trace, by its dotted path (x, y, marker.color ...)."""
    found: dict[Path, list] = {}
    for key, value in trace.items():
        if isinstance(value, list):
            found[prefix + (key,)] = value
        elif isinstance(value, dict):
            found.update(_arrays(value, prefix + (key,)))
    return found


def _without_arrays(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_arrays(v) for k, v in value.items() if not isinstance(v, list)}
    return value


def _equal(a: Any, b: Any) -> bool:
    """==, except that NaN equals NaN (diverged runs are full of them)."""
    if a == b:
        return True
    if isinstance(a, float) and isinstance(b, float):
        return math.isnan(a) and math.isnan(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return False


def _trace_tails(old: dict, new: dict) -> dict[str, list] | None:
    """{"x": [new x], "marker.color": [...]} when `new` only extends `old`'s arrays; else None."""
    if not _equal(_without_arrays(old), _without_arrays(new)):
        return None
    old_arrays, new_arrays = _arrays(old), _arrays(new)
    if old_arrays.keys() != new_arrays.keys():
        return None
    tails: dict[str, list] = {}
    lengths = set()
    for path, values in new_arrays.items():
        before = old_arrays[path]
        if len(values) < len(before) or not _equal(values[:len(before)], before):
            return None
        lengths.add(len(values) - len(before))
        if len(values) > len(before):
            tails[".".join(path)] = values[len(before):]
    if len(lengths) > 1:  # extendTraces grows every array of a trace by the same count
        return None
    return tails


def diff(old: dict | None, new: dict) -> dict | None:
    """The smallest update turning `old` into `new` (see the module docstring)."""
    if old is None or len(old.get("data", [])) != len(new.get("data", [])):
        return {"figure": new}
    extend, replace = [], []
    for index, (before, after) in enumerate(zip(old["data"], new["data"])):
        tails = _trace_tails(before, after)
        if tails is None:
            replace.append({"trace": index, "data": after})
        elif tails:
            extend.append({"trace": index, "data": tails})
    delta: dict = {}
    if extend:
        delta["extend"] = extend
    if replace:
        delta["replace"] = replace
    if not _equal(old.get("layout"), new.get("layout")):
        delta["layout"] = new.get("layout", {})
    return delta or None


def apply(figure: dict | None, delta: dict) -> dict:
    """`figure` with `delta` applied, as the browser does it."""
    if "figure" in delta:
        return copy.deepcopy(delta["figure"])
    out = copy.deepcopy(figure)
    for change in delta.get("replace", []):
        out["data"][change["trace"]] = copy.deepcopy(change["data"])
    for change in delta.get("extend", []):
        trace = out["data"][change["trace"]]
        for dotted, tail in change["data"].items():
            *parents, leaf = dotted.split(".")
            holder = trace
            for part in parents:
                holder = holder[part]
            holder[leaf] = holder[leaf] + list(tail)
    if "layout" in delta:
        out["layout"] = copy.deepcopy(delta["layout"])
    return out
