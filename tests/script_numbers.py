"""Reading the numbers a widget's script or notebook prints (widgets/script.py: one `label = value`
line per number the chart shows) and comparing them with compute's data."""
from __future__ import annotations

import math


def printed_numbers(text: str, labels) -> dict[str, str]:
    """label -> the text printed after 'label = ' (each label on its own line, once)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        for label in labels:
            if line.startswith(f"{label} = "):
                assert label not in found, f"{label!r} printed twice"
                found[label] = line[len(label) + 3:].strip()
    return found


def agree(expected, printed: str, tolerance: float) -> bool:
    """Does the printed text show the expected value (a number within `tolerance`, relative)?"""
    if expected is None or isinstance(expected, (bool, str)):
        return printed == str(expected)
    value = float(printed)
    if math.isnan(expected):
        return math.isnan(value)
    return value == expected if tolerance == 0 else math.isclose(value, expected, rel_tol=tolerance,
                                                                    abs_tol=tolerance * 1e-3)
