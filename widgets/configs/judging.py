"""How a knob's value is judged: three kinds of table, and plain functions for the rest.

A verdict is (level, comment), the level one of LEVELS. Most knobs are judged from a table:

  Numeric  a number in a valid range, then the first Rule that fires (lr > 3e-3: risky, ...);
           a rule may compare the value with another knob's (the floor LR as a share of the peak)
  Switch   a true/false knob whose one setting is a flag (zero_grad: false)
  Names    a name matched by the words it contains (a schedule, a precision)

and a knob whose verdict needs more (the warmup, read as steps or as a share of the run) has
a function (value, context) -> verdict. The context holds every knob's number in the config.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable, Union

LEVELS = ("ok", "note", "unusual", "risky")
FLAGGED = ("unusual", "risky")
OK = ("ok", "")

Verdict = tuple[str, str]  # (level, comment)
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "==": operator.eq}


@dataclass(frozen=True)
class Rule:
    """`level` when `value <op> bound`. The message is formatted with v (the value), and with ref
    (the other knob's number) and r (value / ref) for a rule `relative_to` another knob, which is
    skipped while that knob is unset or zero."""

    op: str
    bound: float
    level: str
    message: str
    relative_to: str | None = None

    def verdict(self, v: float, ctx: dict) -> Verdict | None:
        ref = ctx.get(self.relative_to) if self.relative_to else None
        if self.relative_to and not ref:
            return None
        x = v / ref if ref else v
        if not _OPS[self.op](x, self.bound):
            return None
        return self.level, self.message.format(v=v, ref=ref, r=x)


@dataclass(frozen=True)
class Numeric:
    """A number from `low` to `high` (open ends where said; whole if `integer`), else risky with
    `invalid`; then the first rule that fires, else ok. `off`: the verdict for None, false or 0,
    checked first (a clipping threshold of 0 means no clipping, not a bad number)."""

    invalid: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = True
    integer: bool = False
    rules: tuple[Rule, ...] = ()
    off: Verdict | None = None

    def __call__(self, value: Any, ctx: dict) -> Verdict:
        n = number(value)
        if self.off is not None and (value is None or value is False or n == 0):
            return self.off
        if n is None or not self._valid(n):
            return "risky", self.invalid
        for rule in self.rules:
            found = rule.verdict(n, ctx)
            if found is not None:
                return found
        return OK

    def _valid(self, n: float) -> bool:
        above = n > self.low if self.low_open else n >= self.low
        below = n < self.high if self.high_open else n <= self.high
        return above and below and (not self.integer or n == int(n))


@dataclass(frozen=True)
class Switch:
    """A true/false knob: `level` with `message` when it reads as `flagged` (unclear text is ok)."""

    flagged: bool
    level: str
    message: str

    def __call__(self, value: Any, ctx: dict) -> Verdict:
        return (self.level, self.message) if truthy(value) is self.flagged else OK


@dataclass(frozen=True)
class Names:
    """A name, lower-cased: the first row whose words it contains (or which it equals exactly)
    gives the verdict; `otherwise` when none does."""

    rows: tuple[tuple[tuple[str, ...], tuple[str, ...], Verdict], ...]  # (contains any, or equals, verdict)
    otherwise: Verdict

    def __call__(self, value: Any, ctx: dict) -> Verdict:
        name = str(value).lower()
        for words, exact, verdict in self.rows:
            if any(w in name for w in words) or name in exact:
                return verdict
        return self.otherwise


Judge = Union[Numeric, Switch, Names, Callable[[Any, dict], Verdict]]


def number(value: Any) -> float | None:
    """A finite number from a number or a numeric string ('3e-4', '1_000'); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            n = float(value.strip().replace("_", ""))
        except ValueError:
            return None
        return n if math.isfinite(n) else None
    return None


def truthy(value: Any) -> bool | None:
    """True/False as a config writes it (yes, on, 1, none...); None when the text says neither."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, (int, float)):
        return value != 0
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1", "all"):
        return True
    if text in ("false", "no", "off", "0", "none", "null", ""):
        return False
    return None
